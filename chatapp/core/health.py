"""Health of the parts a turn needs: database, broker, and a worker able to take tasks per queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection

# Every queue the stack needs a worker on: the three stages, the deadline watchdog and sweeper,
# and document indexing.
QUEUES = ("retrieval", "answering", "review", "watchdog", "indexing")
NO_WORKER = "no worker"


@dataclass
class Health:
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v == "ok" for v in self.checks.values())

    @property
    def missing(self) -> list[str]:
        return [k for k, v in self.checks.items() if v != "ok"]


def worker_state(reply: dict[str, Any]) -> str:
    """One worker's ``pool_health`` reply (``workers.tasks.health``) in words: "ok" or why not.

    A worker can take tasks when one of its pool processes reported ready and its pool processes
    are not dying over and over (``CHATAPP_HEALTH_MAX_LOST`` lost in the reply's window).
    """
    ready, total, lost = int(reply["ready"]), int(reply["processes"]), int(reply["lost"])
    if lost >= settings.CHATAPP_HEALTH_MAX_LOST:
        return f"pool processes keep dying ({lost} lost in {reply['lost_window_s']} s)"
    if ready == 0:
        return f"no pool process ready (0 of {total}; starting or restarting)"
    return "ok"


def queue_states(replies: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each needed queue's state from the workers' replies: "ok" when any of its workers is."""
    states: dict[str, list[str]] = {queue: [] for queue in QUEUES}
    for by_worker in replies:
        for reply in by_worker.values():
            if not isinstance(reply, dict) or "queues" not in reply:
                continue  # a worker without the command (older code) or an error
            state = worker_state(reply)
            for queue in reply["queues"]:
                if queue in states:
                    states[queue].append(state)
    return {
        queue: "ok" if "ok" in found else (found[0] if found else NO_WORKER)
        for queue, found in states.items()
    }


def system_health() -> Health:
    """Probe each part with a short timeout; never raises."""
    from chatapp.config.celery import app

    health = Health()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        health.checks["database"] = "ok"
    except Exception as exc:
        health.checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.CHATAPP_HEALTH_TIMEOUT_S)
        health.checks["broker"] = "ok"
    except Exception as exc:
        health.checks["broker"] = f"unreachable: {type(exc).__name__}"
        for queue in QUEUES:
            health.checks[f"worker:{queue}"] = "unknown (no broker)"
        return health
    try:
        replies = app.control.broadcast(
            "pool_health", reply=True, timeout=settings.CHATAPP_HEALTH_TIMEOUT_S
        )
    except Exception:
        replies = []
    for queue, state in queue_states(replies or []).items():
        health.checks[f"worker:{queue}"] = state
    return health
