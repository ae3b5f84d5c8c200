"""Celery tasks named, not imported: ``chatapp`` sends work to ``workers.tasks`` by name.

The workers import chatapp's services; chatapp importing the task modules back would make a
circle. Routing (``CELERY_TASK_ROUTES``) matches these names, so queues stay as configured.
"""

from __future__ import annotations

from typing import Any

from celery.canvas import Signature

RETRIEVE_CONTEXT = "workers.tasks.retrieval.retrieve_context"
GENERATE_ANSWER = "workers.tasks.answering.generate_answer"
REVIEW_ANSWER = "workers.tasks.review.review_answer"
TURN_WATCHDOG = "workers.tasks.retrieval.turn_watchdog"
INDEX_DOCUMENT = "workers.tasks.retrieval.index_document"


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
