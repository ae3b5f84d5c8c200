"""Fixtures of the webhook tests: a real receiver on loopback, admins, recorded dispatches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.webhooks.receiver import Receiver
from tests.factories.accounts import AdminFactory

SECRET = "s3cret-for-tests"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 that verifies signatures."""
    server = Receiver(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def admin(db: Any) -> User:
    return AdminFactory.create(username="ops")


@pytest.fixture
def webhook_dispatched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float]]:
    """Delivery tasks that would have been sent to the broker: (delivery id, countdown)."""
    sent: list[tuple[int, float]] = []

    def record(ids: Any, *, countdown: float = 0) -> None:
        sent.extend((i, countdown) for i in ids)

    monkeypatch.setattr("chatapp.webhooks.services._dispatch", record)
    return sent
