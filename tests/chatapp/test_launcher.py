"""`make run`'s launcher: the LLM engine check before the workers start."""

from __future__ import annotations

import subprocess
import sys

from chatapp import launcher


class FakeRun:
    def __init__(self, returncode=0):
        self.returncode = returncode
        self.commands = []

    def __call__(self, command, check):
        self.commands.append(command)
        return subprocess.CompletedProcess(command, self.returncode)


def test_the_engine_check_runs_once_per_local_model(settings, monkeypatch, capsys):
    # given
    settings.CHATAPP_LLM_ENGINE = "auto"
    settings.CHATAPP_LLM_MODEL = "var/models/qwen"
    settings.CHATAPP_REVIEW_MODEL = "var/models/qwen"
    settings.CHATAPP_TORCH_THREADS = 1
    settings.CHATAPP_DEVICE = ""
    run = FakeRun()
    monkeypatch.setattr("chatapp.launcher.subprocess.run", run)
    # when
    launcher.choose_engines()
    # then
    assert run.commands == [
        [
            sys.executable,
            "-m",
            "workers.inference.engine_check",
            "--model",
            "var/models/qwen",
            "--threads",
            "1",
        ]
    ]
    assert "engine check for qwen" in capsys.readouterr().out


def test_no_engine_check_for_a_server_or_a_fixed_engine(settings, monkeypatch, capsys):
    # given
    run = FakeRun()
    monkeypatch.setattr("chatapp.launcher.subprocess.run", run)
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = "openai:http://gpu:8000/v1#m"
    settings.CHATAPP_LLM_ENGINE = "auto"
    # when
    launcher.choose_engines()
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = "var/models/qwen"
    settings.CHATAPP_LLM_ENGINE = "ct2"
    launcher.choose_engines()
    # then
    assert run.commands == []
    assert "LLM engine set by CHATAPP_LLM_ENGINE=ct2: no check" in capsys.readouterr().out


def test_a_failed_engine_check_does_not_stop_the_start(settings, monkeypatch, capsys):
    # given
    settings.CHATAPP_LLM_ENGINE = "auto"
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = "var/models/qwen"
    monkeypatch.setattr("chatapp.launcher.subprocess.run", FakeRun(returncode=1))
    # when
    launcher.choose_engines()
    # then
    assert "engine check failed (see above); workers use the default rule instead" in (
        capsys.readouterr().out
    )


def test_the_default_layout_serves_every_queue_and_beat_sends_the_sweep(settings):
    # given
    settings.CHATAPP_WORKERS = ["retrieval,watchdog:1", "indexing:1", "answering,review:1"]
    settings.CHATAPP_TORCH_THREADS = 0  # torch's default: the retriever gets the query threads
    settings.CHATAPP_QUERY_THREADS = 1
    # when
    workers = launcher.worker_commands()
    beat = launcher.beat_command()
    # then
    assert [(name, argv[argv.index("-Q") + 1], env) for name, argv, env in workers] == [
        (
            "worker[retrieval,watchdog]",
            "retrieval,watchdog",
            {"CHATAPP_WARM": "embedder", "CHATAPP_TORCH_THREADS": "1"},
        ),
        ("worker[indexing]", "indexing", {"CHATAPP_WARM": "embedder"}),
        ("worker[answering,review]", "answering,review", {"CHATAPP_WARM": "llm"}),
    ]
    served = {q for _, argv, _ in workers for q in argv[argv.index("-Q") + 1].split(",")}
    assert served == {"retrieval", "watchdog", "indexing", "answering", "review"}
    assert beat == [
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
    assert settings.CELERY_BEAT_SCHEDULE["sweep-stuck-work"]["task"] == (
        "workers.tasks.sweep.sweep_stuck"
    )


def test_a_set_torch_thread_count_holds_for_every_worker(settings):
    # given
    settings.CHATAPP_WORKERS = ["retrieval,watchdog:1", "answering,review:1"]
    settings.CHATAPP_TORCH_THREADS = 2
    # when
    workers = launcher.worker_commands()
    # then: no worker overrides it (each reads the setting)
    assert all("CHATAPP_TORCH_THREADS" not in env for _, _, env in workers)


def test_make_run_serves_the_widget_demo_host_page_and_allows_its_origin(db, monkeypatch):
    # given: a free port for the sample host page
    import socket
    import urllib.request

    from chatapp.widget import demo_host
    from chatapp.widget.selectors import widget_origin_patterns

    servers = []
    real_serve = demo_host.serve

    def serve(*args, **kwargs):
        servers.append(real_serve(*args, **kwargs))
        return servers[-1]

    monkeypatch.setattr(demo_host, "serve", serve)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    try:
        # when
        url = launcher._start_widget_demo("127.0.0.1", "8000", port)
        assert url is not None
        with urllib.request.urlopen(url) as response:  # noqa: S310  (loopback)
            page = response.read().decode()
        # then
        assert url == f"http://127.0.0.1:{port}/"
        assert widget_origin_patterns() == [f"http://127.0.0.1:{port}"]
        assert '<script src="http://127.0.0.1:8000/widget.js"' in page
        assert "Widget demo    " + url in launcher._banner("127.0.0.1", "8000", url)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_taken_demo_host_port_only_skips_the_demo(db, capsys):
    # given: the port is taken
    import socket

    from chatapp.widget.models import WidgetOrigin

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        # when
        url = launcher._start_widget_demo("127.0.0.1", "8000", port)
    # then
    assert url is None
    assert f"widget demo host page not started on port {port}" in capsys.readouterr().out
    assert not WidgetOrigin.objects.exists()
    assert "Widget demo" not in launcher._banner("127.0.0.1", "8000", None)
