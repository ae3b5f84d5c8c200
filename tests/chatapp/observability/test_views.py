"""/metrics: who may read it, and what it says (every process's files plus scrape-time state)."""

from __future__ import annotations

import pytest
from django.test import Client

from chatapp.observability import metrics
from chatapp.observability.exposition import drop_dead_processes

pytestmark = pytest.mark.django_db


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_loopback_reads_the_metrics_without_a_token(client):
    # given
    before = _value(client.get("/metrics").content.decode(), 'chatapp_handoffs_total{reason="t"}')
    metrics.HANDOFFS.labels(reason="t").inc()
    # when
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert _value(text, 'chatapp_handoffs_total{reason="t"}') == before + 1
    for name in (
        "chatapp_queue_depth",
        "chatapp_indexing_backlog",
        "chatapp_webhook_backlog",
        'chatapp_turns_total{outcome="answered"}',
        'chatapp_stage_duration_seconds_bucket{le="0.05",stage="retrieval"}',
        "chatapp_first_token_seconds_count",
        'chatapp_websocket_connections{kind="visitor"}',
    ):
        assert f"\n{name}" in text, name
    assert 'chatapp_queue_depth{queue="answering"}' in text


def test_another_address_without_a_configured_token_is_refused(settings):
    # given
    settings.CHATAPP_METRICS_TOKEN = ""
    # when
    response = Client(REMOTE_ADDR="10.0.0.5").get("/metrics")
    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_another_address_needs_the_token(settings):
    # given
    settings.CHATAPP_METRICS_TOKEN = "scrape-me"
    remote = Client(REMOTE_ADDR="10.0.0.5")
    # when
    missing = remote.get("/metrics")
    wrong = remote.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    right = remote.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    # then
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert b"chatapp_queue_depth" in right.content


def test_a_dead_process_s_open_sockets_stop_counting(tmp_path):
    # given: the live-gauge file of a pid that does not exist, and one of this process
    import os

    (tmp_path / "gauge_livesum_999999999.db").write_bytes(b"")
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    # when
    dead = drop_dead_processes(tmp_path)
    # then
    assert dead == [999999999]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"gauge_livesum_{os.getpid()}.db"]
