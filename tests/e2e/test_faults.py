"""Faults injected into a real stack: a killed pool process, a lost dispatch, a Redis restart, a
web server restart mid-stream, no worker at all.

The stack here is the module's own (web server, one worker on every queue, celery beat, and a
Redis of its own, so the other end-to-end tests' worker never takes its tasks), on the test
database with the small real models. The sweep runs every 2 s and resends a turn stalled for
6 s, so the recoveries fit in seconds. Measured times go to ``var/test/logs/faults.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.conversations.models import Message
from chatapp.core import embedded
from chatapp.knowledge.models import Chunk, Document
from tests.e2e.helpers import http_json, open_socket, read_until, wait_for_document
from tests.e2e.processes import (
    LOG_DIR,
    beat_argv,
    database_url,
    free_port,
    kill,
    pool_children,
    start,
    stop,
    wait_healthy,
    web_argv,
    worker_argv,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUEUES = "retrieval,answering,review,watchdog,indexing"
REFUNDS = "# Refund timing\n\nRefunds take 5 to 10 business days."
SHIPPING = "# Shipping costs\n\nStandard shipping costs 4.95 EUR."
SWEEP_INTERVAL_S = 2
TURN_STALL_S = 6
RESULTS = LOG_DIR / "faults.json"


@dataclass
class FaultStack:
    base_url: str
    ws_url: str
    env: dict[str, str]
    redis_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        argv = worker_argv(QUEUES, f"faults-{name}-{uuid.uuid4().hex[:6]}")
        proc = start(argv, {**self.env, **env}, f"faults-{name}")
        self.procs[name] = proc
        return proc

    def health(self) -> tuple[int, dict[str, Any]]:
        status, body = http_json("GET", f"{self.base_url}/healthz")
        return status, body


def _record(name: str, figures: dict[str, Any]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = figures
    RESULTS.write_text(json.dumps(results, indent=1))


def _until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout}s")


@pytest.fixture(scope="module")
def fault_stack(
    django_db_setup: Any,
    django_db_blocker: Any,
    test_models: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FaultStack]:
    from django.db import connection

    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    redis_dir = tmp_path_factory.mktemp("faults-redis")
    redis_url, _ = embedded.ensure_redis(redis_dir, append_only=True)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.test",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CHATAPP_WARM": "embedder,llm",
        "CHATAPP_SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S),
        "CHATAPP_TURN_STALL_S": str(TURN_STALL_S),
        "PYTHONUNBUFFERED": "1",
    }
    stack = FaultStack(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", env, redis_dir)
    stack.procs["web"] = start(web_argv(port), env, "faults-web")
    stack.start_worker()
    stack.procs["beat"] = start(beat_argv(redis_dir / "beat-schedule"), env, "faults-beat")
    try:
        wait_healthy(f"{stack.base_url}/healthz", list(stack.procs.values()))
        yield stack
    finally:
        stop(list(stack.procs.values()))
        embedded.stop_redis(redis_dir)


@pytest.fixture
def knowledge_base(fault_stack: FaultStack) -> int:
    key = api_key_create(user=user_ensure(username="faults-admin", role=User.Role.ADMIN))
    auth = {"Authorization": f"Bearer {key}"}
    status, kb = http_json(
        "POST",
        f"{fault_stack.base_url}/api/v1/knowledge-bases",
        {"name": "Faults", "visibility": "public"},  # visitors name it anonymously
        auth,
    )
    assert status == 201
    for title, text in (("Refund timing", REFUNDS), ("Shipping costs", SHIPPING)):
        status, doc = http_json(
            "POST",
            f"{fault_stack.base_url}/api/v1/knowledge-bases/{kb['id']}/documents",
            {"title": title, "text": text},
            auth,
        )
        assert status == 202
        assert wait_for_document(fault_stack.base_url, doc["id"], key)["status"] == "ready"
    return int(kb["id"])


def _conversation(stack: FaultStack, kb: int) -> dict[str, Any]:
    status, conv = http_json(
        "POST", f"{stack.base_url}/api/v1/conversations", {"knowledge_base_ids": [kb]}
    )
    assert status == 201
    return conv


def _send(socket: Any, text: str) -> str:
    msg_id = str(uuid.uuid4())
    socket.send(json.dumps({"type": "message.send", "client_msg_id": msg_id, "text": text}))
    return msg_id


def _answering_in_progress(conversation_id: str) -> bool:
    return (
        PipelineStep.objects.filter(run__conversation_id=conversation_id, stage="answering")
        .exclude(status=PipelineStep.Status.DONE)
        .exists()
    )


def _turn_end(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return next(f for f in frames if f["type"] == "turn.completed")


def test_a_killed_answering_process_is_replaced_and_the_next_turn_is_answered(
    fault_stack, knowledge_base
):
    # given: a turn whose answerer is writing
    conv = _conversation(fault_stack, knowledge_base)
    worker = fault_stack.procs["worker"]
    with open_socket(fault_stack.ws_url, conv["websocket_url"]) as socket:
        first_id = _send(socket, "How long do refunds take?")
        _until(lambda: _answering_in_progress(conv["id"]), 60, "answering started", every=0.02)
        children = pool_children(worker.pid)
        assert len(children) == 1
        # when: its pool process is killed mid-answer
        kill(children[0])
        killed_at = time.monotonic()
        replaced = _until(
            lambda: [p for p in pool_children(worker.pid) if p != children[0]], 30, "replacement"
        )
        healthy_s = _until(
            lambda: fault_stack.health()[0] == 200 and time.monotonic() - killed_at,
            60,
            "healthy again",
        )
        first = read_until(socket, lambda f: f["type"] == "turn.completed", timeout=150)
        first_ended_s = time.monotonic() - killed_at
        # and the visitor asks the next question
        sent_at = time.monotonic()
        second_id = _send(socket, "How much does standard shipping cost?")
        second = read_until(socket, lambda f: f["type"] == "turn.completed", timeout=150)
        second_s = time.monotonic() - sent_at
    # then: both turns answered, each once, and every visitor message stored
    runs = list(PipelineRun.objects.filter(conversation_id=conv["id"]).order_by("id"))
    assert [(r.status, r.question.client_msg_id) for r in runs] == [
        (PipelineRun.Status.COMPLETED, uuid.UUID(first_id)),
        (PipelineRun.Status.COMPLETED, uuid.UUID(second_id)),
    ]
    assert [_turn_end(first)["outcome"], _turn_end(second)["outcome"]] == ["answered", "answered"]
    assert [_turn_end(first)["turn_id"], _turn_end(second)["turn_id"]] == [r.pk for r in runs]
    stored = list(
        Message.objects.filter(conversation_id=conv["id"])
        .order_by("id")
        .values_list("role", "client_msg_id")
    )
    assert stored == [
        ("visitor", uuid.UUID(first_id)),
        ("bot", None),
        ("visitor", uuid.UUID(second_id)),
        ("bot", None),
    ]
    assert [r.answer_id is not None for r in runs] == [True, True]
    # the killed stage ran again on the same step row, once more
    steps = list(PipelineStep.objects.filter(run=runs[0]).values_list("stage", "attempt", "status"))
    assert sorted(steps) == sorted({(s, a, "done") for s, a, _ in steps})
    log = (LOG_DIR / "faults-worker.log").read_text(errors="replace")
    assert "lost its worker: requeued once" in log
    assert "Timed out waiting for UP message" not in log
    assert len(replaced) == 1
    assert first_ended_s < 120
    _record(
        "sigkill_answering_pool_process",
        {
            "killed_turn_ended_after_kill_s": round(first_ended_s, 1),
            "replacement_ready_healthz_200_after_kill_s": round(healthy_s, 1),
            "next_turn_answered_in_s": round(second_s, 1),
            "killed_turn_outcome": _turn_end(first)["outcome"],
        },
    )


def test_a_turn_whose_dispatch_was_lost_is_sent_again_by_the_sweeper(
    fault_stack, knowledge_base, dispatched
):
    # given: the message is stored and its run committed, but the chain never reached the broker
    # (the web process died between the commit and the dispatch)
    from chatapp.assistant.services import visitor_message_receive

    conv = _conversation(fault_stack, knowledge_base)
    message, _ = visitor_message_receive(
        conversation_id=conv["id"], text="How long do refunds take?", client_msg_id=uuid.uuid4()
    )
    run = PipelineRun.objects.get(conversation_id=conv["id"])
    assert len(dispatched) == 1
    started = time.monotonic()
    # when: beat's sweeps find it stalled
    _until(
        lambda: (
            PipelineRun.objects.filter(pk=run.pk)
            .exclude(status=PipelineRun.Status.RUNNING)
            .exists()
        ),
        TURN_STALL_S + 90,
        "the lost turn ended",
        every=0.5,
    )
    ended_s = time.monotonic() - started
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.COMPLETED
    assert run.answer is not None
    assert list(
        Message.objects.filter(conversation_id=conv["id"]).order_by("id").values_list("role", "pk")
    ) == [("visitor", message.pk), ("bot", run.answer.pk)]
    log = (LOG_DIR / "faults-worker.log").read_text(errors="replace")
    assert f"sweeper sends stalled run {run.pk} again" in log
    _record("lost_dispatch", {"turn_answered_after_commit_s": round(ended_s, 1)})


def test_a_redis_restart_mid_turn_ends_the_turn_and_the_next_one_is_answered(
    fault_stack, knowledge_base
):
    # given: a turn whose answerer is writing
    conv = _conversation(fault_stack, knowledge_base)
    with open_socket(fault_stack.ws_url, conv["websocket_url"]) as socket:
        first_id = _send(socket, "How long do refunds take?")
        _until(lambda: PipelineRun.objects.filter(conversation_id=conv["id"]).exists(), 30, "run")
        _until(lambda: _answering_in_progress(conv["id"]), 60, "answering started", every=0.02)
        # when: Redis (broker and channel layer) restarts, on its port, with its append-only file
        embedded.stop_redis(fault_stack.redis_dir)
        restarted_at = time.monotonic()
        embedded.ensure_redis(fault_stack.redis_dir, append_only=True)
    run = PipelineRun.objects.get(conversation_id=conv["id"])
    _until(
        lambda: (
            PipelineRun.objects.filter(pk=run.pk)
            .exclude(status=PipelineRun.Status.RUNNING)
            .exists()
        ),
        120 + SWEEP_INTERVAL_S + 30,  # the deadline plus a sweep
        "the turn ended",
        every=0.5,
    )
    ended_s = time.monotonic() - restarted_at
    run.refresh_from_db()
    # and the visitor asks again (in a new conversation if the first turn was handed off)
    if run.status != PipelineRun.Status.COMPLETED:
        conv = _conversation(fault_stack, knowledge_base)
    sent_at = time.monotonic()
    with open_socket(fault_stack.ws_url, conv["websocket_url"]) as socket:
        second_id = _send(socket, "How much does standard shipping cost?")
        second = read_until(socket, lambda f: f["type"] == "turn.completed", timeout=150)
    second_s = time.monotonic() - sent_at
    # then
    assert run.status in (PipelineRun.Status.COMPLETED, PipelineRun.Status.FAILED)
    assert Message.objects.filter(client_msg_id=uuid.UUID(first_id)).count() == 1
    assert Message.objects.filter(client_msg_id=uuid.UUID(second_id)).count() == 1
    assert _turn_end(second)["outcome"] == "answered"
    _record(
        "redis_restart_mid_answer",
        {
            "turn_ended_after_restart_s": round(ended_s, 1),
            "turn_outcome": run.status,
            "next_turn_answered_in_s": round(second_s, 1),
        },
    )


def _messages(stack: FaultStack, conv: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation's messages as a reconnecting client reads them (REST, visitor token)."""
    status, body = http_json(
        "GET",
        f"{stack.base_url}/api/v1/conversations/{conv['id']}",
        headers={"X-Conversation-Token": conv["token"]},
    )
    assert status == 200
    return list(body["messages"])


