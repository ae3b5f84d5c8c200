"""Real processes for end-to-end tests: the web server, Celery workers and beat, and their logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "test" / "logs"
STACK_START_TIMEOUT_S = 240
CELERY = [sys.executable, "-m", "celery", "-A", "chatapp.config"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(settings_dict: dict[str, Any]) -> str:
    """The URL of Django's connection settings, for the subprocesses (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    creds = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(settings_dict.get("HOST") or "", safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgresql://{creds}{host}{port}/{settings_dict['NAME']}"


def start(argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    """Start a process with its output in ``LOG_DIR/<log_name>.log``."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"{log_name}.log").open("wb") as log:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def worker_argv(queues: str, name: str, *, app: str = "chatapp.config") -> list[str]:
    """A Celery worker with one pool process on ``queues``."""
    return [
        *CELERY[:3],
        "-A",
        app,
        "worker",
        "-Q",
        queues,
        "-c",
        "1",
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]


def beat_argv(schedule: Path) -> list[str]:
    """Celery beat, sending the periodic sweep (CELERY_BEAT_SCHEDULE)."""
    return [*CELERY, "beat", "--schedule", str(schedule), "--loglevel", "INFO"]


def web_argv(port: int) -> list[str]:
    from chatapp.launcher import web_command

    return web_command("127.0.0.1", port)


def purge(env: dict[str, str], queues: str) -> None:
    subprocess.run(
        [*CELERY, "purge", "-f", "-Q", queues],
        env=env,
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=60,
    )


def wait_healthy(url: str, procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait for ``url`` to answer 200 while every process of ``procs`` runs."""
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


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process, then SIGKILL what has not exited 20 s later."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def pool_children(pid: int) -> list[int]:
    """The pool processes a worker's main process forked (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
