"""Watchdog queue: the periodic sweep (celery beat) of turns and documents stuck past deadline."""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger

logger = get_task_logger(f"{__name__}.celery")

# A sweep reads a few rows and the queue lengths; anything slower is stuck itself.
SWEEP_SOFT_LIMIT_S = 20
SWEEP_HARD_LIMIT_S = 30


@shared_task(acks_late=True, soft_time_limit=SWEEP_SOFT_LIMIT_S, time_limit=SWEEP_HARD_LIMIT_S)
def sweep_stuck() -> dict[str, list[int]]:
    """End or resend turns stuck past their deadline; fail or requeue stuck documents.

    Returns:
        The ids acted on, by what was done (also logged).
    """
    from chatapp.assistant.turn import pipeline_sweep
    from chatapp.knowledge.services import document_sweep

    turns = pipeline_sweep()
    documents = document_sweep()
    done = {
        "runs_ended": turns.ended,
        "runs_redispatched": turns.redispatched,
        "documents_failed": documents.failed,
        "documents_requeued": documents.requeued,
    }
    if any(done.values()):
        logger.warning("sweep: %s", done)
    return done
