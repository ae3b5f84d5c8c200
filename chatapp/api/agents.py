"""REST API for agents: presence (heartbeat, online/away/offline), the team list, capacities."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from chatapp.accounts import permissions
from chatapp.accounts.models import User
from chatapp.api import schemas
from chatapp.api.http import api_view, parse_json
from chatapp.assignment import selectors, services
from chatapp.core.errors import ApplicationError


def _me(request: HttpRequest) -> User:
    user: User = request.staff  # type: ignore[attr-defined]  # set by api_view
    permissions.require(permissions.Action.PRESENCE_SET, user)
    return user


@api_view(("GET", "PUT"), auth="staff")
def presence_me(request: HttpRequest) -> JsonResponse:
    user = _me(request)
    if request.method == "PUT":
        body = parse_json(request, schemas.PresenceUpdate)
        services.presence_set(user=user, status=body.status)
    return JsonResponse(selectors.presence_view(user).as_dict())


@api_view(("POST",), auth="staff")
def heartbeat(request: HttpRequest) -> JsonResponse:
    user = _me(request)
    services.presence_heartbeat(user=user)
    return JsonResponse(selectors.presence_view(user).as_dict())


@api_view(("GET",), auth="staff")
def agent_list(request: HttpRequest) -> JsonResponse:
    permissions.require(permissions.Action.AGENTS_READ, request.staff)  # type: ignore[attr-defined]
    return JsonResponse({"results": [v.as_dict() for v in selectors.presence_list()]})


@api_view(("PUT",), auth="staff")
def agent_capacity(request: HttpRequest, agent_id: int) -> JsonResponse:
    by: User = request.staff  # type: ignore[attr-defined]
    permissions.require(permissions.Action.AGENT_CAPACITY_SET, by)
    body = parse_json(request, schemas.CapacityUpdate)
    agent = User.objects.filter(pk=agent_id).first()
    if agent is None or not agent.is_staff_member:
        raise ApplicationError("unknown_agent", "No such agent.", status=404)
    services.presence_capacity_set(user=agent, capacity=body.capacity, by=by)
    return JsonResponse(selectors.presence_view(agent).as_dict())
