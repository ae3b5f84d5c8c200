"""Retrieval stage, plus document indexing and the turn watchdog (routed to their own queues).

``index_document`` goes to the ``indexing`` queue and ``turn_watchdog`` to ``watchdog``
(``CELERY_TASK_ROUTES``), so a bulk import never delays a turn or its deadline. They keep their
names (and module) so messages already queued still find them.
"""

from __future__ import annotations

from typing import Any

from billiard.exceptions import WorkerLostError
from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure, worker_ready
from celery.utils.log import get_task_logger
from django.db import InterfaceError, OperationalError
from typing_extensions import override

from chatapp.core.tasks import IMPORT_BATCH_HARD_LIMIT_S, IMPORT_BATCH_SOFT_LIMIT_S
from workers.tasks.base import IndexTask, StageTask, WorkerLostAgainError

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


class ImportBatchTask(IndexTask):
    """Base of an import job's batch task: like indexing, but its own limits and failure path.

    A redelivered batch takes back the documents it held (its claim is its task id); one that
    failed for good (raised past its retries, lost its pool process twice, hit its hard limit)
    gives them back and the chain goes on, each document of that batch then retried on its own.
    """

    abstract = True
    soft_time_limit = IMPORT_BATCH_SOFT_LIMIT_S
    time_limit = IMPORT_BATCH_HARD_LIMIT_S

    @override
    def on_failure(
        self,
        exc: Exception,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        """Give back the documents this batch held, and keep the job's chain going."""
        _abandon(task_id, args, kwargs, exc)


def _abandon(
    task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], exc: BaseException
) -> None:
    from chatapp.knowledge.jobs import import_batch_abandon

    job_id = args[0] if args else kwargs.get("job_id")
    logger.error("import batch %s of job %s failed: %r", task_id, job_id, exc)
    if isinstance(job_id, int):
        import_batch_abandon(job_id=job_id, claim=task_id)


@task_failure.connect
def abandon_lost_batch(
    sender: Task | None = None,  # type: ignore[type-arg]  # celery-types generic params are unused here
    task_id: str = "",
    exception: BaseException | None = None,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Give back the documents of a batch whose pool process was lost twice or hit its hard limit.

    Only the worker's main process sees those failures (``workers.tasks.base``);
    ``import_batch_abandon`` does nothing to what was already given back.
    """
    if not isinstance(sender, ImportBatchTask) or not isinstance(
        exception, WorkerLostAgainError | WorkerLostError | TimeLimitExceeded
    ):
        return
    from django.db import connection

    if not connection.in_atomic_block:  # the main process keeps its connection for its life
        connection.close_if_unusable_or_obsolete()
    _abandon(task_id, tuple(args or ()), dict(kwargs or {}), exception)


# A database that went away is retried: the batch is idempotent (the retried task takes back the
# documents it held).
@shared_task(
    base=ImportBatchTask,
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def index_import_batch(self: ImportBatchTask, job_id: int) -> str:
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


@shared_task(
    acks_late=True, soft_time_limit=IMPORT_BATCH_SOFT_LIMIT_S, time_limit=IMPORT_BATCH_HARD_LIMIT_S
)
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
