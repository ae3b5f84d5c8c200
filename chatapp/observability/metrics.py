"""The metrics every process records (prometheus_client multiprocess mode; docs/api.md#metrics).

Counters and histograms are written by whichever process sees the event (a worker ending a turn,
the web process handing off on a visitor's request) into per-process files under
``PROMETHEUS_MULTIPROC_DIR`` (the settings set it before this module is imported), and summed by
the web process that serves ``/metrics``. State that the database or the broker already holds
(queue depth, indexing backlog) is read at scrape time instead (``chatapp.observability.state``).
Recording after commit keeps a rolled-back change out of the counts.
"""

from __future__ import annotations

from django.db import transaction
from prometheus_client import Counter, Gauge, Histogram

# Stage and first-token times on a CPU range from ~0.1 s (retrieval) to minutes (a 1.5B answer).
SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)

TURNS = Counter("chatapp_turns", "Turns ended, by outcome", ["outcome"])
STAGE_SECONDS = Histogram(
    "chatapp_stage_duration_seconds",
    "Time a pipeline stage took (stored step: start to output)",
    ["stage"],
    buckets=SECONDS_BUCKETS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "chatapp_first_token_seconds",
    "Turn start to the first approved sentence sent to the visitor",
    buckets=SECONDS_BUCKETS,
)
HANDOFFS = Counter("chatapp_handoffs", "Conversations handed to people, by reason", ["reason"])
WEBHOOK_ATTEMPTS = Counter(
    "chatapp_webhook_attempts", "Webhook delivery attempts, by result", ["result"]
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "chatapp_webhook_delivery_seconds",
    "Event recorded to receiver's 2xx answer (retries included)",
    buckets=WEBHOOK_BUCKETS,
)
# Open sockets per process; summed over the live processes at scrape (dead ones are dropped).
WEBSOCKETS = Gauge(
    "chatapp_websocket_connections",
    "Open websocket connections, by kind",
    ["kind"],
    multiprocess_mode="livesum",
)


# Known label values start at zero, so a series exists (and rate() works) before its first event.
for _outcome in ("answered", "escalated", "failed", "superseded"):
    TURNS.labels(outcome=_outcome)
for _stage in ("retrieval", "answering", "review"):
    STAGE_SECONDS.labels(stage=_stage)
for _kind in ("visitor", "staff", "console"):
    WEBSOCKETS.labels(kind=_kind)


def turn_ended(outcome: str) -> None:
    """A turn reached its end state (``answered``, ``escalated``, ``failed``, ``superseded``)."""
    transaction.on_commit(lambda: TURNS.labels(outcome=outcome).inc())


def stage_finished(stage: str, seconds: float) -> None:
    transaction.on_commit(lambda: STAGE_SECONDS.labels(stage=stage).observe(seconds))


def first_token(seconds: float) -> None:
    """A turn that showed the visitor something ended; ``seconds`` from its start to that."""
    transaction.on_commit(lambda: FIRST_TOKEN_SECONDS.observe(max(0.0, seconds)))


def handoff(reason: str) -> None:
    transaction.on_commit(lambda: HANDOFFS.labels(reason=reason or "unknown").inc())


def webhook_attempt(result: str, *, delivered_after_s: float | None = None) -> None:
    WEBHOOK_ATTEMPTS.labels(result=result).inc()
    if delivered_after_s is not None:
        WEBHOOK_DELIVERY_SECONDS.observe(max(0.0, delivered_after_s))


def websocket_opened(kind: str) -> None:
    WEBSOCKETS.labels(kind=kind).inc()


def websocket_closed(kind: str) -> None:
    WEBSOCKETS.labels(kind=kind).dec()
