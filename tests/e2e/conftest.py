"""The running stack for end-to-end tests: a real uvicorn server and a real Celery worker.

Both are subprocesses on the test database (real Postgres + pgvector), the real Redis broker and
channel layer, and the small real models (MiniLM + SmolLM2-135M).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import (
    LOG_DIR,
    ROOT,
    database_url,
    free_port,
    kill,
    pool_children,
    purge,
    start,
    stop,
    wait_healthy,
    web_argv,
    worker_argv,
)

SHOTS = ROOT / "var" / "test" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, headless, with nothing reaching out to the network (this machine has none).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every queue the stack needs (chatapp.core.health.QUEUES, plus webhooks), all on one test worker.
QUEUES = "retrieval,answering,review,watchdog,indexing,webhooks"


@dataclass
class Stack:
    base_url: str
    ws_url: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def test_models() -> dict[str, Path]:
    """The small real models, prepared once (a no-op when `make models-test` already ran)."""
    from django.conf import settings

    from workers.inference.prepare import prepare

    return prepare("test", Path(settings.CHATAPP_MODELS_DIR))


@pytest.fixture(scope="session")
def stack(
    django_db_setup: Any, django_db_blocker: Any, test_models: dict[str, Path]
) -> Iterator[Stack]:
    """uvicorn + one Celery worker (every queue, one LLM copy) on the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.test",
        "DATABASE_URL": db_url,
        "CHATAPP_WARM": "embedder,llm",
        "PYTHONUNBUFFERED": "1",
    }
    purge(env, QUEUES)
    procs = [
        # JSON logs, as production writes them (tests/e2e/test_observability.py reads them).
        start(worker_argv(QUEUES, f"e2e-{port}"), {**env, "CHATAPP_LOG_FORMAT": "json"}, "worker"),
        start(web_argv(port), {**env, "DJANGO_DB_POOL": "true"}, "web"),  # as make run does
    ]
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", procs)
        yield Stack(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", env)
    finally:
        stop(procs)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium via Playwright. Do ORM work before it starts: its loop forbids the ORM."""
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is missing: `make browser` installs it")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


WORKER_READY_TIMEOUT_S = 120


@dataclass
class IndexWorker:
    """A Celery worker subprocess that consumes only its own indexing queue.

    Import jobs of the tests that use it go to ``queue`` (``settings.CHATAPP_INDEX_QUEUE``), so
    neither the stack's worker nor another test's takes their batches.
    """

    queue: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        """The worker's name as Celery expands it (``<queue>@<host>``)."""
        return f"{self.queue}@{socket.gethostname()}"

    def start(self) -> None:
        from chatapp.config.celery import app

        self.proc = start(worker_argv(self.queue, self.queue), self.env, self.queue)
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited; log in {LOG_DIR}")
            if app.control.ping(destination=[self.name], timeout=1.0):
                return
        raise RuntimeError(f"worker {self.name} not ready in {WORKER_READY_TIMEOUT_S}s")

    def kill(self) -> None:
        """SIGKILL the worker and its pool process, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            for child in pool_children(self.proc.pid):
                kill(child)
            kill(self.proc.pid)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None:
            stop([self.proc])


def index_worker(queue: str, *, batch_documents: int = 0) -> IndexWorker:
    """A worker for ``queue`` on the test database (call ``start()``), logging to LOG_DIR."""
    from django.db import connection

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CHATAPP_WARM": "embedder",
        "CHATAPP_INDEX_QUEUE": queue,
        "CHATAPP_INDEX_BATCH_DOCUMENTS": str(batch_documents),
        "PYTHONUNBUFFERED": "1",
    }
    purge(env, queue)
    return IndexWorker(queue=queue, env=env)
