"""``make run``: embedded services, migrations, demo data, then the web server and workers.

Ctrl-C (or SIGTERM) stops every process it started, and the embedded servers if it started them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

BASE_DIR = Path(__file__).resolve().parents[1]
HEALTH_WAIT_S = 300  # the first start of the LLM worker loads ~3 GB of weights


def say(text: str) -> None:
    print(f"[chatapp] {text}", flush=True)


def worker_commands(specs: list[str] | None = None) -> list[tuple[str, list[str], dict[str, str]]]:
    """``(name, argv, extra env)`` of a Celery worker per ``queues[:concurrency]`` spec.

    Args:
        specs: The worker specs; None reads ``CHATAPP_WORKERS``.
    """
    from django.conf import settings

    commands = []
    for spec in settings.CHATAPP_WORKERS if specs is None else specs:
        queues, _, concurrency = spec.partition(":")
        name = queues.replace(",", "+")
        warm = []
        if {"retrieval", "indexing"} & set(queues.split(",")):
            warm.append("embedder")
        if {"answering", "review"} & set(queues.split(",")):
            warm.append("llm")
        extra = {"CHATAPP_WARM": ",".join(warm)}
        if _query_sized(queues) and not settings.CHATAPP_TORCH_THREADS:
            # The retriever embeds one question and a few dozen sentences: on 2 busy cores one
            # torch thread ran its stage in 0.9 s and two in 6.2 s (bench/results/search-http.md).
            extra["CHATAPP_TORCH_THREADS"] = str(settings.CHATAPP_QUERY_THREADS)
        commands.append(
            (
                f"worker[{queues}]",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "chatapp.config",
                    "worker",
                    "-Q",
                    queues,
                    "-c",
                    concurrency or "1",
                    "-n",
                    f"{name}@%h",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                ],
                extra,
            )
        )
    return commands


def web_command(host: str, port: int | str) -> list[str]:
    """The ASGI server of one web process (also started by the end-to-end tests and benches)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "chatapp.config.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def _query_sized(queues: str) -> bool:
    """A worker whose models only embed queries and passages' sentences (no LLM, no indexing)."""
    return set(queues.split(",")) <= {"retrieval", "watchdog"}


def beat_command() -> list[str]:
    """Celery beat: sends the periodic sweep of stuck turns and documents (CELERY_BEAT_SCHEDULE)."""
    from django.conf import settings

    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "chatapp.config",
        "beat",
        "--schedule",
        settings.CELERY_BEAT_SCHEDULE_FILENAME,
        "--loglevel",
        "WARNING",
    ]


def choose_engines() -> None:
    """Measures the fastest engine for each local LLM, unless stored for this machine kind.

    See ``workers.inference.engine_check``; the workers read the stored choice.
    """
    from django.conf import settings

    if settings.CHATAPP_LLM_ENGINE != "auto":
        say(f"LLM engine set by CHATAPP_LLM_ENGINE={settings.CHATAPP_LLM_ENGINE}: no check")
        return
    for spec in sorted({settings.CHATAPP_LLM_MODEL, settings.CHATAPP_REVIEW_MODEL}):
        if spec.startswith("openai:"):
            continue
        say(f"engine check for {Path(spec).name} (about a minute, once per machine kind)…")
        command = [sys.executable, "-m", "workers.inference.engine_check", "--model", spec]
        command += ["--threads", str(settings.CHATAPP_TORCH_THREADS)]
        if settings.CHATAPP_DEVICE:
            command += ["--device", settings.CHATAPP_DEVICE]
        # A child process: the gigabytes the check loads are returned before the workers start.
        if subprocess.run(command, check=False).returncode != 0:
            say("engine check failed (see above); workers use the default rule instead")


def _login_hint(username: str) -> str:
    """The demo login to print; an existing user keeps its password (load_demo never resets it)."""
    from django.conf import settings

    if settings.CHATAPP_PRODUCTION:
        return "staff: manage.py createsuperuser (README, Production)"
    password = {
        "agent": settings.CHATAPP_DEMO_AGENT_PASSWORD,
        "admin": settings.CHATAPP_DEMO_ADMIN_PASSWORD,
    }[username]
    return f"login: {username} / {password} (unless changed since)"


