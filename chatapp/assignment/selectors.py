"""Reads for presence and assignment: effective presence, the settings in force, agent loads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F
from django.utils import timezone

from chatapp.accounts.models import User
from chatapp.assignment.models import AgentPresence, AssignmentSettings
from chatapp.conversations.models import Conversation


@dataclass(frozen=True)
class AssignmentPolicy:
    auto_assign: bool
    default_capacity: int


@dataclass(frozen=True)
class PresenceView:
    """An agent's presence as the API and the console show it."""

    user_id: int
    username: str
    status: str  # what the agent chose
    effective_status: str  # offline too when heartbeats stopped
    last_seen: datetime | None
    capacity: int
    load: int  # conversations assigned to them now

    def as_dict(self) -> dict[str, object]:
        return {
            "agent": {"id": self.user_id, "username": self.username},
            "status": self.status,
            "effective_status": self.effective_status,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "capacity": self.capacity,
            "load": self.load,
            # How often the console should send heartbeats to stay online.
            "heartbeat_s": settings.CHATAPP_PRESENCE_HEARTBEAT_S,
        }


def assignment_policy() -> AssignmentPolicy:
    """The settings in force: the admins' row when there is one, else the environment's."""
    row = AssignmentSettings.objects.filter(pk=1).first()
    if row is not None:
        return AssignmentPolicy(auto_assign=row.auto_assign, default_capacity=row.default_capacity)
    return AssignmentPolicy(
        auto_assign=settings.CHATAPP_AUTO_ASSIGN,
        default_capacity=settings.CHATAPP_ASSIGN_DEFAULT_CAPACITY,
    )


def presence_cutoff(now: datetime | None = None) -> datetime:
    """Heartbeats older than this mean offline."""
    return (now or timezone.now()) - timedelta(seconds=settings.CHATAPP_PRESENCE_TIMEOUT_S)


def presence_effective(presence: AgentPresence | None, *, now: datetime | None = None) -> str:
    """Online / away / offline: the chosen status while heartbeats arrive, else offline."""
    if presence is None or presence.last_seen < presence_cutoff(now):
        return AgentPresence.Status.OFFLINE
    return presence.status


def agent_loads(user_ids: list[int]) -> dict[int, int]:
    """Conversations assigned now to each of ``user_ids`` (one query; absent means 0)."""
    rows = (
        Conversation.objects.filter(status=Conversation.Status.ASSIGNED, assignee_id__in=user_ids)
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["assignee_id"]: row["n"] for row in rows}


def presence_view(user: User, *, policy: AssignmentPolicy | None = None) -> PresenceView:
    """``user``'s presence, capacity in force and load (three queries)."""
    policy = policy or assignment_policy()
    presence = AgentPresence.objects.filter(user=user).first()
    return PresenceView(
        user_id=user.pk,
        username=user.username,
        status=presence.status if presence else AgentPresence.Status.OFFLINE,
        effective_status=presence_effective(presence),
        last_seen=presence.last_seen if presence else None,
        capacity=_capacity(presence, policy),
        load=agent_loads([user.pk]).get(user.pk, 0),
    )


def _capacity(presence: AgentPresence | None, policy: AssignmentPolicy) -> int:
    if presence is not None and presence.capacity is not None:
        return presence.capacity
    return policy.default_capacity


def presence_list() -> list[PresenceView]:
    """Every staff member with a presence row, online first, then by name (three queries)."""
    policy = assignment_policy()
    rows = list(
        AgentPresence.objects.select_related("user")
        .filter(user__role__in=(User.Role.AGENT, User.Role.ADMIN), user__is_active=True)
        .order_by("user__username")
    )
    loads = agent_loads([r.user_id for r in rows])
    now = timezone.now()
    views = [
        PresenceView(
            user_id=r.user_id,
            username=r.user.username,
            status=r.status,
            effective_status=presence_effective(r, now=now),
            last_seen=r.last_seen,
            capacity=_capacity(r, policy),
            load=loads.get(r.user_id, 0),
        )
        for r in rows
    ]
    order = {"online": 0, "away": 1, "offline": 2}
    return sorted(views, key=lambda v: (order[v.effective_status], v.username))


def assignment_candidates(policy: AssignmentPolicy) -> list[tuple[AgentPresence, int]]:
    """Online agents with room, in round-robin order, with their free capacity (two queries).

    Round robin: the agent whose last auto-assignment is oldest (never first) comes first.
    """
    rows = list(
        AgentPresence.objects.filter(
            status=AgentPresence.Status.ONLINE,
            last_seen__gte=presence_cutoff(),
            user__role__in=(User.Role.AGENT, User.Role.ADMIN),
            user__is_active=True,
        )
        .select_related("user")
        .order_by(F("last_assigned_at").asc(nulls_first=True), "user_id")
    )
    loads = agent_loads([r.user_id for r in rows])
    out = []
    for row in rows:
        free = _capacity(row, policy) - loads.get(row.user_id, 0)
        if free > 0:
            out.append((row, free))
    return out


def offline_holders() -> list[int]:
    """Staff who are offline (chosen, or heartbeats stopped) and hold conversations (one query).

    Staff without a presence row (API-only, never opened the console) are left alone.
    """
    cutoff = presence_cutoff()
    stale = AgentPresence.objects.filter(last_seen__lt=cutoff) | AgentPresence.objects.filter(
        status=AgentPresence.Status.OFFLINE
    )
    return list(
        Conversation.objects.filter(
            status=Conversation.Status.ASSIGNED,
            assignee_id__in=stale.values("user_id"),
        )
        .values_list("assignee_id", flat=True)
        .distinct()
    )
