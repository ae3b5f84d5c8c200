"""Celery tasks named, not imported: ``chatapp`` sends work to ``workers.tasks`` by name.

The workers import chatapp's services; chatapp importing the task modules back would make a
circle. Routing (``CELERY_TASK_ROUTES``) matches these names, so queues stay as configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery.canvas import Signature

RETRIEVE_CONTEXT = "workers.tasks.retrieval.retrieve_context"
GENERATE_ANSWER = "workers.tasks.answering.generate_answer"
REVIEW_ANSWER = "workers.tasks.review.review_answer"
TURN_WATCHDOG = "workers.tasks.retrieval.turn_watchdog"
INDEX_DOCUMENT = "workers.tasks.retrieval.index_document"
SWEEP_STUCK = "workers.tasks.sweep.sweep_stuck"
INDEX_IMPORT_BATCH = "workers.tasks.retrieval.index_import_batch"
ANALYZE_CHUNKS = "workers.tasks.retrieval.analyze_chunks"
ASSIGN_WAITING = "workers.tasks.assignment.assign_waiting"
# An import job's batch task (and its ANALYZE) takes ~3 s (64 short documents) to ~20 s (256 kB of
# long ones) on 2 CPU cores; the limits only catch a stuck task, and an item still held past the
# hard one lost its task (``chatapp.knowledge.jobs.import_jobs_sweep``).
IMPORT_BATCH_SOFT_LIMIT_S = 600
IMPORT_BATCH_HARD_LIMIT_S = 660


def task_signature(name: str, *args: Any, **kwargs: Any) -> Signature[Any]:
    """A signature of the task called ``name`` on the project's Celery app.

    Args:
        name: One of this module's task names.
        *args: Positional arguments of the task.
        **kwargs: Keyword arguments of the task.

    Returns:
        The signature, to send (``apply_async``) or to chain.
    """
    from chatapp.config.celery import app

    return app.signature(name, args=args, kwargs=kwargs)


# The queues a turn's stages wait in (the sweeper sends a stalled turn again only when all are
# empty, so a turn merely waiting its turn is never sent twice).
TURN_QUEUES = ("retrieval", "answering", "review")


def queue_lengths(names: Sequence[str]) -> dict[str, int]:
    """Messages waiting in each queue (not those a worker has taken and not yet acknowledged).

    Args:
        names: Queue names.

    Returns:
        The count per queue; 0 for a queue the broker does not know (never used, or empty).

    Raises:
        Exception: The broker is unreachable (kombu's connection errors).
    """
    from kombu import Queue

    from chatapp.config.celery import app

    lengths = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1)
        for name in names:
            with conn.channel() as channel:
                try:
                    # kombu returns the broker's (name, message_count, consumer_count) tuple;
                    # its stubs say str.
                    declared: Any = Queue(name, channel=channel).queue_declare(passive=True)
                    lengths[name] = int(declared.message_count)
                except conn.channel_errors:  # a queue the broker does not hold: nothing waits
                    lengths[name] = 0
    return lengths