def _wait_healthy(url: str, procs: list[tuple[str, subprocess.Popen[bytes]]]) -> bool:
    deadline = time.monotonic() + HEALTH_WAIT_S
    last = ""
    while time.monotonic() < deadline:
        for name, proc in procs:
            if proc.poll() is not None:
                say(f"{name} exited with code {proc.returncode}; see its output above")
                return False
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310  (our own loopback URL)
                if resp.status == 200:
                    return True
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            if body != last:
                say(f"waiting for: {body}")
                last = body
        except OSError:
            pass
        time.sleep(2)
    return False


def _banner(host: str, port: str, widget_demo: str | None) -> str:
    """What ``make run`` prints once the stack is ready: where everything is."""
    lines = [
        f"  Visitor chat   http://{host}:{port}/",
        f"  Agent console  http://{host}:{port}/console/   {_login_hint('agent')}",
        f"  Dashboard      http://{host}:{port}/dashboard/ {_login_hint('admin')}",
    ]
    if widget_demo:
        lines.append(
            f"  Widget demo    {widget_demo}  (the chat bubble on a sample shop, another origin)"
        )
    lines += [
        f"  Health         http://{host}:{port}/healthz",
        f"  API docs       docs/api.md, http://{host}:{port}/api/v1/docs",
    ]
    return "\n" + "\n".join(lines) + "\n\n  Press Ctrl-C to stop everything.\n"


def _start_widget_demo(host: str, port: str, demo_port: str) -> str | None:
    """Serve the sample host page on a second origin and allow that origin (not in production).

    Returns:
        Its URL, or None when the port is taken (the rest of the stack still starts).
    """
    from chatapp.widget import demo_host
    from chatapp.widget.services import widget_origin_ensure

    try:
        demo_host.serve(host, int(demo_port), f"http://{host}:{port}")
    except OSError as exc:
        say(f"widget demo host page not started on port {demo_port}: {exc}")
        return None
    widget_origin_ensure(f"http://{host}:{demo_port}", note="make run: sample host page")
    return f"http://{host}:{demo_port}/"


def main() -> int:
    """Run the whole stack in the foreground until interrupted."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.config.settings.base")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    var_dir = Path(os.environ.get("CHATAPP_VAR_DIR", BASE_DIR / "var"))
    host = os.environ.get("CHATAPP_HOST", "127.0.0.1")
    port = os.environ.get("CHATAPP_PORT", "8000")
    demo_port = os.environ.get("CHATAPP_DEMO_HOST_PORT", "8001")
    production = os.environ["DJANGO_SETTINGS_MODULE"].endswith(".production")
    if not production and not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        say(f"starting the embedded PostgreSQL 16 + pgvector and Redis in {var_dir}/ …")
    import django

    django.setup()  # settings start (or attach to) the embedded servers when no URLs are set
    from django.conf import settings

    started: list[str] = list(settings.EMBEDDED_STARTED)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        say("stopping…")
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        from chatapp.core import embedded

        if "redis" in started:
            embedded.stop_redis(var_dir)
        if "postgres" in started:
            embedded.stop_postgres(var_dir)
        say("stopped")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        from django.core.management import call_command

        say("migrating…")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("check_models")
        choose_engines()
        widget_demo = None
        if not settings.CHATAPP_PRODUCTION:
            call_command("load_demo")  # demo users only when missing; never in production
            widget_demo = _start_widget_demo(host, port, demo_port)
        from chatapp.observability.exposition import reset_metrics_dir

        reset_metrics_dir(settings.CHATAPP_METRICS_DIR)  # the stack's counters start at zero
        env = dict(os.environ)
        procs.append(
            (
                "web",
                subprocess.Popen(
                    web_command(host, port),
                    # A pool of warm connections (settings._database says why: web only).
                    env={"DJANGO_DB_POOL": "true", **env},
                ),
            )
        )
        for name, cmd, extra in worker_commands():
            procs.append((name, subprocess.Popen(cmd, env={**env, **extra})))
        procs.append(("beat", subprocess.Popen(beat_command(), env=env)))
        say("waiting for the web server and one worker per queue (first start loads models)…")
        if not _wait_healthy(f"http://{host}:{port}/healthz", procs):
            say("the stack did not become healthy; stopping")
            stop()
        say("ready")
        print(_banner(host, port, widget_demo), flush=True)
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    say(f"{name} exited with code {proc.returncode}")
                    stop()
            time.sleep(1)
    except SystemExit:
        raise
    except BaseException:
        stop()
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
