"""A task base that ends the turn with a hand-off when a stage fails for good."""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.utils.log import get_task_logger
from django.conf import settings
from typing_extensions import override

from workers.tasks.warmup import wait_for_models

logger = get_task_logger(f"{__name__}.celery")


def _run_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    first = args[0] if args else kwargs.get("payload")
    if isinstance(first, dict) and isinstance(first.get("run_id"), int):
        return int(first["run_id"])
    return None


class StageTask(Task):  # type: ignore[type-arg]  # celery-types generic params are unused here
    """Base for pipeline stages: acks late, bounded in time, fails the run on the last error."""

    abstract = True
    acks_late = True
    stage = "retrieval"

    soft_time_limit = settings.CHATAPP_STAGE_SOFT_LIMIT_S
    time_limit = settings.CHATAPP_STAGE_HARD_LIMIT_S

    @override
    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Wait for the models this process is loading (a fresh process loads them at start)."""
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
        from chatapp.assistant.turn import pipeline_fail

        run_id = _run_id(args, kwargs)
        logger.error("stage %s failed for run %s: %r", self.stage, run_id, exc)
        if run_id is not None:
            pipeline_fail(run_id=run_id, stage=self.stage, error=f"{type(exc).__name__}: {exc}")
