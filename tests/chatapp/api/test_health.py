from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_health_is_503_and_names_the_queues_without_workers(client):
    # given: the real database and broker, but no Celery worker running yet
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "ok"
    assert body["missing"] == [
        "worker:retrieval",
        "worker:answering",
        "worker:review",
        "worker:watchdog",
        "worker:indexing",
    ]
    assert body["status"] == "unavailable"


def test_health_says_the_broker_is_unreachable(client, monkeypatch):
    # given: a broker address nothing listens on
    from chatapp.config.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:9/0")
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["broker"].startswith("unreachable")
    assert checks["worker:answering"] == "unknown (no broker)"


def _reply(queues, *, ready=1, processes=1, lost=0):
    return {
        "queues": queues,
        "processes": processes,
        "ready": ready,
        "lost": lost,
        "lost_window_s": 300,
    }


def test_health_names_the_queues_whose_workers_cannot_take_tasks(client, monkeypatch):
    # given: one healthy worker, one whose pool processes never become ready (killed at start),
    # one whose pool processes keep dying
    from chatapp.config.celery import app

    replies = [
        {"retrieval@h": _reply(["retrieval", "watchdog"])},
        {"answering@h": _reply(["answering", "review"], ready=0)},
        {"indexing@h": _reply(["indexing"], lost=3)},
    ]
    monkeypatch.setattr(app.control, "broadcast", lambda *args, **kwargs: replies)
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {
        "database": "ok",
        "broker": "ok",
        "worker:retrieval": "ok",
        "worker:answering": "no pool process ready (0 of 1; starting or restarting)",
        "worker:review": "no pool process ready (0 of 1; starting or restarting)",
        "worker:watchdog": "ok",
        "worker:indexing": "pool processes keep dying (3 lost in 300 s)",
    }
    assert body["missing"] == ["worker:answering", "worker:review", "worker:indexing"]


def test_health_is_ok_when_each_queue_has_one_worker_able_to_take_tasks(client, monkeypatch):
    # given: a second answering worker is restarting, the first serves
    from chatapp.config.celery import app

    replies = [
        {"a@h": _reply(["retrieval", "watchdog", "indexing"])},
        {"b@h": _reply(["answering", "review"], ready=0, processes=2)},
        {"c@h": _reply(["answering", "review"], ready=1, processes=2, lost=1)},
        {"old@h": {"error": "unknown command"}},
    ]
    monkeypatch.setattr(app.control, "broadcast", lambda *args, **kwargs: replies)
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "broker": "ok",
            "worker:retrieval": "ok",
            "worker:answering": "ok",
            "worker:review": "ok",
            "worker:watchdog": "ok",
            "worker:indexing": "ok",
        },
    }
