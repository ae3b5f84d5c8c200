"""Watchdog queue: the assignment pass (waiting conversations to online agents)."""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger

logger = get_task_logger(f"{__name__}.celery")

# A pass writes a few rows per conversation it assigns (200 at most); anything slower is stuck.
ASSIGN_SOFT_LIMIT_S = 30
ASSIGN_HARD_LIMIT_S = 40


@shared_task(acks_late=True, soft_time_limit=ASSIGN_SOFT_LIMIT_S, time_limit=ASSIGN_HARD_LIMIT_S)
def assign_waiting() -> dict[str, int]:
    """Run one assignment pass (``chatapp.assignment.services.assignment_pass``).

    Returns:
        How many conversations were assigned and sent back to the queue.
    """
    from chatapp.assignment.services import assignment_pass

    result = assignment_pass()
    return {"assigned": len(result.assigned), "requeued": len(result.requeued)}
