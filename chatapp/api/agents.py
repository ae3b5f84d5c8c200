"""REST operations for agents: presence (heartbeat, online/away/offline), the team, capacities."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from chatapp.accounts import permissions
from chatapp.accounts.models import User
from chatapp.api import responses as out
from chatapp.api import schemas
from chatapp.api.security import STAFF, staff_of
from chatapp.assignment import selectors, services
from chatapp.core.errors import ApplicationError

router = Router(tags=["agents"])
PRESENCE = "/agents/me/presence"


def _me(request: HttpRequest) -> User:
    user = staff_of(request)
    permissions.require(permissions.Action.PRESENCE_SET, user)
    return user


@router.get(
    PRESENCE, auth=STAFF, response=out.answers({200: out.PresenceOut}), summary="My presence"
)
def presence_get(request: HttpRequest) -> Any:
    return selectors.presence_view(_me(request)).as_dict()


@router.put(
    PRESENCE,
    auth=STAFF,
    response=out.answers({200: out.PresenceOut}, 415),
    summary="Go online, away or offline",
)
def presence_set(request: HttpRequest, body: schemas.PresenceUpdate) -> Any:
    user = _me(request)
    services.presence_set(user=user, status=body.status)
    return selectors.presence_view(user).as_dict()


@router.post(
    "/agents/me/heartbeat",
    auth=STAFF,
    response=out.answers({200: out.PresenceOut}),
    summary="I am still here (the console sends one every heartbeat_s)",
)
def heartbeat(request: HttpRequest) -> Any:
    user = _me(request)
    services.presence_heartbeat(user=user)
    return selectors.presence_view(user).as_dict()


@router.get(
    "/agents",
    auth=STAFF,
    response=out.answers({200: out.PresenceList}),
    summary="The team: each agent's presence, capacity and load",
)
def agent_list(request: HttpRequest) -> Any:
    permissions.require(permissions.Action.AGENTS_READ, staff_of(request))
    return {"results": [v.as_dict() for v in selectors.presence_list()]}


@router.put(
    "/agents/{int:agent_id}/capacity",
    auth=STAFF,
    response=out.answers({200: out.PresenceOut}, 415),
    summary="Set an agent's capacity (admins); null returns to the default",
)
def agent_capacity(request: HttpRequest, agent_id: int, body: schemas.CapacityUpdate) -> Any:
    by = staff_of(request)
    permissions.require(permissions.Action.AGENT_CAPACITY_SET, by)
    agent = User.objects.filter(pk=agent_id).first()
    if agent is None or not agent.is_staff_member:
        raise ApplicationError("unknown_agent", "No such agent.", status=404)
    services.presence_capacity_set(user=agent, capacity=body.capacity, by=by)
    return selectors.presence_view(agent).as_dict()
