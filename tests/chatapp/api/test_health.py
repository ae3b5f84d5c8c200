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
    assert body["missing"] == ["worker:retrieval", "worker:answering", "worker:review"]
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
