"""Health of the parts a turn needs: database, broker, and a worker on each queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

QUEUES = ("retrieval", "answering", "review")


@dataclass
class Health:
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v == "ok" for v in self.checks.values())

    @property
    def missing(self) -> list[str]:
        return [k for k, v in self.checks.items() if v != "ok"]


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
        replies = (
            app.control.inspect(timeout=settings.CHATAPP_HEALTH_TIMEOUT_S).active_queues() or {}
        )
    except Exception:
        replies = {}
    consumed = {q["name"] for queues in replies.values() for q in queues}
    for queue in QUEUES:
        health.checks[f"worker:{queue}"] = "ok" if queue in consumed else "no worker"
    return health
