"""Log formatting: JSON lines (CHATAPP_LOG_FORMAT=json, production) or text, with the turn's ids."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from typing_extensions import override

from chatapp.observability.context import conversation_id_var, turn_id_var

# Attributes every LogRecord has; anything else was passed in ``extra`` and is logged too.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "turn_id", "conversation_id", "task_id", "task_name", "data"}
)


def _task() -> tuple[str | None, str | None]:
    """The Celery task this line is logged in, if any (pool processes)."""
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover  (celery is a dependency)
        return None, None
    task = current_task
    if task is None or getattr(task, "request", None) is None or not task.request.id:
        return None, None
    return str(task.request.id), str(task.name)


# Celery's main process logs "Received task" with the arguments' repr (``extra={"data": ...}``)
# before any task code runs: a stage payload shows its ids there, the watchdog its run id.
_RUN_ID = re.compile(r"'run_id': (\d+)")
_CONVERSATION_ID = re.compile(r"'conversation_id': '([0-9a-f-]{36})'")
_WATCHDOG_ARGS = re.compile(r"^\((\d+),\)$")


def _ids_from_celery_data(record: logging.LogRecord) -> None:
    data = getattr(record, "data", None)
    if not isinstance(data, dict) or not isinstance(data.get("args"), str):
        return
    args: str = data["args"]
    run = _RUN_ID.search(args)
    if run is None and str(data.get("name", "")).endswith(".turn_watchdog"):
        run = _WATCHDOG_ARGS.match(args)
    conversation = _CONVERSATION_ID.search(args)
    if run is not None and getattr(record, "turn_id", None) is None:
        record.turn_id = int(run.group(1))
    if conversation is not None and getattr(record, "conversation_id", None) is None:
        record.conversation_id = conversation.group(1)
    if data.get("id") and getattr(record, "task_id", None) is None:
        record.task_id, record.task_name = str(data["id"]), str(data.get("name", ""))


class TurnContextFilter(logging.Filter):
    """Copy the bound turn/conversation ids (and the running task) onto each record."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        _ids_from_celery_data(record)
        if getattr(record, "turn_id", None) is None:
            record.turn_id = turn_id_var.get()
        if getattr(record, "conversation_id", None) is None:
            record.conversation_id = conversation_id_var.get()
        if getattr(record, "task_id", None) is None:
            record.task_id, record.task_name = _task()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, process, extras, exception."""

    @override
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "process_name": record.processName,
        }
        for key in ("turn_id", "conversation_id", "task_id", "task_name"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        entry.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        )
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The human format of ``make run``, with ``[turn=… conversation=…]`` when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    @override
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        turn = getattr(record, "turn_id", None)
        conversation = getattr(record, "conversation_id", None)
        if turn is None and conversation is None:
            return line
        ids = " ".join(
            f"{k}={v}" for k, v in (("turn", turn), ("conversation", conversation)) if v is not None
        )
        head, sep, rest = line.partition("\n")  # keep a traceback below the ids
        return f"{head} [{ids}]{sep}{rest}"
