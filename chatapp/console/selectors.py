"""Reads for the agents' console: the ordered queue and one conversation with its side panels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When

from chatapp.accounts.models import User
from chatapp.accounts.selectors import agent_list
from chatapp.conversations.models import Conversation, Message, Note
from chatapp.conversations.selectors import conversation_get

# The queue page lists this many rows; older ones are reached through Django admin.
QUEUE_LIMIT = 200
# Characters of the last message a row shows (the websocket summary sends 140 as well).
PREVIEW_CHARS = 140

# Row groups, in display order. console.js computes the same rank for rows that arrive live.
RANK_WAITING = 0
RANK_MINE = 1
RANK_BOT = 2
RANK_OTHER = 3

# Status labels for rows that console.js builds from websocket summaries.
STATUS_LABELS: dict[str, str] = {str(k): str(label) for k, label in Conversation.Status.choices}


@dataclass(frozen=True)
class QueueRow:
    """One conversation in the console queue."""

    id: str
    status: str
    status_label: str
    assignee_id: int | None
    assignee_name: str
    handoff_reason: str
    last_message: str
    last_message_at: datetime | None
    created_at: datetime
    rank: int


@dataclass(frozen=True)
class ConsoleConversation:
    """Everything the conversation page renders."""

    conversation: Conversation
    messages: list[Message]
    notes: list[Note]
    agents: list[User]
    # The service refuses replies from anyone but the assignee; the page disables the box to match.
    can_reply: bool


def _last_message_text() -> Subquery:
    # System notices ("alice joined…") say nothing about what the visitor needs; skip them.
    latest = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .exclude(role=Message.Role.SYSTEM)
        .order_by("-created_at", "-id")
    )
    return Subquery(latest.values("text")[:1])


def console_queue_qs(*, user: User) -> QuerySet[Conversation]:
    """The queue as a queryset: waiting first, then mine, then with the bot, then the rest.

    Within a group, the most recent activity comes first. Each row carries ``rank`` and
    ``last_text`` annotations, so the whole page is one query.

    Args:
        user: The agent looking at the queue ("assigned to me" is relative to them).

    Returns:
        An ordered queryset with the assignee joined.
    """
    rank = Case(
        When(status=Conversation.Status.WAITING, then=Value(RANK_WAITING)),
        When(Q(status=Conversation.Status.ASSIGNED, assignee_id=user.pk), then=Value(RANK_MINE)),
        When(status=Conversation.Status.BOT, then=Value(RANK_BOT)),
        default=Value(RANK_OTHER),
        output_field=IntegerField(),
    )
    return (
        Conversation.objects.select_related("assignee")
        .annotate(rank=rank, last_text=_last_message_text())
        .order_by("rank", F("last_message_at").desc(nulls_last=True), "-created_at")
    )


def console_queue(*, user: User, limit: int = QUEUE_LIMIT) -> list[QueueRow]:
    """The console queue as rows (one query).

    Args:
        user: The agent looking at the queue.
        limit: How many rows at most.

    Returns:
        Rows in display order (see ``console_queue_qs``).
    """
    rows = []
    for conversation in console_queue_qs(user=user)[:limit]:
        assignee = conversation.assignee
        # Annotations are not on the model type; getattr keeps mypy honest without an ignore.
        last_text: str = getattr(conversation, "last_text", None) or ""
        rank: int = getattr(conversation, "rank", RANK_OTHER)
        rows.append(
            QueueRow(
                id=str(conversation.pk),
                status=conversation.status,
                status_label=conversation.get_status_display(),
                assignee_id=assignee.pk if assignee else None,
                assignee_name=assignee.username if assignee else "",
                handoff_reason=conversation.handoff_reason,
                last_message=last_text[:PREVIEW_CHARS],
                last_message_at=conversation.last_message_at,
                created_at=conversation.created_at,
                rank=rank,
            )
        )
    return rows


def console_conversation(conversation_id: object, *, user: User) -> ConsoleConversation:
    """One conversation for the console page: messages, notes, and the agents to transfer to.

    Args:
        conversation_id: The conversation's UUID (any form ``uuid.UUID`` accepts).
        user: The agent looking at it (``can_reply`` is theirs).

    Returns:
        The conversation and its panels (four queries).

    Raises:
        NotFound: Unknown or malformed id.
    """
    conversation = conversation_get(conversation_id)
    messages = list(conversation.messages.select_related("author").order_by("created_at", "id"))
    notes = list(conversation.notes.select_related("author").order_by("created_at", "id"))
    can_reply = (
        conversation.status == Conversation.Status.ASSIGNED and conversation.assignee_id == user.pk
    )
    return ConsoleConversation(
        conversation=conversation,
        messages=messages,
        notes=notes,
        agents=list(agent_list()),
        can_reply=can_reply,
    )
