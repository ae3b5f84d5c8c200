"""A pool process reports ready at once; its models load in a thread the first task waits for."""

from __future__ import annotations

import threading
import time

from workers.tasks import warmup


class Loaded:
    name = "fake-embedder"


def test_the_fork_hook_returns_before_the_models_are_loaded_and_a_task_waits_for_them(
    monkeypatch, settings
):
    # given: an embedder whose load takes until we release it
    settings.CHATAPP_TORCH_THREADS = 0
    release = threading.Event()
    calls = []

    def slow_embedder():
        calls.append(threading.current_thread().name)
        release.wait(10)
        return Loaded()

    monkeypatch.setattr("chatapp.knowledge.embedding.embedder", slow_embedder)
    monkeypatch.setenv("CHATAPP_WARM", "embedder")
    monkeypatch.setattr(warmup, "_warm_done", None)  # restored after the test
    waited: list[bool] = []

    def wait() -> None:
        warmup.wait_for_models()
        waited.append(True)

    # when
    started = time.monotonic()
    warmup.start_warmup()
    returned_after = time.monotonic() - started
    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    blocked = waiter.is_alive()
    release.set()
    waiter.join(5)
    # then
    assert returned_after < 0.5
    assert blocked is True
    assert waiter.is_alive() is False
    assert waited == [True]
    assert calls == ["warm-models"]


def test_a_failed_warm_up_does_not_block_tasks(monkeypatch, settings):
    # given
    settings.CHATAPP_TORCH_THREADS = 0

    def broken():
        raise OSError("weights missing")

    monkeypatch.setattr("chatapp.knowledge.embedding.embedder", broken)
    done = threading.Event()
    # when
    warmup.warm_models(["embedder"], done)
    # then
    assert done.is_set()


def test_no_warm_up_started_means_no_wait(monkeypatch):
    # given: a process where the fork hook never ran (eager calls, tests)
    monkeypatch.setattr(warmup, "_warm_done", None)
    # when
    started = time.monotonic()
    warmup.wait_for_models()
    # then
    assert time.monotonic() - started < 0.1
