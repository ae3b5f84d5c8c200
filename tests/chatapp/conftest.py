"""Fixtures for tests of the Django apps."""

from __future__ import annotations

from typing import Any

import pytest

from workers.messages import TurnRequest


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[TurnRequest]:
    """Pipeline runs that would have been sent to the broker (the outside world here)."""
    sent: list[TurnRequest] = []
    monkeypatch.setattr("chatapp.assistant.services._dispatch", sent.append)
    return sent


@pytest.fixture
def indexed_later(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Documents that would have been queued for indexing."""
    sent: list[int] = []

    def record(doc: Any) -> None:
        sent.append(doc.pk)

    monkeypatch.setattr("chatapp.knowledge.services._index_later", record)
    return sent
