"""Writes for presence and auto-assignment: heartbeats, the status toggle, capacity, the pass.

The assignment pass gives waiting conversations to online agents by round robin, up to each
agent's capacity, and first sends back to the queue the conversations of agents gone offline.
Passes run in the watchdog workers (a task sent when a conversation starts waiting, when an agent
comes online or frees capacity, and every ``CHATAPP_ASSIGN_SWEEP_S`` from celery beat); one
Postgres advisory lock makes them take turns, across every process, so a conversation is never
given twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from chatapp.accounts.models import User
from chatapp.assignment import selectors
from chatapp.assignment.models import AgentPresence, AssignmentSettings, AutoAssignment
from chatapp.conversations.models import Conversation
from chatapp.conversations.selectors import agent_payload
from chatapp.conversations.services import conversation_assign, system_message_create
from chatapp.core.errors import ApplicationError, PermissionDenied
from chatapp.realtime.broadcast import broadcast_on_commit
from chatapp.realtime.events import ConversationAssignedEvent
from chatapp.realtime.groups import conversation_group

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the assignment pass (any constant no other code uses).
ASSIGNMENT_LOCK_KEY = 0x61_73_73_69_67_6E  # "assign"
# Conversations one pass assigns at most: a pass holds the lock while it writes their messages.
PASS_MAX_ASSIGNMENTS = 200
ERR_NOT_STAFF = "Only agents and admins have a presence."
OFFLINE_NOTICE = "{agent} is no longer available; the next available agent will take over."


def _lock_pass() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ASSIGNMENT_LOCK_KEY])


def _require_staff(user: User) -> None:
    if not user.is_staff_member:
        raise PermissionDenied(ERR_NOT_STAFF)


def assignment_request_on_commit() -> None:
    """Ask for an assignment pass once the current transaction commits (when auto-assign is on).

    Called when a conversation starts waiting, when an agent comes online and when an agent's
    conversation is released or closed.
    """
    if not selectors.assignment_policy().auto_assign:
        return
    from chatapp.core.tasks import ASSIGN_WAITING, task_signature

    def send() -> None:
        try:
            task_signature(ASSIGN_WAITING).apply_async()
        except Exception:  # the periodic pass catches up; a write must not fail for this
            logger.exception("could not send the assignment pass")

    transaction.on_commit(send)


@transaction.atomic
def presence_heartbeat(*, user: User) -> AgentPresence:
    """Record that ``user``'s console is open (a heartbeat from its page).

    The first heartbeat makes the agent online. One that ends an offline spell (no heartbeat for
    ``CHATAPP_PRESENCE_TIMEOUT_S``) asks for an assignment pass.

    Raises:
        PermissionDenied: ``user`` is not staff.
    """
    _require_staff(user)
    now = timezone.now()
    # get_or_create: two first heartbeats at once (two tabs) make one row, not an error.
    presence, created = AgentPresence.objects.get_or_create(
        user=user, defaults={"status": AgentPresence.Status.ONLINE, "last_seen": now}
    )
    if created:
        assignment_request_on_commit()
        return presence
    presence = AgentPresence.objects.select_for_update().get(user=user)
    was = selectors.presence_effective(presence, now=now)
    presence.last_seen = now
    presence.save(update_fields=["last_seen", "updated_at"])
    if was != AgentPresence.Status.ONLINE and presence.status == AgentPresence.Status.ONLINE:
        assignment_request_on_commit()
    return presence


@transaction.atomic
def presence_set(*, user: User, status: str) -> AgentPresence:
    """The agent's toggle: online, away (keeps their conversations, gets no new ones) or offline.

    Going online asks for a pass (they may get waiting conversations); going offline asks for
    one too, which sends their conversations back to the queue and on to colleagues.

    Raises:
        PermissionDenied: ``user`` is not staff.
        ApplicationError: ``invalid_request`` for an unknown status.
    """
    _require_staff(user)
    if status not in AgentPresence.Status.values:
        raise ApplicationError(
            "invalid_request",
            "status must be online, away or offline.",
            fields=[{"field": "status", "message": "must be online, away or offline"}],
        )
    # Take turns with a running pass, so it never assigns from a presence read before this.
    _lock_pass()
    now = timezone.now()
    presence, _ = AgentPresence.objects.select_for_update().get_or_create(
        user=user, defaults={"status": status, "last_seen": now}
    )
    presence.status = status
    presence.last_seen = now
    presence.full_clean(validate_unique=False)
    presence.save(update_fields=["status", "last_seen", "updated_at"])
    if status != AgentPresence.Status.AWAY:
        assignment_request_on_commit()
    return presence


@transaction.atomic
def presence_capacity_set(*, user: User, capacity: int | None, by: User) -> AgentPresence:
    """Set ``user``'s capacity (None: the default). Admins only; more room asks for a pass.

    Raises:
        PermissionDenied: ``by`` is not an admin, or ``user`` is not staff.
    """
    from chatapp.accounts import permissions

    permissions.require(permissions.Action.AGENT_CAPACITY_SET, by)
    _require_staff(user)
    presence, _ = AgentPresence.objects.select_for_update().get_or_create(
        user=user, defaults={"status": AgentPresence.Status.OFFLINE, "last_seen": timezone.now()}
    )
    presence.capacity = capacity
    presence.full_clean(validate_unique=False)
    presence.save(update_fields=["capacity", "updated_at"])
    assignment_request_on_commit()
    return presence


@transaction.atomic
def assignment_settings_set(*, auto_assign: bool, default_capacity: int) -> AssignmentSettings:
    """Store the admins' settings row (pk 1), which then wins over the environment."""
    row = AssignmentSettings(pk=1, auto_assign=auto_assign, default_capacity=default_capacity)
    row.full_clean(validate_unique=False)
    row.save()
    assignment_request_on_commit()
    return row


