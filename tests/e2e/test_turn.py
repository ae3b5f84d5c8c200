"""One real turn: websocket in, retrieve → answer (streamed) → review on a real worker."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from chatapp.assistant.models import PipelineRun
from tests.e2e.helpers import http_json, open_socket, read_until, wait_for_document

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Short, plain passages: SmolLM2-135M (the test model) copies them faithfully; longer ones
# make it invent figures, which the reviewer then (rightly) escalates.
REFUNDS = "# Refund timing\n\nRefunds take 5 to 10 business days."
SHIPPING = "# Shipping costs\n\nStandard shipping costs 4.95 EUR."


@pytest.fixture
def knowledge_base(stack):
    key = api_key_create(user=user_ensure(username="e2e-admin", role=User.Role.ADMIN))
    auth = {"Authorization": f"Bearer {key}"}
    status, kb = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases",
        {"name": f"E2E {uuid.uuid4().hex[:6]}", "visibility": "public"},
        auth,
    )
    assert status == 201
    for title, text in (("Refund timing", REFUNDS), ("Shipping costs", SHIPPING)):
        status, doc = http_json(
            "POST",
            f"{stack.base_url}/api/v1/knowledge-bases/{kb['id']}/documents",
            {"title": title, "text": text},
            auth,
        )
        assert status == 202
        assert wait_for_document(stack.base_url, doc["id"], key)["status"] == "ready"
    return kb["id"]


def test_a_question_gets_a_streamed_cited_reviewed_answer_and_a_stored_trace(stack, knowledge_base):
    # given
    status, conv = http_json(
        "POST", f"{stack.base_url}/api/v1/conversations", {"knowledge_base_ids": [knowledge_base]}
    )
    assert status == 201
    msg_id = str(uuid.uuid4())
    # when
    with open_socket(stack.ws_url, conv["websocket_url"]) as socket:
        socket.send(
            json.dumps(
                {
                    "type": "message.send",
                    "client_msg_id": msg_id,
                    "text": "How long do refunds take?",
                }
            )
        )
        frames = read_until(socket, lambda f: f["type"] == "turn.completed")
    # then
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "message.created"
    assert frames[0]["message"]["client_msg_id"] == msg_id
    deltas = [f for f in frames if f["type"] == "answer.delta"]
    assert deltas, kinds
    assert kinds[-1] == "turn.completed"
    run = PipelineRun.objects.get(pk=frames[-1]["turn_id"])
    trace = [(s.stage, s.output) for s in run.steps.order_by("started_at", "id")]
    assert frames[-1]["outcome"] == "answered", json.dumps(trace, indent=1)
    bot = [
        f["message"]
        for f in frames
        if f["type"] == "message.created" and f["message"]["role"] == "bot"
    ]
    assert len(bot) == 1
    answer = bot[0]
    last_attempt = max(d["attempt"] for d in deltas)
    streamed = "".join(d["text"] for d in deltas if d["attempt"] == last_attempt).strip()
    assert answer["text"] == streamed
    assert answer["citations"], answer
    assert {c["title"] for c in answer["citations"]} <= {"Refund timing", "Shipping costs"}
    assert all(c["quote"] for c in answer["citations"])
    assert answer["review"]["verdict"] in ("approved", "revised")
    assert answer["turn_id"] == run.pk
    assert run.status == PipelineRun.Status.COMPLETED
    steps = list(run.steps.order_by("started_at", "id"))
    assert [s.stage for s in steps][:3] == ["retrieval", "answering", "review"]
    assert all(s.status == "done" and s.duration_ms is not None for s in steps)
    outputs: list[dict[str, Any]] = [s.output or {} for s in steps]
    assert outputs[0]["kind"] == "retrieval_result"
    assert outputs[0]["passages"][0]["title"] == "Refund timing"
    assert steps[1].input == outputs[0]
    assert outputs[1]["kind"] == "draft_answer"
    assert outputs[2]["kind"] == "review_verdict"
    assert run.first_token_at is not None


def test_asking_for_a_person_hands_off_without_running_models(stack, knowledge_base):
    # given
    _, conv = http_json(
        "POST", f"{stack.base_url}/api/v1/conversations", {"knowledge_base_ids": [knowledge_base]}
    )
    # when
    with open_socket(stack.ws_url, conv["websocket_url"]) as socket:
        socket.send('{"type": "message.send", "text": "I want to talk to a person"}')
        frames = read_until(socket, lambda f: f["type"] == "conversation.handoff", timeout=30)
    # then
    assert frames[-1]["reason"] == "visitor_request"
    assert PipelineRun.objects.count() == 0
    _, detail = http_json(
        "GET",
        f"{stack.base_url}/api/v1/conversations/{conv['id']}",
        headers={"X-Conversation-Token": conv["token"]},
    )
    assert detail["status"] == "waiting"
    assert [m["role"] for m in detail["messages"]] == ["visitor", "system"]


def test_health_names_every_part(stack):
    # when
    status, body = http_json("GET", f"{stack.base_url}/healthz")
    # then
    assert status == 200
    assert body["checks"] == {
        "database": "ok",
        "broker": "ok",
        "worker:retrieval": "ok",
        "worker:answering": "ok",
        "worker:review": "ok",
        "worker:watchdog": "ok",
        "worker:indexing": "ok",
    }
