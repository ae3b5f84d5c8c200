"""Session-wide test plumbing; embedded services this session started are stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workers.messages import TurnRequest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_sessionstart(session: pytest.Session) -> None:
    import shutil

    from tests.contract import record_dir

    shutil.rmtree(record_dir(), ignore_errors=True)  # this session's responses only


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many responses the OpenAPI contract check saw, and which operations none reached."""
    from tests.contract import coverage

    seen = coverage()
    documented = [name for name in seen if not name.endswith("(undocumented)")]
    ok = [name for name in documented if any(200 <= s < 300 for s in seen[name])]
    missing = sorted(set(documented) - set(ok))
    terminalreporter.write_sep("-", "API contract (tests/contract.py)")
    terminalreporter.write_line(
        f"{len(ok)} of {len(documented)} documented operations answered a checked 2xx"
        + (f"; without one: {', '.join(missing)}" if missing else "")
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from django.conf import settings

    started = getattr(settings, "EMBEDDED_STARTED", [])
    if started and not os.environ.get("CHATAPP_KEEP_SERVICES"):
        from chatapp.core import embedded

        if "redis" in started:
            embedded.stop_redis(Path(settings.VAR_DIR))
        if "postgres" in started:
            embedded.stop_postgres(Path(settings.VAR_DIR))


@pytest.fixture
def broadcasts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Events sent to channel-layer groups (run the code in ``committed()`` to send them)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    class Layer:
        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            sent.append((group, message))

    monkeypatch.setattr("chatapp.realtime.broadcast.get_channel_layer", lambda: Layer())
    return sent


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """``with committed(): ...`` runs the on-commit callbacks (broadcasts, dispatch) at the end."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def events_of(
    broadcasts: list[tuple[str, dict[str, Any]]],
) -> Callable[[str], list[dict[str, Any]]]:
    def select(kind: str) -> list[dict[str, Any]]:
        return [m for _, m in broadcasts if m["type"] == kind]

    return select


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[TurnRequest]:
    """Pipeline runs that would have been sent to the broker (the outside world here)."""
    sent: list[TurnRequest] = []

    def record(request: TurnRequest, **options: Any) -> None:
        sent.append(request)

    monkeypatch.setattr("chatapp.assistant.turn._dispatch", record)
    return sent


@pytest.fixture
def indexed_later(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Documents that would have been queued for indexing (one by one, or by an import job)."""
    sent: list[int] = []

    def record(doc: Any) -> None:
        sent.append(doc.pk)

    def record_job(job_id: int, document_ids: Any) -> None:
        sent.extend(document_ids)

    monkeypatch.setattr("chatapp.knowledge.services._index_later", record)
    monkeypatch.setattr("chatapp.knowledge.jobs._index_job_later", record_job)
    return sent


@pytest.fixture
def rate_limits(settings: Any) -> Callable[..., None]:
    """``rate_limits(message_connection="2/m", ...)`` turns those limits on, from fresh counters.

    The counters live in the suite's real Redis; every limit not named stays off.
    """
    import redis

    from chatapp.core.ratelimit import KEY_PREFIX

    client = redis.Redis.from_url(settings.REDIS_URL)
    stale = list(client.scan_iter(f"{KEY_PREFIX}:*"))
    if stale:
        client.delete(*stale)

    def set_rates(**rates: str) -> None:
        settings.CHATAPP_RATE_LIMITS = {**dict.fromkeys(settings.CHATAPP_RATE_LIMITS, ""), **rates}

    return set_rates