def test_a_web_server_restart_mid_stream_loses_nothing_and_the_client_resumes(
    fault_stack, knowledge_base
):
    # given: a turn whose answer is being written, followed over the web server's socket
    conv = _conversation(fault_stack, knowledge_base)
    port = int(fault_stack.base_url.rsplit(":", 1)[1])
    socket = open_socket(fault_stack.ws_url, conv["websocket_url"])
    first_id = _send(socket, "How long do refunds take?")
    _until(lambda: _answering_in_progress(conv["id"]), 60, "answering started", every=0.02)
    # when: the web server dies (SIGKILL: no goodbye to any socket) and is started again
    web = fault_stack.procs["web"]
    kill(web.pid)
    web.wait(timeout=20)
    killed_at = time.monotonic()
    socket.close()
    fault_stack.procs["web"] = start(web_argv(port), fault_stack.env, "faults-web-restarted")
    wait_healthy(f"{fault_stack.base_url}/healthz", [fault_stack.procs["web"]])
    serving_s = time.monotonic() - killed_at
    # and the client reconnects, then catches up from the API as the browser client does
    with open_socket(fault_stack.ws_url, conv["websocket_url"]) as socket:
        reconnected_s = time.monotonic() - killed_at
        messages = _until(
            lambda: (m := _messages(fault_stack, conv)) and m[-1]["role"] != "visitor" and m,
            120,
            "the interrupted turn's answer or hand-off",
            every=0.5,
        )
        first_visible_s = time.monotonic() - killed_at
        run = PipelineRun.objects.get(conversation_id=conv["id"])
        # and asks the next question on the new socket (the first turn's last frames may still
        # arrive on it: wait for the next turn's end)
        sent_at = time.monotonic()
        second_id = _send(socket, "How much does standard shipping cost?")
        second = read_until(
            socket, lambda f: f["type"] == "turn.completed" and f["turn_id"] != run.pk, 150
        )
        second_s = time.monotonic() - sent_at
    # then: the visitor's message was stored once, the turn ended (the workers never needed the
    # web server), and the next turn was answered over the new socket
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.COMPLETED
    assert Message.objects.filter(client_msg_id=uuid.UUID(first_id)).count() == 1
    assert [(m["role"], m.get("client_msg_id")) for m in messages] == [
        ("visitor", first_id),
        ("bot", None),
    ]
    assert messages[1]["id"] == run.answer_id
    assert _turn_end(second)["outcome"] == "answered"
    assert Message.objects.filter(client_msg_id=uuid.UUID(second_id)).count() == 1
    _record(
        "web_server_restart_mid_stream",
        {
            "web_serving_again_after_kill_s": round(serving_s, 1),
            "client_reconnected_after_kill_s": round(reconnected_s, 1),
            "interrupted_turn_visible_after_kill_s": round(first_visible_s, 1),
            "interrupted_turn_outcome": run.status,
            "next_turn_answered_in_s": round(second_s, 1),
        },
    )


