"""The production profile (`make serve`) on real external services, as an operator runs it.

``python -m chatapp.serve`` with the production settings, 2 uvicorn processes and one Celery worker
per queue, against the Redis server this machine kind runs on 127.0.0.1:6379 (an external server,
not the embedded one) and a PostgreSQL given by URL: a fresh database on the test suite's
PostgreSQL + pgvector, which the profile migrates itself. A visitor turn and a hand-off to an agent
go through it over HTTP and websockets, with the small real models.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import http_json, open_socket, read_until, wait_for_document
from tests.e2e.processes import (
    LOG_DIR,
    ROOT,
    database_url,
    free_port,
    start,
    stop,
    wait_healthy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXTERNAL_REDIS = ("127.0.0.1", 6379)
SKIP_NO_REDIS = (
    "the production-profile test runs against an external Redis server on 127.0.0.1:6379 "
    "(this machine kind runs one); none answers here: {error}"
)
CLAIM_KEY = "chatapp:test:production-profile"
REFUNDS = "# Refund timing\n\nRefunds take 5 to 10 business days."


@dataclass
class Profile:
    base_url: str
    ws_url: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes]


def _external_redis_db() -> Iterator[int]:
    """A logical database of the external Redis that nothing else uses, emptied afterwards."""
    import redis

    probe = redis.Redis(*EXTERNAL_REDIS, socket_connect_timeout=2)
    try:
        probe.ping()
    except redis.RedisError as error:
        pytest.skip(SKIP_NO_REDIS.format(error=error))
    # The server is shared with whatever else runs on this machine: take an empty database and
    # mark it taken (the mark expires, should this test die without cleaning up).
    for db in range(15, 0, -1):
        client = redis.Redis(*EXTERNAL_REDIS, db=db)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, os.getpid(), nx=True, ex=3600):
            try:
                yield db
            finally:
                client.flushdb()
            return
    pytest.skip("no empty logical database on the external Redis at 127.0.0.1:6379")


def _fresh_database(settings_dict: dict[str, Any]) -> Iterator[str]:
    """A new database on the test PostgreSQL server (with pgvector), dropped afterwards."""
    import psycopg

    name = f"chatapp_prod_{uuid.uuid4().hex[:8]}"
    admin_url = database_url({**settings_dict, "NAME": "postgres"})
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url({**settings_dict, "NAME": name})
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def profile(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Profile]:
    from django.conf import settings
    from django.db import connection

    from workers.inference.prepare import prepare

    prepare("test", Path(settings.CHATAPP_MODELS_DIR))
    with django_db_blocker.unblock():
        settings_dict = dict(connection.settings_dict)
    redis_dbs = _external_redis_db()
    redis_db = next(redis_dbs)
    databases = _fresh_database(settings_dict)
    db_url = next(databases)
    port = free_port()
    models = Path(settings.CHATAPP_MODELS_DIR)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CHATAPP_", "CELERY_"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front of this test
        "DATABASE_URL": db_url,
        "REDIS_URL": f"redis://{EXTERNAL_REDIS[0]}:{EXTERNAL_REDIS[1]}/{redis_db}",
        "CHATAPP_VAR_DIR": str(ROOT / "var" / "test" / f"serve-{port}"),
        "CHATAPP_MODELS_DIR": str(models),
        # The small test models, as the rest of the end-to-end suite uses them.
        "CHATAPP_LLM_MODEL": str(models / "smollm2-135m-instruct"),
        "CHATAPP_REVIEW_MODEL": str(models / "smollm2-135m-instruct"),
        "CHATAPP_LLM_ENGINE": "torch",
        "CHATAPP_TORCH_THREADS": "1",
        "CHATAPP_ANSWER_MAX_TOKENS": "40",
        "CHATAPP_REVIEW_THRESHOLD": "0.2",
        "CHATAPP_REDIS_APPEND_ONLY": "no",
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "chatapp.serve", "--port", str(port), "--web-workers", "2"]
    proc = start(argv, env, "serve")
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", [proc])
        yield Profile(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", env, proc)
    finally:
        stop([proc])
        for cleanup in (databases, redis_dbs):
            next(cleanup, None)
        shutil.rmtree(env["CHATAPP_VAR_DIR"], ignore_errors=True)


def _api_key(profile: Profile, username: str, role: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", username, "--role", role],
        env=profile.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1]


def test_the_profile_runs_two_web_processes_and_a_worker_per_queue(profile):
    # when
    status, health = http_json("GET", f"{profile.base_url}/healthz")

    # then
    assert status == 200, health
    assert set(health["checks"]) >= {
        "worker:retrieval",
        "worker:answering",
        "worker:review",
        "worker:watchdog",
        "worker:indexing",
    }
    [workers] = _uvicorn_managers(profile).values()
    assert len(workers) == 2
    log = (LOG_DIR / "serve.log").read_text(errors="replace")
    assert "role all: web, worker[retrieval], worker[answering]" in log


def test_a_visitor_turn_and_a_hand_off_to_an_agent(profile):
    # given: a knowledge base indexed by the profile's indexing worker
    admin = {"Authorization": f"Bearer {_api_key(profile, 'ops-admin', 'admin')}"}
    agent_key = _api_key(profile, "ops-agent", "agent")
    agent = {"Authorization": f"Bearer {agent_key}"}
    status, kb = http_json(
        "POST",
        f"{profile.base_url}/api/v1/knowledge-bases",
        {"name": "Production help", "visibility": "public"},
        admin,
    )
    assert status == 201, kb
    status, doc = http_json(
        "POST",
        f"{profile.base_url}/api/v1/knowledge-bases/{kb['id']}/documents",
        {"title": "Refund timing", "text": REFUNDS},
        admin,
    )
    assert status == 202, doc
    assert wait_for_document(profile.base_url, doc["id"], agent_key)["status"] == "ready"
    status, conv = http_json(
        "POST", f"{profile.base_url}/api/v1/conversations", {"knowledge_base_ids": [kb["id"]]}
    )
    assert status == 201, conv

    with open_socket(profile.ws_url, conv["websocket_url"]) as socket:
        # when: the visitor asks; the turn runs on the retrieval, answering and review workers
        socket.send(json.dumps({"type": "message.send", "text": "How long do refunds take?"}))
        turn = read_until(socket, lambda f: f["type"] == "turn.completed")
        # then
        assert turn[0]["type"] == "message.created"
        assert turn[-1]["outcome"] in ("answered", "handed_off"), turn

        # when: the visitor asks for a person, and an agent claims and replies over REST (any
        # of the two web processes), which reaches the visitor's socket through Redis
        socket.send(json.dumps({"type": "message.send", "text": "I want to talk to a person"}))
        read_until(socket, lambda f: f["type"] == "conversation.handoff", timeout=60)
        claim_url = f"{profile.base_url}/api/v1/conversations/{conv['id']}/assign"
        status, claimed = http_json("POST", claim_url, {}, agent)
        assert status == 200, claimed
        reply_url = f"{profile.base_url}/api/v1/conversations/{conv['id']}/messages"
        status, _ = http_json("POST", reply_url, {"text": "Hello, I can help."}, agent)
        assert status == 201
        frames = read_until(
            socket,
            lambda f: f["type"] == "message.created" and f["message"]["role"] == "agent",
            timeout=30,
        )

    # then
    assert frames[-1]["message"]["text"] == "Hello, I can help."
    _, detail = http_json(
        "GET",
        f"{profile.base_url}/api/v1/conversations/{conv['id']}",
        headers={"X-Conversation-Token": conv["token"]},
    )
    assert detail["status"] == "assigned"
    assert [m["role"] for m in detail["messages"]][-1] == "agent"


def _processes() -> list[tuple[int, int, str]]:
    """``(pid, parent pid, command line)`` of every process (Linux /proc)."""
    rows = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent pid is the 4th field of stat, after the "(name)" that may hold spaces.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # it exited meanwhile
        rows.append((int(entry.name), ppid, args))
    return rows


def _uvicorn_managers(profile: Profile) -> dict[int, list[int]]:
    """The profile's uvicorn manager processes, each with its worker processes (spawned by
    multiprocessing; not counting its resource tracker)."""
    rows = _processes()
    managers = [pid for pid, ppid, args in rows if ppid == profile.proc.pid and "uvicorn" in args]
    return {
        manager: [pid for pid, ppid, args in rows if ppid == manager and "spawn_main" in args]
        for manager in managers
    }


def test_a_web_process_that_dies_is_replaced_with_its_workers_and_serves_again(profile):
    # given: the uvicorn manager process under the profile, and its two workers
    import signal

    [(manager, workers)] = _uvicorn_managers(profile).items()

    # when: the manager is killed, as an OOM kill would
    os.kill(manager, signal.SIGKILL)

    # then: its orphaned workers are stopped, a new manager starts, and the site answers again
    deadline = time.monotonic() + 120
    status = 0
    while time.monotonic() < deadline:
        managers = _uvicorn_managers(profile)
        if managers and manager not in managers:
            try:
                status, _ = http_json("GET", f"{profile.base_url}/healthz", timeout=5)
            except OSError:
                status = 0
            if status == 200:
                break
        time.sleep(1)
    assert status == 200
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    log = (LOG_DIR / "serve.log").read_text(errors="replace")
    assert "web exited with code -9; restarting" in log
