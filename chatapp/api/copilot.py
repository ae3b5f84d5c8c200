"""REST API of the agents' copilot: ask for a suggested reply, read the latest one."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from chatapp.accounts import permissions
from chatapp.api import schemas
from chatapp.api.http import api_view, parse_json
from chatapp.assistant import selectors as assistant_selectors
from chatapp.assistant import services as assistant_services
from chatapp.conversations import selectors as conv_selectors
from chatapp.core import ratelimit


@api_view(("GET", "POST"), auth="staff")
def conversation_copilot(request: HttpRequest, conversation_id: str) -> JsonResponse:
    staff = request.staff  # type: ignore[attr-defined]  # set by api_view
    if request.method == "GET":
        conversation = conv_selectors.conversation_get(conversation_id)
        permissions.require(
            permissions.Action.COPILOT_SUGGEST, staff, holder_id=conversation.assignee_id
        )
        return JsonResponse(assistant_selectors.copilot_latest(conversation))
    parse_json(request, schemas.CopilotRequest)
    # Each suggestion runs all three models: counted like a staff message.
    ratelimit.rate_limit_hit(*ratelimit.staff_message_limits(user_id=staff.pk))
    run = assistant_services.copilot_request(conversation_id=conversation_id, by=staff)
    return JsonResponse({"turn_id": run.pk, "status": run.status}, status=202)