def test_a_document_whose_indexing_process_is_killed_is_indexed_again(fault_stack):
    # given: a long document being embedded
    key = api_key_create(user=user_ensure(username="faults-admin", role=User.Role.ADMIN))
    auth = {"Authorization": f"Bearer {key}"}
    _, kb = http_json(
        "POST", f"{fault_stack.base_url}/api/v1/knowledge-bases", {"name": "Bulk"}, auth
    )
    sections = [
        f"## Section {i}\n\n"
        + f"Order {i} ships from warehouse {i % 7} within {i % 5 + 1} days. " * 12
        for i in range(150)
    ]
    status, doc = http_json(
        "POST",
        f"{fault_stack.base_url}/api/v1/knowledge-bases/{kb['id']}/documents",
        {"title": "Bulk", "text": "# Bulk\n\n" + "\n\n".join(sections)},
        auth,
    )
    assert status == 202
    worker = fault_stack.procs["worker"]
    _until(
        lambda: Document.objects.filter(pk=doc["id"], status=Document.Status.INDEXING).exists(),
        60,
        "indexing started",
        every=0.02,
    )
    # when: the pool process embedding it is killed
    kill(pool_children(worker.pid)[0])
    killed_at = time.monotonic()
    final = wait_for_document(fault_stack.base_url, doc["id"], key, timeout=120)
    ready_s = time.monotonic() - killed_at
    # then
    assert (final["status"], final["error"] or "") == ("ready", "")
    indexed = Document.objects.get(pk=doc["id"])
    assert indexed.chunk_count == Chunk.objects.filter(document=indexed).count() > 50
    log = (LOG_DIR / "faults-worker.log").read_text(errors="replace")
    assert "index_document" in log.split("lost its worker: requeued once")[-2][-300:]
    _record("sigkill_indexing_pool_process", {"document_ready_after_kill_s": round(ready_s, 1)})


