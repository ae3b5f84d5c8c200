"""Webhooks, metrics and logs of real turns on the running stack (uvicorn + a Celery worker).

A real HTTP receiver (``chatapp.webhooks.receiver``) on loopback gets the deliveries; /metrics
is read from the web process while the turn ran in the worker; the worker's JSON log is read.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from chatapp.webhooks.models import WebhookDelivery
from chatapp.webhooks.receiver import Receiver
from tests.e2e.conftest import SHOTS
from tests.e2e.helpers import http_json, open_socket, read_until, wait_for_document
from tests.e2e.processes import LOG_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = "e2e-webhook-secret"
EVENTS = [
    "conversation.created",
    "message.created",
    "conversation.handoff",
    "conversation.assigned",
    "conversation.closed",
]


@pytest.fixture
def admin_auth(stack) -> dict[str, str]:
    admin = user_ensure(username="hooks-admin", role=User.Role.ADMIN, password="hooks-pass-1")
    return {"Authorization": f"Bearer {api_key_create(user=admin)}"}


@pytest.fixture
def receiver() -> Any:
    server = Receiver(secret=SECRET).start()
    yield server
    server.stop()


def _register(stack, auth, url: str) -> int:
    status, body = http_json(
        "POST",
        f"{stack.base_url}/api/v1/webhooks",
        {"url": url, "secret": SECRET, "events": EVENTS},
        auth,
    )
    assert status == 201, body
    return int(body["id"])


def _metrics(stack) -> dict[str, float]:
    with urllib.request.urlopen(f"{stack.base_url}/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def _kb(stack, auth) -> int:
    _, kb = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases",
        {"name": f"Hooks {uuid.uuid4().hex[:6]}", "visibility": "public"},
        auth,
    )
    _, doc = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases/{kb['id']}/documents",
        {
            "title": "Refund timing",
            "text": "# Refund timing\n\nRefunds take 5 to 10 business days.",
        },
        auth,
    )
    key = auth["Authorization"].split()[1]
    assert wait_for_document(stack.base_url, doc["id"], key)["status"] == "ready"
    return int(kb["id"])


def test_a_turn_is_delivered_signed_counted_in_metrics_and_logged_with_its_ids(
    stack, admin_auth, receiver
):
    # given
    endpoint_id = _register(stack, admin_auth, receiver.url)
    kb_id = _kb(stack, admin_auth)
    before = _metrics(stack)
    # when: a visitor asks over the websocket; the worker runs the turn
    _, conv = http_json(
        "POST", f"{stack.base_url}/api/v1/conversations", {"knowledge_base_ids": [kb_id]}
    )
    with open_socket(stack.ws_url, conv["websocket_url"]) as socket:
        socket.send(
            json.dumps(
                {
                    "type": "message.send",
                    "client_msg_id": str(uuid.uuid4()),
                    "text": "How long do refunds take?",
                }
            )
        )
        frames = read_until(socket, lambda f: f["type"] == "turn.completed")
    turn_id, outcome = frames[-1]["turn_id"], frames[-1]["outcome"]
    # then: webhooks, all signed, in order of the changes
    ours = lambda got: [r for r in got if json.dumps(r.body).find(conv["id"]) >= 0]  # noqa: E731
    want_bot = outcome == "answered"
    got = ours(
        receiver.wait_for(
            lambda got: any(
                r.event == ("message.created" if want_bot else "conversation.handoff")
                and (not want_bot or r.body["data"]["message"]["role"] == "bot")
                for r in ours(got)
            ),
            timeout=60,
        )
    )
    assert all(r.valid for r in got)
    assert got[0].event == "conversation.created"
    assert got[0].body["data"]["conversation"]["id"] == conv["id"]
    visitor = [
        r
        for r in got
        if r.event == "message.created" and r.body["data"]["message"]["role"] == "visitor"
    ]
    assert [r.body["data"]["message"]["text"] for r in visitor] == ["How long do refunds take?"]
    assert set(got[0].body) == {"event", "created_at", "data"}
    deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
    assert {d.status for d in deliveries} == {"succeeded"}
    # then: the web process's /metrics counts the turn the worker ran
    after = _metrics(stack)
    label = f'chatapp_turns_total{{outcome="{outcome}"}}'
    assert after[label] == before.get(label, 0) + 1
    stage_count = 'chatapp_stage_duration_seconds_count{stage="retrieval"}'
    assert after[stage_count] >= before.get(stage_count, 0) + 1
    assert 'chatapp_queue_depth{queue="webhooks"}' in after
    if outcome == "answered":  # approved sentences reached the visitor: a first token
        first = "chatapp_first_token_seconds_count"
        assert after[first] == before.get(first, 0) + 1
    assert after['chatapp_webhook_attempts_total{result="delivered"}'] >= len(got)
    # then: every worker log line of this turn carries both ids
    lines = [
        json.loads(line)
        for line in (LOG_DIR / "worker.log").read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]
    of_turn = [line for line in lines if line.get("turn_id") == turn_id]
    task_ids = {line["task_id"] for line in of_turn if line.get("task_id")}
    by_task = [line for line in lines if line.get("task_id") in task_ids]
    assert len(of_turn) >= 6, of_turn  # received + succeeded per stage, at least
    assert {line["task_name"] for line in of_turn if line.get("task_name")} >= {
        "workers.tasks.retrieval.retrieve_context",
        "workers.tasks.answering.generate_answer",
        "workers.tasks.review.review_answer",
    }
    assert all(line.get("turn_id") == turn_id for line in by_task), by_task
    # The watchdog's "received" line has only its run id: its message holds nothing else.
    assert all(
        line.get("conversation_id") == conv["id"]
        for line in of_turn
        if not (
            line.get("task_name", "").endswith("turn_watchdog")
            and line["logger"] == "celery.worker.strategy"
        )
    ), of_turn


def test_a_receiver_down_for_a_while_loses_nothing(stack, admin_auth):
    # given: a receiver that is registered, then goes away (its port closed)
    receiver = Receiver(secret=SECRET).start()
    port = int(receiver.url.split(":")[2].split("/")[0])
    endpoint_id = _register(stack, admin_auth, receiver.url)
    receiver.stop()
    # when: 5 conversations start while it is down
    ids = [
        http_json("POST", f"{stack.base_url}/api/v1/conversations", {})[1]["id"] for _ in range(5)
    ]
    time.sleep(6)  # attempts 1-3 fail (1 s, then 3 s later)
    failed_meanwhile = WebhookDelivery.objects.filter(
        endpoint_id=endpoint_id, attempts__gte=2
    ).count()
    back = Receiver(secret=SECRET).start(port=port)
    try:
        got = back.wait_for(
            lambda got: (
                {
                    r.body["data"]["conversation"]["id"]
                    for r in got
                    if r.event == "conversation.created"
                }
                >= set(ids)
            ),
            timeout=60,
        )
    finally:
        back.stop()
    # then: each event arrived once, signed, after retries
    created = [r for r in got if r.event == "conversation.created"]
    assert sorted(r.body["data"]["conversation"]["id"] for r in created) == sorted(ids)
    assert all(r.valid for r in created)
    assert failed_meanwhile == 5
    deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
    assert [d.status for d in deliveries] == ["succeeded"] * 5
    assert all(d.attempts >= 3 for d in deliveries)


def test_the_dashboard_page_shows_deliveries_and_redelivers(stack, admin_auth, receiver, browser):
    # given: an endpoint with one delivered event
    endpoint_id = _register(stack, admin_auth, receiver.url)
    http_json("POST", f"{stack.base_url}/api/v1/conversations", {})
    receiver.wait_for(lambda got: len(got) >= 1, timeout=30)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.base_url}/accounts/login/?next=/dashboard/webhooks/")
    page.fill("#id_username", "hooks-admin")
    page.fill("#id_password", "hooks-pass-1")
    page.click("#login-submit")
    page.wait_for_url("**/dashboard/webhooks/")
    page.wait_for_selector("#webhook-deliveries tr[data-status=succeeded]")
    page.screenshot(path=str(SHOTS / "dashboard-webhooks.png"), full_page=True)
    # when: redeliver the newest delivery with the keyboard
    first = page.locator("#webhook-deliveries tbody tr").first
    delivery_id = first.get_attribute("data-delivery-id")
    first.get_by_role("button", name=f"Redeliver delivery {delivery_id}").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".notice")
    # then
    assert f"Delivery {delivery_id} queued again" in page.inner_text(".notices")
    receiver.wait_for(lambda got: len(got) >= 2, timeout=30)
    mobile = browser.new_page(viewport={"width": 390, "height": 844})
    mobile.context.add_cookies(page.context.cookies())
    mobile.goto(f"{stack.base_url}/dashboard/webhooks/")
    mobile.screenshot(path=str(SHOTS / "dashboard-webhooks-mobile.png"), full_page=True)
    assert endpoint_id
