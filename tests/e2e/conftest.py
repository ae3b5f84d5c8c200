"""The running stack for end-to-end tests: a real uvicorn server and a real Celery worker.

Both are subprocesses on the test database (real Postgres + pgvector), the real Redis broker and
channel layer, and the small real models (MiniLM + SmolLM2-135M).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "test" / "logs"
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
STACK_START_TIMEOUT_S = 240
# Every queue the stack needs (chatapp.core.health.QUEUES), all on one test worker.
QUEUES = "retrieval,answering,review,watchdog,indexing"


@dataclass
class Stack:
    base_url: str
    ws_url: str
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url(settings_dict: dict[str, Any]) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    creds = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(settings_dict.get("HOST") or "", safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgresql://{creds}{host}{port}/{settings_dict['NAME']}"


def _wait_healthy(url: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STACK_START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{proc.args!r} exited with {proc.returncode}; logs in {LOG_DIR}"
                )
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310  (loopback)
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except OSError as exc:
            last = str(exc)
        time.sleep(1)
    raise RuntimeError(f"stack not healthy after {STACK_START_TIMEOUT_S}s: {last}")


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
        db_url = _database_url(connection.settings_dict)
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.test",
        "DATABASE_URL": db_url,
        "CHATAPP_WARM": "embedder,llm",
        "PYTHONUNBUFFERED": "1",
    }
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    celery = [sys.executable, "-m", "celery", "-A", "chatapp.config"]
    subprocess.run(
        [*celery, "purge", "-f", "-Q", QUEUES],
        env=env,
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=60,
    )
    procs = []
    with (LOG_DIR / "worker.log").open("wb") as wlog, (LOG_DIR / "web.log").open("wb") as hlog:
        procs.append(
            subprocess.Popen(
                [
                    *celery,
                    "worker",
                    "-Q",
                    QUEUES,
                    "-c",
                    "1",
                    "-n",
                    f"e2e-{port}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "INFO",
                ],
                env=env,
                cwd=ROOT,
                stdout=wlog,
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "chatapp.config.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=ROOT,
                stdout=hlog,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", procs)
        yield Stack(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", env)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


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
