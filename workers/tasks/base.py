"""Task bases that end the turn (or the document) when a stage fails for good, however it fails.

A stage can fail three ways, and each reaches a different hook:

- it raises (or hits its soft limit) in the pool process: ``Task.on_failure`` there;
- it hits its hard limit: the worker's main process kills the pool process and calls
  ``Task.on_failure`` itself (Celery >= 5.7) and sends ``task_failure``;
- its pool process dies (SIGKILL, out of memory): the main process sees the process gone.
  ``task_reject_on_worker_lost`` puts the message back once, so the stage runs again on a fresh
  process (stages are idempotent: see ``chatapp.assistant.turn``); if it is lost again, the
  message is acknowledged and ``task_failure`` ends the turn with a hand-off at once, instead of
  leaving it to the watchdog (a message that kills its worker must not loop).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery import Task
from celery.exceptions import Ignore, TimeLimitExceeded
from celery.signals import task_failure
from celery.utils.log import get_task_logger
from celery.worker.request import Request
from django.conf import settings
from typing_extensions import override

from workers.tasks.warmup import wait_for_models

logger = get_task_logger(f"{__name__}.celery")

# Pool processes lost in this worker (main process) recently, for /healthz (``pool_health``).
LOST_WINDOW_S = 300
_lost_at: deque[float] = deque(maxlen=100)
_lost_lock = threading.Lock()


class WorkerLostAgainError(Exception):
    """A redelivered task lost its pool process too: it is failed, not requeued again."""


def record_worker_lost() -> None:
    """Note that a pool process of this worker died while running a task."""
    with _lost_lock:
        _lost_at.append(time.monotonic())


def workers_lost_recently(window_s: float = LOST_WINDOW_S) -> int:
    """Pool processes of this worker that died while running a task in the last ``window_s``."""
    since = time.monotonic() - window_s
    with _lost_lock:
        return sum(1 for t in _lost_at if t >= since)


def _run_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    first = args[0] if args else kwargs.get("payload")
    if isinstance(first, dict) and isinstance(first.get("run_id"), int):
        return int(first["run_id"])
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class LossAwareRequest(Request):
    """The main process's view of one task: requeued after a lost worker once, not twice."""

    @override
    def on_failure(
        self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # ExceptionWithTraceback
        if isinstance(exc, WorkerLostError):
            record_worker_lost()
            if self.delivery_info.get("redelivered"):
                logger.error("%s[%s] lost its worker again: not requeued", self.name, self.id)
                try:
                    raise WorkerLostAgainError(str(exc)) from exc
                except WorkerLostAgainError:
                    exc_info = ExceptionInfo()  # acknowledged, task_failure sent (not a requeue)
            else:
                logger.warning("%s[%s] lost its worker: requeued once", self.name, self.id)
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


class StageTask(Task):  # type: ignore[type-arg]  # celery-types generic params are unused here
    """Base for pipeline stages: acks late, bounded in time, fails the run on the last error."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    Request = "workers.tasks.base:LossAwareRequest"
    stage = "retrieval"

    soft_time_limit = settings.CHATAPP_STAGE_SOFT_LIMIT_S
    time_limit = settings.CHATAPP_STAGE_HARD_LIMIT_S

    @override
    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Drop a message of a turn that already ended; else wait for this process's models.

        Raises:
            Ignore: The turn ended (a redelivered or resent message): acknowledged, nothing
                runs and nothing is handed on.
        """
        from chatapp.assistant.turn import turn_is_running

        run_id = _run_id(args, kwargs)
        if run_id is not None and not turn_is_running(run_id):
            logger.info("%s for run %s dropped: the turn already ended", self.name, run_id)
            raise Ignore()
        wait_for_models()

    @override
    def on_failure(
        self,
        exc: Exception,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        """Record the failure in the trace and hand the conversation to people."""
        stage_failed(self.stage, args, kwargs, exc)


class IndexTask(Task):  # type: ignore[type-arg]  # celery-types generic params are unused here
    """Base for document indexing: like a stage, a failure for good marks the document failed."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    Request = "workers.tasks.base:LossAwareRequest"

    soft_time_limit = settings.CHATAPP_INDEX_SOFT_LIMIT_S
    time_limit = settings.CHATAPP_INDEX_HARD_LIMIT_S

    @override
    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Wait for the embedder this process is loading."""
        wait_for_models()

    @override
    def on_failure(
        self,
        exc: Exception,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        """Mark the document failed with the reason, so it can be retried."""
        document_failed(args, kwargs, exc)


def stage_failed(stage: str, args: tuple[Any, ...], kwargs: dict[str, Any], exc: Exception) -> None:
    """End the turn of a stage that failed for good (idempotent: an ended turn stays as it is)."""
    from chatapp.assistant.turn import pipeline_fail

    run_id = _run_id(args, kwargs)
    logger.error("stage %s failed for run %s: %r", stage, run_id, exc)
    if run_id is not None:
        pipeline_fail(run_id=run_id, stage=stage, error=_describe(exc))


def document_failed(args: tuple[Any, ...], kwargs: dict[str, Any], exc: Exception) -> None:
    """Mark the document of an indexing task that failed for good as failed."""
    from chatapp.knowledge.services import document_fail

    document_id = args[0] if args else kwargs.get("document_id")
    logger.error("indexing document %s failed: %r", document_id, exc)
    if isinstance(document_id, int):
        document_fail(document_id=document_id, error=f"indexing_failed: {_describe(exc)}")


@task_failure.connect
def end_work_of_a_lost_task(
    sender: Task | None = None,  # type: ignore[type-arg]  # see StageTask
    exception: BaseException | None = None,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """End the turn or document of a task that failed outside its pool process.

    The pool process's own failures reach ``on_failure`` there; a lost pool process (twice) and
    a hard time limit are seen only by the worker's main process, which sends this signal.
    ``pipeline_fail`` and ``document_fail`` do nothing to what already ended, so the hard-limit
    case, which Celery >= 5.7 also passes to ``on_failure``, is handled once.
    """
    if not isinstance(exception, WorkerLostAgainError | WorkerLostError | TimeLimitExceeded):
        return
    from django.db import connection

    # The main process keeps its connection for the worker's life (no request cycle closes it):
    # drop it if it went stale or outlived CONN_MAX_AGE, as a request would.
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
    if isinstance(sender, StageTask):
        stage_failed(sender.stage, tuple(args or ()), dict(kwargs or {}), exception)
    elif isinstance(sender, IndexTask):
        document_failed(tuple(args or ()), dict(kwargs or {}), exception)
