"""REST operations on conversations: open, read, reply, assign, release, close, notes."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from chatapp.accounts.models import User
from chatapp.api import responses as out
from chatapp.api import schemas
from chatapp.api.security import ANYONE, STAFF, staff_of, staff_or_none, visitor_token
from chatapp.conversations import selectors as conv_selectors
from chatapp.conversations import services as conv_services
from chatapp.conversations.models import Conversation
from chatapp.core import ratelimit
from chatapp.core.client_ip import request_client_ip
from chatapp.core.errors import ApplicationError

router = Router(tags=["conversations"])
PATH = "/conversations/{conversation_id}"
ERR_TOKEN = "Send the conversation token."  # noqa: S105  (a message, not a secret)


@router.post(
    "/conversations",
    auth=ANYONE,
    url_name="conversations",
    response=out.answers({201: out.ConversationCreated}, 415),
    summary="Open a conversation (visitors need no credentials)",
)
def conversation_create(
    request: HttpRequest, body: schemas.ConversationCreate | None = None
) -> Status[Any]:
    body = body or schemas.ConversationCreate()
    ratelimit.rate_limit_hit(*ratelimit.conversation_create_limits(ip=request_client_ip(request)))
    conversation, token = conv_services.conversation_create(
        knowledge_base_ids=body.knowledge_base_ids, by=staff_or_none(request)
    )
    return Status(
        201,
        out.ConversationCreated(
            id=str(conversation.pk),
            token=token,
            websocket_url=f"/ws/conversations/{conversation.pk}/?token={token}",
        ),
    )


def _conversation_for(request: HttpRequest, conversation_id: str) -> Conversation:
    conversation = conv_selectors.conversation_get(conversation_id)
    if staff_or_none(request) is None and not conv_selectors.conversation_token_valid(
        conversation, visitor_token(request)
    ):
        raise ApplicationError("unauthenticated", ERR_TOKEN, status=401)
    return conversation


@router.get(
    PATH,
    auth=ANYONE,
    response=out.answers({200: out.ConversationOut}),
    summary="A conversation with its messages (its visitor's token, or staff)",
)
def conversation_detail(request: HttpRequest, conversation_id: str) -> out.ConversationOut:
    conversation = _conversation_for(request, conversation_id)
    return out.ConversationOut(
        id=str(conversation.pk),
        status=conversation.status,
        assignee=conv_selectors.agent_payload(conversation.assignee),
        messages=[
            conv_selectors.message_payload(m) for m in conv_selectors.message_list(conversation)
        ],
    )


@router.post(
    f"{PATH}/messages",
    auth=STAFF,
    response=out.answers({201: out.MessagePayload}, 409, 415),
    summary="An agent's reply (the conversation must be assigned to them)",
)
def conversation_message_create(
    request: HttpRequest, conversation_id: str, body: schemas.MessageCreate
) -> Status[Any]:
    staff = staff_of(request)
    ratelimit.rate_limit_hit(*ratelimit.staff_message_limits(user_id=staff.pk))
    message = conv_services.agent_message_create(
        conversation=conv_selectors.conversation_get(conversation_id),
        agent=staff,
        text=body.text.strip(),
    )
    return Status(201, conv_selectors.message_payload(message))


@router.post(
    f"{PATH}/assign",
    auth=STAFF,
    response=out.answers({200: out.ConversationSummary}, 409, 415),
    summary="Claim (no body) or transfer to another agent (agent_id)",
)
def conversation_assign(
    request: HttpRequest, conversation_id: str, body: schemas.AssignRequest | None = None
) -> out.ConversationSummary:
    by = staff_of(request)
    agent_id = body.agent_id if body is not None else None
    agent = by if agent_id is None else User.objects.filter(pk=agent_id).first()
    if agent is None:
        raise ApplicationError("unknown_agent", "No such agent.", status=404)
    conversation = conv_services.conversation_assign(
        conversation=conv_selectors.conversation_get(conversation_id), agent=agent, by=by
    )
    return conv_selectors.conversation_summary(conversation)


@router.post(
    f"{PATH}/release",
    auth=STAFF,
    response=out.answers({200: out.ConversationSummary}, 409),
    summary="Hand the conversation back to the bot",
)
def conversation_release(request: HttpRequest, conversation_id: str) -> out.ConversationSummary:
    conversation = conv_services.conversation_release_to_bot(
        conversation=conv_selectors.conversation_get(conversation_id), by=staff_of(request)
    )
    return conv_selectors.conversation_summary(conversation)


@router.post(
    f"{PATH}/close",
    auth=STAFF,
    response=out.answers({200: out.ConversationSummary}, 409),
    summary="Close the conversation",
)
def conversation_close(request: HttpRequest, conversation_id: str) -> out.ConversationSummary:
    conversation = conv_services.conversation_close(
        conversation=conv_selectors.conversation_get(conversation_id), by=staff_of(request)
    )
    return conv_selectors.conversation_summary(conversation)


@router.post(
    f"{PATH}/notes",
    auth=STAFF,
    response=out.answers({201: out.NoteOut}, 415),
    summary="An internal note (staff see it; the visitor never does)",
)
def conversation_note_create(
    request: HttpRequest, conversation_id: str, body: schemas.NoteCreate
) -> Status[Any]:
    staff = staff_of(request)
    ratelimit.rate_limit_hit(*ratelimit.staff_message_limits(user_id=staff.pk))
    note = conv_services.note_create(
        conversation=conv_selectors.conversation_get(conversation_id),
        author=staff,
        text=body.text.strip(),
    )
    author = note.author.username if note.author else None
    return Status(
        201, out.NoteOut(id=note.pk, text=note.text, author=author, created_at=note.created_at)
    )
