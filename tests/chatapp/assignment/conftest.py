"""Auto-assignment on (the test settings turn it off), and helpers to make agents and waiting
conversations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chatapp.accounts.models import User
from chatapp.assignment.models import AgentPresence, AssignmentSettings
from chatapp.conversations.models import Conversation
from chatapp.conversations.services import conversation_handoff
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation


@pytest.fixture
def auto_assign(db: Any) -> AssignmentSettings:
    return AssignmentSettings.objects.create(pk=1, auto_assign=True, default_capacity=5)


@pytest.fixture
def passes_requested(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Assignment passes that would have been sent to the broker (the outside world here)."""
    sent: list[str] = []

    class Signature:
        def __init__(self, name: str) -> None:
            self.name = name

        def apply_async(self) -> None:
            sent.append(self.name)

    monkeypatch.setattr("chatapp.core.tasks.task_signature", lambda name, *a, **k: Signature(name))
    return sent


def make_agent(
    username: str, *, status: str = "online", seen_s_ago: float = 0, capacity: int | None = None
) -> User:
    agent = AgentFactory.create(username=username)
    AgentPresence.objects.create(
        user=agent,
        status=status,
        last_seen=timezone.now() - timedelta(seconds=seen_s_ago),
        capacity=capacity,
    )
    return agent


def make_waiting(n: int) -> list[Conversation]:
    out = []
    for _ in range(n):
        conversation, _ = make_conversation()
        conversation_handoff(
            conversation=conversation,
            reason="visitor_request",
            detail="The visitor asked for a person.",
            notice="A person will reply here.",
        )
        out.append(conversation)
    return out


@pytest.fixture
def agents() -> Callable[..., User]:
    return make_agent
