"""Bind the turn's ids for every log line a turn task writes (task_prerun/task_postrun).

Stage tasks carry ``run_id`` and ``conversation_id`` in their payload; the watchdog carries the
run id alone, and its conversation is read once from the database.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.signals import task_postrun, task_prerun

_TOKENS = "_chatapp_log_tokens"
WATCHDOG = "workers.tasks.retrieval.turn_watchdog"


@task_prerun.connect
def bind_turn_ids(
    task_id: str | None = None,
    task: Task[Any, Any] | None = None,
    args: Any = None,
    kwargs: Any = None,
    **extra: Any,
) -> None:
    from chatapp.observability import context

    turn_id, conversation_id = context.ids_from_task_args(args, kwargs)
    if task is not None and task.name == WATCHDOG and args and isinstance(args[0], int):
        from chatapp.assistant.selectors import pipeline_run_conversation_id

        turn_id, conversation_id = args[0], pipeline_run_conversation_id(args[0])
    tokens = context.bind(turn_id=turn_id, conversation_id=conversation_id)
    if task is not None:
        setattr(task.request, _TOKENS, tokens)


@task_postrun.connect
def unbind_turn_ids(task: Task[Any, Any] | None = None, **extra: Any) -> None:
    from chatapp.observability import context

    tokens = getattr(task.request, _TOKENS, None) if task is not None else None
    if tokens:
        context.unbind(tokens)
