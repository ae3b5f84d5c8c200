"""Retrieval stage, plus document indexing and the turn watchdog (routed to their own queues).

``index_document`` goes to the ``indexing`` queue and ``turn_watchdog`` to ``watchdog``
(``CELERY_TASK_ROUTES``), so a bulk import never delays a turn or its deadline. They keep their
names (and module) so messages already queued still find them.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

from workers.tasks.base import IndexTask, StageTask

logger = get_task_logger(f"{__name__}.celery")


@shared_task(base=StageTask, bind=True, stage="retrieval")
def retrieve_context(self: StageTask, payload: dict[str, Any]) -> dict[str, Any]:
    """TurnRequest → RetrievalResult."""
    from chatapp.assistant.stages import retrieval_run
    from chatapp.knowledge.embedding import embedder
    from workers.messages import TurnRequest

    request = TurnRequest.model_validate(payload)  # refuse a bad hand-over before loading the model
    result = retrieval_run(request, embedder=embedder())
    return result.model_dump(mode="json")


@shared_task(base=IndexTask, bind=True)
def index_document(self: IndexTask, document_id: int) -> str:
    """Parse, chunk and embed one document; returns its final status."""
    from chatapp.knowledge.embedding import embedder
    from chatapp.knowledge.services import document_index

    return str(document_index(document_id=document_id, embedder=embedder()).status)


@shared_task(acks_late=True)
def turn_watchdog(run_id: int) -> None:
    """End a turn still running past its deadline (a dead worker, a lost message)."""
    from chatapp.assistant.turn import pipeline_fail

    run = pipeline_fail(run_id=run_id, stage="deadline", error="the turn took too long")
    if run is not None:
        logger.info("watchdog checked run %s: %s", run_id, run.status)
