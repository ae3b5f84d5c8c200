"""The ``pool_health`` command a worker answers /healthz with."""

from __future__ import annotations

from types import SimpleNamespace

from workers.tasks.health import pool_health


class Process:
    """A pool process as billiard shows it: alive while ``exitcode`` is None."""

    exitcode = None


def _state(pool, queues=("answering", "review")):
    task_consumer = SimpleNamespace(queues=[SimpleNamespace(name=q) for q in queues])
    return SimpleNamespace(consumer=SimpleNamespace(task_consumer=task_consumer, pool=pool))


def test_a_prefork_pool_counts_processes_that_reported_ready(monkeypatch):
    # given: two pool processes, one still starting (no UP message yet), and one lost lately
    monkeypatch.setattr("workers.tasks.health.workers_lost_recently", lambda: 1)
    up, starting = Process(), Process()
    asyn = SimpleNamespace(_pool=[up, starting], _waiting_to_start={starting})
    # when
    reply = pool_health(_state(SimpleNamespace(_pool=asyn, limit=2)))
    # then
    assert reply == {
        "queues": ["answering", "review"],
        "processes": 2,
        "ready": 1,
        "lost": 1,
        "lost_window_s": 300,
    }


def test_a_solo_pool_is_ready_when_its_worker_answers():
    # when
    reply = pool_health(_state(SimpleNamespace(limit=1), queues=("watchdog",)))
    # then
    assert (reply["queues"], reply["processes"], reply["ready"]) == (["watchdog"], 1, 1)