def test_healthz_says_so_while_no_worker_serves_and_while_pool_processes_die_at_start(
    fault_stack, tmp_path
):
    # given: the worker stops
    stop([fault_stack.procs.pop("worker")])
    # when
    _, body = _until(
        lambda: (h := fault_stack.health())[0] == 503 and h, 20, "health without a worker"
    )
    # then
    assert {k: v for k, v in body["checks"].items() if k.startswith("worker:")} == {
        f"worker:{q}": "no worker" for q in QUEUES.split(",")
    }
    assert body["status"] == "unavailable"

    # given: a worker whose replacement pool processes never report ready (the bug this fixed)
    flag = tmp_path / "slow-start"
    slow = start(
        worker_argv(QUEUES, f"slow-{uuid.uuid4().hex[:6]}", app="tests.e2e.slow_start:app"),
        {**fault_stack.env, "CHATAPP_WARM": "", "CHATAPP_TEST_SLOW_START_FLAG": str(flag)},
        "faults-slow-worker",
    )
    fault_stack.procs["slow"] = slow
    _until(lambda: fault_stack.health()[0] == 200, 60, "slow worker up")
    flag.touch()
    kill(pool_children(slow.pid)[0])
    killed_at = time.monotonic()
    # when
    _, body = _until(
        lambda: (h := fault_stack.health())[0] == 503 and h, 20, "health of a dying pool"
    )
    detected_s = time.monotonic() - killed_at
    time.sleep(6)  # past Celery's 4 s start-up timeout: the replacement was killed in turn
    status_later, later = fault_stack.health()
    flag.unlink()
    recovered_s = _until(
        lambda: fault_stack.health()[0] == 200 and time.monotonic() - killed_at,
        60,
        "slow worker recovered",
    )
    # then
    not_ready = "no pool process ready (0 of 1; starting or restarting)"
    assert body["checks"]["worker:answering"] == not_ready
    assert (status_later, later["checks"]["worker:answering"]) == (503, not_ready)
    log = (LOG_DIR / "faults-slow-worker.log").read_text(errors="replace")
    assert "Timed out waiting for UP message" in log
    _record(
        "healthz",
        {
            "dying_pool_reported_503_after_s": round(detected_s, 1),
            "healthz_200_after_the_slow_start_ended_s": round(recovered_s, 1),
        },
    )
