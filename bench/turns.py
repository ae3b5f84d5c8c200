"""Whole turns over websockets, as a visitor gets them: the running stack with the default models.

Starts uvicorn and the Celery workers the way ``make run`` does (one retrieval worker, one
answering+review worker holding one LLM copy) on the bench database with the demo help centre,
then asks each question in a new conversation over ``/ws/conversations/<id>/`` and times:
- first visible: from sending the message to the first ``answer.delta`` (a sentence the reviewer
  approved), for turns that showed one;
- turn: from sending to ``turn.completed``, for every turn;
and counts the outcomes (answered, escalated, failed: a turn reaching its deadline counts here).
Sets: the demo questions (answerable and out of scope) and two-part questions (longer prompts:
each part brings its own passages).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from bench.common import (
    BENCH_DB,
    REPO_ROOT,
    Progress,
    Table,
    ensure_database,
    percentile,
    run_info,
    setup_django,
    write_results,
)

START_TIMEOUT_S = 600  # the first start converts nothing, but loads ~2 GB of weights per worker
TURN_TIMEOUT_S = 600
LOG_DIR = REPO_ROOT / "var" / "bench" / "logs"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_json(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _start(env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    celery = [sys.executable, "-m", "celery", "-A", "chatapp.config"]
    subprocess.run(
        [*celery, "purge", "-f", "-Q", "retrieval,watchdog,indexing,answering,review"],
        env=env,
        cwd=REPO_ROOT,
        check=False,
        capture_output=True,
        timeout=60,
    )
    commands = [
        (
            "retrieval",
            # /healthz wants every queue served; indexing and the watchdog ride along here
            [
                *celery,
                "worker",
                "-Q",
                "retrieval,watchdog,indexing",
                "-c",
                "1",
                "-n",
                f"bench-r-{port}@%h",
            ],
            "embedder",
        ),
        (
            "answering",
            [*celery, "worker", "-Q", "answering,review", "-c", "1", "-n", f"bench-a-{port}@%h"],
            "llm",
        ),
        (
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "chatapp.config.asgi:application",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            "",
        ),
    ]
    procs = []
    for name, argv, warm in commands:
        if name != "web":
            argv = [*argv, "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        log = (LOG_DIR / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                argv,
                env={**env, "CHATAPP_WARM": warm},
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a process of the stack exited; logs in {LOG_DIR}")
        status, _ = (
            _http_json("GET", f"http://127.0.0.1:{port}/healthz") if _port_open(port) else (0, None)
        )
        if status == 200:
            return procs
        time.sleep(2)
    raise RuntimeError(f"stack not healthy after {START_TIMEOUT_S}s; logs in {LOG_DIR}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _turn(port: int, kb: int, question: str) -> dict[str, Any]:
    from websockets.sync.client import connect
    from websockets.typing import Origin

    status, conv = _http_json(
        "POST", f"http://127.0.0.1:{port}/api/v1/conversations", {"knowledge_base_ids": [kb]}
    )
    if status != 201:
        raise RuntimeError(f"conversation not created: {status} {conv}")
    base = f"ws://127.0.0.1:{port}"
    with connect(
        base + conv["websocket_url"], origin=Origin(f"http://127.0.0.1:{port}"), open_timeout=10
    ) as ws:
        sent = time.perf_counter()
        ws.send(json.dumps({"type": "message.send", "text": question}))
        first = None
        answer = ""
        reason = ""
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            kind = frame["type"]
            if kind == "answer.delta" and first is None:
                first = time.perf_counter() - sent
            elif kind == "message.created" and frame["message"]["role"] == "bot":
                answer = frame["message"]["text"]
            elif kind == "conversation.handoff":
                reason = frame["reason"]
                if reason == "visitor_request":  # "talk to a person": no turn runs at all
                    return {
                        "question": question,
                        "outcome": "escalated",
                        "reason": reason,
                        "first_visible_s": None,
                        "turn_s": time.perf_counter() - sent,
                        "answer": "",
                    }
            elif kind == "turn.completed":
                return {
                    "question": question,
                    "outcome": frame["outcome"],
                    "reason": reason,
                    "first_visible_s": first,
                    "turn_s": time.perf_counter() - sent,
                    "answer": answer,
                }
    return {
        "question": question,
        "outcome": "timeout",
        "reason": "",
        "first_visible_s": first,
        "turn_s": float(TURN_TIMEOUT_S),
        "answer": "",
    }


def run(quick: bool = False) -> dict[str, Any]:
    from bench.answers import _sets
    from bench.machine import cpu_features
    from chatapp.core import embedded

    redis_url, _ = embedded.ensure_redis(REPO_ROOT / "var")
    os.environ["REDIS_URL"] = redis_url
    setup_django(BENCH_DB)
    from bench.corpus import demo_kb_ensure
    from chatapp.knowledge.embedding import embedder
    from chatapp.knowledge.models import KnowledgeBase

    kb, _ = demo_kb_ensure(embedder())
    # The bench asks as an anonymous visitor, as on the demo site: the help centre is public.
    KnowledgeBase.objects.filter(pk=kb).update(visibility=KnowledgeBase.Visibility.PUBLIC)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.base",
        "DATABASE_URL": ensure_database(BENCH_DB),
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    if quick:
        env.setdefault(
            "CHATAPP_LLM_MODEL", str(REPO_ROOT / "var" / "models" / "smollm2-135m-instruct")
        )
    port = _free_port()
    # The sets on the demo knowledge base (the one this stack serves); CHATAPP_BENCH_TURN_SETS
    # picks some of them (a 40-turn demo run takes ~25 min on 2 AVX2 cores).
    wanted = os.environ.get("CHATAPP_BENCH_TURN_SETS", "demo,two-part").split(",")
    sets = {name: items for name, _, items in _sets(quick) if name in wanted}
    data: dict[str, Any] = {
        **run_info(),
        "cpu": cpu_features(),
        "llm": env.get("CHATAPP_LLM_MODEL", "default"),
    }
    procs = _start(env, port)
    rows = []
    try:
        progress = Progress("turns", sum(len(v) for v in sets.values()), "turns")
        for name, items in sets.items():
            results = []
            for item in items:
                results.append({**_turn(port, kb, item["question"]), "kind": item["kind"]})
                progress.advance(note=name)
            data[name] = results
            firsts = [r["first_visible_s"] for r in results if r["first_visible_s"] is not None]
            turns = [r["turn_s"] for r in results]
            outcomes = {
                o: sum(r["outcome"] == o for r in results)
                for o in ("answered", "escalated", "failed", "timeout")
            }
            rows.append(
                [
                    name,
                    len(results),
                    outcomes["answered"],
                    outcomes["escalated"],
                    outcomes["failed"] + outcomes["timeout"],
                    percentile(firsts, 50),
                    percentile(firsts, 95),
                    percentile(turns, 50),
                    percentile(turns, 95),
                ]
            )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    table = Table(
        "Turns over websockets (the running stack, one question at a time)",
        [
            "set",
            "turns",
            "answered",
            "escalated",
            "failed or deadline",
            "first visible p50 s",
            "p95",
            "turn p50 s",
            "p95",
        ],
        rows,
        note="First visible: the first answer.delta (the first sentence the reviewer approved). "
        "CPU: " + json.dumps(data["cpu"]),
    )
    write_results("turns-quick" if quick else "turns", data, [table])
    return data
