"""REST operations of the visitor's ratings: thumbs on an answer, CSAT on a closed conversation."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from chatapp.accounts import permissions
from chatapp.api.responses import answers
from chatapp.api.security import ANYONE, staff_or_none
from chatapp.conversations import selectors as conv_selectors
from chatapp.conversations.models import Conversation
from chatapp.core import ratelimit
from chatapp.core.client_ip import request_client_ip
from chatapp.core.errors import ApplicationError
from chatapp.feedback import schemas, services

router = Router(tags=["feedback"])
ERR_TOKEN = "Send the conversation token."  # noqa: S105  (a message, not a secret)


def _visitor_conversation(request: HttpRequest, conversation_id: str) -> tuple[Conversation, str]:
    """The conversation and the visitor token that unlocks it; only its visitor rates it.

    Raises:
        NotFound: No such conversation.
        ApplicationError: ``unauthenticated`` (401) without this conversation's token.
        PermissionDenied: Staff (403): ratings are the visitor's word.
    """
    conversation = conv_selectors.conversation_get(conversation_id)
    staff = staff_or_none(request)
    token = request.headers.get("X-Conversation-Token") or request.GET.get("token") or ""
    visitor = conv_selectors.conversation_token_valid(conversation, token)
    if staff is None and not visitor:
        raise ApplicationError("unauthenticated", ERR_TOKEN, status=401)
    permissions.require(permissions.Action.FEEDBACK_CREATE, staff, visitor=visitor)
    return conversation, token


def _limit(request: HttpRequest, token: str) -> None:
    ratelimit.rate_limit_hit(*ratelimit.feedback_limits(token=token, ip=request_client_ip(request)))


@router.post(
    "/conversations/{conversation_id}/messages/{int:message_id}/feedback",
    auth=ANYONE,
    response=answers({201: schemas.AnswerFeedbackOut}, 415),
    summary="Thumbs up or down on a bot answer, with an optional comment (its visitor only)",
    description="400 `not_a_bot_answer` when the message is not one of the bot's answers.",
)
def answer_feedback_create(
    request: HttpRequest,
    conversation_id: str,
    message_id: int,
    body: schemas.AnswerFeedbackCreate,
) -> Status[schemas.AnswerFeedbackOut]:
    conversation, token = _visitor_conversation(request, conversation_id)
    _limit(request, token)
    feedback, replaced = services.answer_feedback_set(
        conversation=conversation, message_id=message_id, rating=body.rating, comment=body.comment
    )
    return Status(
        201,
        schemas.AnswerFeedbackOut(
            message_id=feedback.message_id,
            rating=feedback.rating,
            comment=feedback.comment,
            replaced=replaced,
        ),
    )


@router.post(
    "/conversations/{conversation_id}/csat",
    auth=ANYONE,
    response=answers({201: schemas.CsatOut}, 409, 415),
    summary="Rate a closed conversation 1-5, with an optional comment (its visitor only)",
)
def csat_create(
    request: HttpRequest, conversation_id: str, body: schemas.CsatCreate
) -> Status[schemas.CsatOut]:
    conversation, token = _visitor_conversation(request, conversation_id)
    _limit(request, token)
    rating, replaced = services.csat_set(
        conversation=conversation, score=body.score, comment=body.comment
    )
    return Status(
        201,
        schemas.CsatOut(
            conversation_id=str(rating.conversation_id),
            score=rating.score,
            comment=rating.comment,
            replaced=replaced,
        ),
    )
