"""Log lines: the JSON and text formats, and the turn ids they carry (pure logic)."""

from __future__ import annotations

import json
import logging

from chatapp.observability import context
from chatapp.observability.logs import JsonFormatter, TextFormatter, TurnContextFilter

CONVERSATION = "0b9e6f9e-6a43-4c36-9a8e-0d5c2b0f1a11"


def _record(message: str = "stage done", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("chatapp.test", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    TurnContextFilter().filter(record)
    return record


def test_a_line_logged_inside_a_turn_carries_its_ids_as_json():
    # given
    with context.bound(turn_id=42, conversation_id=CONVERSATION):
        record = _record(step="retrieval")
    # when
    line = json.loads(JsonFormatter().format(record))
    # then
    assert line["turn_id"] == 42
    assert line["conversation_id"] == CONVERSATION
    assert (line["level"], line["logger"], line["message"]) == (
        "INFO",
        "chatapp.test",
        "stage done",
    )
    assert line["step"] == "retrieval"  # extras are kept
    assert "time" in line
    assert "process" in line


def test_ids_are_unbound_after_the_turn():
    # given
    with context.bound(turn_id=1, conversation_id=CONVERSATION):
        pass
    # when
    line = json.loads(JsonFormatter().format(_record()))
    # then
    assert "turn_id" not in line
    assert "conversation_id" not in line


def test_celerys_received_line_gets_the_ids_from_the_payload_repr():
    # given: what Celery's main process logs for a stage message
    data = {
        "id": "task-1",
        "name": "workers.tasks.answering.generate_answer",
        "args": f"({{'run_id': 7, 'conversation_id': '{CONVERSATION}', 'question': 'x'}},)",
    }
    watchdog = {"id": "task-2", "name": "workers.tasks.retrieval.turn_watchdog", "args": "(7,)"}
    # when
    stage = json.loads(JsonFormatter().format(_record("Task received", data=data)))
    dog = json.loads(JsonFormatter().format(_record("Task received", data=watchdog)))
    # then
    assert (stage["turn_id"], stage["conversation_id"], stage["task_id"]) == (
        7,
        CONVERSATION,
        "task-1",
    )
    assert "data" not in stage  # the arguments (visitor text) are not logged again
    assert (dog["turn_id"], dog["task_id"]) == (7, "task-2")


def test_the_text_format_appends_the_ids_when_known():
    # given
    with context.bound(turn_id=3, conversation_id=CONVERSATION):
        inside = _record()
    outside = _record()
    # then
    assert (
        TextFormatter()
        .format(inside)
        .endswith(f"INFO chatapp.test: stage done [turn=3 conversation={CONVERSATION}]")
    )
    assert TextFormatter().format(outside).endswith("INFO chatapp.test: stage done")


def test_ids_come_from_stage_payloads_not_from_other_arguments():
    assert context.ids_from_task_args(({"run_id": 5, "conversation_id": "c"},), {}) == (5, "c")
    assert context.ids_from_task_args((5,), {}) == (None, None)
    assert context.ids_from_task_args((), {}) == (None, None)
