"""Known data for the over-time tests: conversations and turns placed on chosen UTC days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatapp.assistant.models import PipelineRun
from chatapp.conversations.models import Conversation, Message, Participant
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation

DAY1 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAY3 = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)  # late evening: still 4 March in UTC


def conversation_on(
    when: datetime, *, reason: str = "", agent: bool = False, failed_run: bool = False
) -> Conversation:
    conversation, _ = make_conversation()
    asked = Message.objects.create(conversation=conversation, role="visitor", text="=1+1 refunds?")
    if agent:
        Participant.objects.create(
            conversation=conversation, role="agent", user=AgentFactory.create()
        )
    if failed_run:
        PipelineRun.objects.create(conversation=conversation, question=asked, status="failed")
    Conversation.objects.filter(pk=conversation.pk).update(created_at=when, handoff_reason=reason)
    conversation.refresh_from_db()
    return conversation


def turn_on(when: datetime, *, ttft_ms: int | None, total_ms: int | None) -> PipelineRun:
    conversation, _ = make_conversation()
    asked = Message.objects.create(conversation=conversation, role="visitor", text="Q?")
    run = PipelineRun.objects.create(conversation=conversation, question=asked, status="completed")
    PipelineRun.objects.filter(pk=run.pk).update(
        started_at=when,
        first_token_at=None if ttft_ms is None else when + timedelta(milliseconds=ttft_ms),
        finished_at=None if total_ms is None else when + timedelta(milliseconds=total_ms),
    )
    run.refresh_from_db()
    return run


def known_conversations() -> None:
    """Day 1: 2 by the bot, 1 with an agent (visitor_request), 1 handed off waiting
    (no_relevant_passages). Day 2: none. Day 3: 1 with a failed turn (reason cleared)."""
    conversation_on(DAY1)
    conversation_on(DAY1 + timedelta(hours=1))
    conversation_on(DAY1, reason="visitor_request", agent=True)
    conversation_on(DAY1, reason="no_relevant_passages")
    conversation_on(DAY3, failed_run=True)
