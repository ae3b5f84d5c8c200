"""``make serve``: the production profile on services the operator runs.

Starts N uvicorn web processes (one port, uvicorn's own process manager) and one Celery worker per
queue spec against ``DATABASE_URL`` and ``REDIS_URL``, plus celery beat, and keeps them running: a
process that exits is started again (with a growing pause if it keeps dying). It never starts the
embedded Postgres/Redis of ``make run``. ``--role`` splits the profile across machines: ``web`` on
the web hosts, ``workers`` on the GPU hosts, ``beat`` on exactly one.

Without systemd, this is the runner; with it, ``deploy/`` has one unit per process instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

from chatapp.launcher import beat_command, choose_engines, say, web_command, worker_commands

# One Celery worker per queue: a stalled answer never delays retrieval, indexing or the sweep, and
# a slow webhook receiver never delays any of them.
DEFAULT_SERVE_WORKERS = "retrieval:1;answering:1;review:1;indexing:1;watchdog:1;webhooks:1"
ROLES = ("all", "web", "workers", "beat")
RESTART_PAUSE_MAX_S = 30.0
HEALTHY_UPTIME_S = 60.0  # a process that ran this long starts again at once after a crash
STOP_GRACE_S = 30.0  # Celery finishes the task at hand on SIGTERM (acks_late covers the rest)
MISSING_SERVICES = (
    "make serve runs against the operator's services: set DATABASE_URL (PostgreSQL >= 15 with "
    "pgvector) and REDIS_URL; `make run` is the one with embedded servers."
)


@dataclass
class Child:
    """One supervised process: how to start it, and its restart bookkeeping."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    pause_s: float = 0.0
    restart_at: float | None = None
    restarts: int = 0

    def start(self) -> None:
        # Its own process group: when it dies, what it forked (uvicorn's workers, Celery's pool)
        # is killed with it, so that orphans do not keep the port or take tasks.
        self.proc = subprocess.Popen(self.argv, env=self.env, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None

    def kill_group(self) -> None:
        """SIGKILL whatever is left of its process group."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chatapp.serve", description=__doc__)
    parser.add_argument(
        "--role", choices=ROLES, default=os.environ.get("CHATAPP_SERVE_ROLE", "all")
    )
    parser.add_argument(
        "--web-workers",
        type=int,
        default=int(os.environ.get("CHATAPP_WEB_WORKERS", "2")),
        help="uvicorn processes (default CHATAPP_WEB_WORKERS or 2)",
    )
    parser.add_argument("--host", default=os.environ.get("CHATAPP_HOST", "127.0.0.1"))
    parser.add_argument("--port", default=os.environ.get("CHATAPP_PORT", "8000"))
    parser.add_argument(
        "--workers",
        default=os.environ.get("CHATAPP_SERVE_WORKERS", DEFAULT_SERVE_WORKERS),
        help="Celery workers, queues[:concurrency] separated by ';' (default: one per queue)",
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="skip `migrate` and `collectstatic` (another host ran them for this release)",
    )
    return parser.parse_args(argv)


def serve_web_command(host: str, port: str, processes: int) -> list[str]:
    """The uvicorn command: ``processes`` workers behind a reverse proxy (see deploy/nginx.conf)."""
    forwarded = os.environ.get("CHATAPP_FORWARDED_ALLOW_IPS", "127.0.0.1")
    return [
        *web_command(host, port),
        "--workers",
        str(processes),
        # The proxy's X-Forwarded-For/-Proto are trusted from these addresses only.
        "--proxy-headers",
        "--forwarded-allow-ips",
        forwarded,
        "--timeout-graceful-shutdown",
        "20",
    ]


def children(args: argparse.Namespace, env: dict[str, str]) -> list[Child]:
    """The processes of ``args.role``."""
    result: list[Child] = []
    if args.role in ("all", "web"):
        # A pool of warm connections per web process (settings._database: web only).
        web_env = {**env, "DJANGO_DB_POOL": env.get("DJANGO_DB_POOL", "true")}
        argv = serve_web_command(args.host, args.port, args.web_workers)
        result.append(Child("web", argv, web_env))
    if args.role in ("all", "workers"):
        specs = [spec for spec in args.workers.split(";") if spec.strip()]
        for name, argv, extra in worker_commands(specs):
            result.append(Child(name, argv, {**env, **extra}))
    if args.role in ("all", "beat"):
        result.append(Child("beat", beat_command(), env))
    return result


def _prepare(args: argparse.Namespace) -> None:
    """Migrations and static files (web hosts), model checks and the engine check (workers)."""
    from django.conf import settings
    from django.core.management import call_command

    if not args.no_migrate and args.role in ("all", "web"):
        say("migrating…")
        call_command("migrate", interactive=False, verbosity=0)
        say("collecting static files…")
        call_command("collectstatic", interactive=False, verbosity=0)
    if args.role in ("all", "workers"):
        call_command("check_models")
        choose_engines()
    if not settings.CHATAPP_PRODUCTION:
        say(
            "not the production settings: DJANGO_SETTINGS_MODULE=chatapp.config.settings.production"
        )


def supervise(procs: list[Child], *, poll_s: float = 1.0) -> None:
    """Start every process; start again any that exits, pausing longer if it keeps dying."""
    for child in procs:
        child.start()
    while True:
        now = time.monotonic()
        for child in procs:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    say(f"starting {child.name} again (restart {child.restarts})")
                    child.start()
                continue
            code = child.proc.poll() if child.proc is not None else None
            if code is None:
                continue
            child.kill_group()
            quick = now - child.started_at < HEALTHY_UPTIME_S
            child.pause_s = min(RESTART_PAUSE_MAX_S, max(1.0, child.pause_s * 2)) if quick else 0.0
            child.restarts += 1
            child.restart_at = now + child.pause_s
            say(f"{child.name} exited with code {code}; restarting in {child.pause_s:.0f} s")
        time.sleep(poll_s)


def stop_all(procs: list[Child]) -> None:
    """SIGTERM every process, then SIGKILL those still running after the grace period."""
    running = [c.proc for c in procs if c.proc is not None and c.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    for child in procs:
        child.kill_group()


def main(argv: list[str] | None = None) -> int:
    """Run the profile in the foreground until SIGTERM/SIGINT."""
    args = _parse(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.config.settings.production")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        say(MISSING_SERVICES)
        return 2
    import django

    django.setup()
    _prepare(args)
    if args.role == "all":  # this host's whole stack starts: its metric files start empty
        from django.conf import settings

        from chatapp.observability.exposition import reset_metrics_dir

        reset_metrics_dir(settings.CHATAPP_METRICS_DIR)
    procs = children(args, dict(os.environ))
    say(f"role {args.role}: " + ", ".join(child.name for child in procs))

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        say("stopping…")
        stop_all(procs)
        say("stopped")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if args.role in ("all", "web"):
        say(f"web on http://{args.host}:{args.port}/ ({args.web_workers} processes)")
    supervise(procs)
    return 0  # pragma: no cover - supervise returns only through stop()


if __name__ == "__main__":
    raise SystemExit(main())
