"""REST operations of the agents' copilot: ask for a suggested reply, read the latest one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from chatapp.accounts import permissions
from chatapp.api import responses as out
from chatapp.api import schemas
from chatapp.api.security import STAFF, staff_of
from chatapp.assistant import selectors as assistant_selectors
from chatapp.assistant import services as assistant_services
from chatapp.conversations import selectors as conv_selectors
from chatapp.core import ratelimit

router = Router(tags=["copilot"])
PATH = "/conversations/{conversation_id}/copilot"


@router.get(
    PATH,
    auth=STAFF,
    response=out.answers({200: out.CopilotLatest}),
    summary="The latest suggested reply (the agent holding the conversation, or an admin)",
)
def copilot_latest(request: HttpRequest, conversation_id: str) -> Any:
    conversation = conv_selectors.conversation_get(conversation_id)
    permissions.require(
        permissions.Action.COPILOT_SUGGEST, staff_of(request), holder_id=conversation.assignee_id
    )
    return assistant_selectors.copilot_latest(conversation)


@router.post(
    PATH,
    auth=STAFF,
    response=out.answers({202: out.CopilotStarted}, 409, 415),
    summary="Draft a suggested reply to the visitor's latest messages (staff only)",
    description="The result arrives as `copilot.suggestion` on staff sockets, and here (GET).",
)
def copilot_request(
    request: HttpRequest, conversation_id: str, body: schemas.CopilotRequest | None = None
) -> Status[out.CopilotStarted]:
    staff = staff_of(request)
    # Each suggestion runs all three models: counted like a staff message.
    ratelimit.rate_limit_hit(*ratelimit.staff_message_limits(user_id=staff.pk))
    run = assistant_services.copilot_request(conversation_id=conversation_id, by=staff)
    return Status(202, out.CopilotStarted(turn_id=run.pk, status=run.status))
