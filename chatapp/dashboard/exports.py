"""CSV exports of conversations and turns over a date range, row by row (streamed).

Rows are read with server-side cursors (``iterator``), so a year of data never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q

from chatapp.assistant.models import PipelineRun
from chatapp.conversations.models import Conversation, Participant
from chatapp.dashboard.selectors import DateRange

CHUNK_ROWS = 2000  # rows per fetch from the server-side cursor

CONVERSATION_COLUMNS = (
    "id",
    "created_at",
    "status",
    "assignee",
    "handoff_reason",
    "messages",
    "visitor_messages",
    "agent_joined",
    "last_message_at",
)
TURN_COLUMNS = (
    "id",
    "conversation_id",
    "started_at",
    "status",
    "verdict",
    "reason",
    "first_token_ms",
    "turn_ms",
    "question",
)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to spreadsheets (CSV injection); quote it.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def conversation_rows(period: DateRange) -> Iterator[list[Any]]:
    """The header, then one row per conversation started in ``period``, oldest first."""
    yield list(CONVERSATION_COLUMNS)
    agent = Participant.objects.filter(conversation=OuterRef("pk"), role=Participant.Role.AGENT)
    rows = (
        Conversation.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .annotate(
            n_messages=Count("messages"),
            n_visitor=Count("messages", filter=Q(messages__role="visitor")),
            agent_joined=Exists(agent),
        )
        .order_by("created_at", "id")
        .values_list(
            "id",
            "created_at",
            "status",
            "assignee__username",
            "handoff_reason",
            "n_messages",
            "n_visitor",
            "agent_joined",
            "last_message_at",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK_ROWS):
        pk, created, status, assignee, reason, n, n_visitor, joined, last = row
        yield [
            str(pk),
            _iso(created),
            status,
            _cell(assignee or ""),
            _cell(reason),
            n,
            n_visitor,
            "yes" if joined else "no",
            _iso(last),
        ]


def _ms(start: datetime, end: datetime | None) -> int | str:
    return round((end - start).total_seconds() * 1000) if end else ""


def turn_rows(period: DateRange) -> Iterator[list[Any]]:
    """The header, then one row per turn started in ``period``, oldest first."""
    yield list(TURN_COLUMNS)
    rows = (
        PipelineRun.objects.filter(started_at__gte=period.since, started_at__lt=period.until)
        .order_by("started_at", "id")
        .values_list(
            "id",
            "conversation_id",
            "started_at",
            "status",
            "verdict",
            "reason",
            "first_token_at",
            "finished_at",
            "question__text",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK_ROWS):
        pk, conversation_id, started, status, verdict, reason, first, finished, text = row
        yield [
            pk,
            str(conversation_id),
            _iso(started),
            status,
            verdict,
            reason,
            _ms(started, first),
            _ms(started, finished),
            _cell(text),
        ]
