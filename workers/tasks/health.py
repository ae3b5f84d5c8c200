"""A worker's answer to /healthz: which queues it consumes and whether its pool can take tasks.

``active_queues`` alone is answered by the worker's main process, which lives on while its pool
processes die: after one was killed, every replacement was killed at start and /healthz still
said "ok". This command also reports the pool: processes that reported ready, and how many died
running a task lately (``workers.tasks.base``).
"""

from __future__ import annotations

from typing import Any

from celery.worker.control import inspect_command

from workers.tasks.base import LOST_WINDOW_S, workers_lost_recently


@inspect_command()
def pool_health(state: Any) -> dict[str, Any]:
    """Queues consumed, pool processes ready to take a task, and pool processes lost lately."""
    consumer = state.consumer
    task_consumer = consumer.task_consumer
    queues = sorted(q.name for q in task_consumer.queues) if task_consumer else []
    pool = getattr(consumer.pool, "_pool", None)  # prefork: billiard's AsynPool
    processes = list(getattr(pool, "_pool", None) or [])
    if processes:
        starting: set[Any] = getattr(pool, "_waiting_to_start", set())
        total = len(processes)
        ready = sum(1 for p in processes if p not in starting and p.exitcode is None)
    else:  # solo or threads: the main process runs the tasks itself
        total = ready = int(getattr(consumer.pool, "limit", 1) or 1)
    return {
        "queues": queues,
        "processes": total,
        "ready": ready,
        "lost": workers_lost_recently(),
        "lost_window_s": LOST_WINDOW_S,
    }