@dataclass
class PassResult:
    """What one assignment pass did."""

    requeued: list[str] = field(default_factory=list)  # conversation ids sent back to waiting
    assigned: list[tuple[str, int]] = field(default_factory=list)  # (conversation id, agent id)


def _requeue_from_offline_agents() -> list[str]:
    """Send the assigned conversations of offline agents back to waiting, with a notice."""
    holders = selectors.offline_holders()
    if not holders:
        return []
    conversations = list(
        Conversation.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("assignee")
        .filter(status=Conversation.Status.ASSIGNED, assignee_id__in=holders)
        .order_by("last_message_at", "created_at")
    )
    for conversation in conversations:
        agent = conversation.assignee
        conversation.status = Conversation.Status.WAITING
        conversation.assignee = None
        conversation.save(update_fields=["status", "assignee", "updated_at"])
        # The notice also refreshes the queue row of every console.
        system_message_create(
            conversation=conversation,
            text=OFFLINE_NOTICE.format(agent=agent.username if agent else "Your agent"),
        )
        broadcast_on_commit(
            conversation_group(conversation.pk),
            ConversationAssignedEvent(
                conversation_id=str(conversation.pk),
                status=conversation.status,
                assignee=agent_payload(None),
            ),
        )
    return [str(c.pk) for c in conversations]


@transaction.atomic
def assignment_pass() -> PassResult:
    """Requeue offline agents' conversations, then give waiting ones to online agents.

    Round robin with capacity: each waiting conversation (the longest waiting first) goes to the
    next online agent with room, in order of their oldest last auto-assignment. The notice the
    visitor sees is the claim's ("<agent> joined the conversation."). Passes take turns on an
    advisory lock; conversations a request is changing meanwhile are skipped (skip_locked), and
    the next pass takes them.

    Returns:
        What was requeued and assigned (nothing when auto-assign is off).
    """
    result = PassResult()
    policy = selectors.assignment_policy()
    if not policy.auto_assign:
        return result
    _lock_pass()
    result.requeued = _requeue_from_offline_agents()
    candidates = selectors.assignment_candidates(policy)
    room = min(sum(free for _, free in candidates), PASS_MAX_ASSIGNMENTS)
    if room == 0:
        return result
    waiting = list(
        Conversation.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(status=Conversation.Status.WAITING, assignee__isnull=True)
        .order_by("updated_at", "created_at")[:room]
    )
    rotation: list[tuple[AgentPresence, int]] = list(candidates)
    for conversation in waiting:
        presence, free = rotation.pop(0)
        waiting_since = conversation.updated_at
        conversation_assign(conversation=conversation, agent=presence.user, by=presence.user)
        presence.last_assigned_at = timezone.now()
        presence.save(update_fields=["last_assigned_at", "updated_at"])
        AutoAssignment.objects.create(
            conversation=conversation, agent=presence.user, waiting_since=waiting_since
        )
        result.assigned.append((str(conversation.pk), presence.user_id))
        if free > 1:
            rotation.append((presence, free - 1))
    if result.assigned or result.requeued:
        logger.info(
            "assignment pass: %d assigned, %d requeued", len(result.assigned), len(result.requeued)
        )
    return result
