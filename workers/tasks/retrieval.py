"""Retrieval stage, plus document indexing and the turn watchdog (routed to their own queues).

``index_document`` goes to the ``indexing`` queue and ``turn_watchdog`` to ``watchdog``
(``CELERY_TASK_ROUTES``), so a bulk import never delays a turn or its deadline. They keep their
names (and module) so messages already queued still find them.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from celery.utils.log import get_task_logger
from django.db import InterfaceError, OperationalError

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


# A batch of 64 short documents takes a few seconds on 2 CPU cores, 256 kB of long ones ~15 s;
# the limits only catch a stuck task. A database that went away is retried: the batch is
# idempotent (the retried task takes back the items it held).
@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def index_import_batch(self: Task, job_id: int) -> str:  # type: ignore[type-arg]  # celery-types generic params are unused here
    """Index the next batch of an import job's documents, then queue the batch after it."""
    from chatapp.knowledge.embedding import embedder
    from chatapp.knowledge.jobs import import_job_run_batch

    report = import_job_run_batch(
        job_id=job_id,
        embedder=embedder(),
        claim=str(self.request.id),
        worker=str(self.request.hostname or ""),
    )
    return f"{report.claimed} documents, {report.remaining} queued, done={report.job_done}"


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def analyze_chunks(job_id: int) -> None:
    """Refresh the chunk statistics after an import job loaded its documents (ANALYZE)."""
    from chatapp.knowledge.jobs import import_job_analyze

    import_job_analyze(job_id=job_id)


@worker_ready.connect
def resume_import_jobs(sender: Any = None, **kwargs: Any) -> None:
    """When a worker of the indexing queue starts: release what it held, resume unfinished jobs."""
    from django.conf import settings
    from django.db import connections

    from chatapp.knowledge.jobs import import_jobs_resume

    queues = {q.name for q in getattr(getattr(sender, "task_consumer", None), "queues", [])}
    if settings.CHATAPP_INDEX_QUEUE not in queues:
        return
    try:
        import_jobs_resume(worker=str(sender.hostname))
    except Exception:  # a worker must start even when the database is not there yet
        logger.exception("could not resume import jobs")
    finally:
        connections.close_all()  # opened in the main process; pool processes open their own


@shared_task(acks_late=True)
def turn_watchdog(run_id: int) -> None:
    """End a turn still running past its deadline (a dead worker, a lost message)."""
    from chatapp.assistant.turn import pipeline_fail

    run = pipeline_fail(run_id=run_id, stage="deadline", error="the turn took too long")
    if run is not None:
        logger.info("watchdog checked run %s: %s", run_id, run.status)
