"""Copilot for agents on the real stack: uvicorn, Postgres, Redis, a Celery worker, small models.

The agent holding a conversation asks for a suggested reply; the three stages draft it on the
worker; only the staff socket hears of it, and nothing is stored in the conversation. Then the
same in the console, in Chromium: click, see the suggestion, insert it into the reply box.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from chatapp.assistant.models import PipelineRun
from tests.e2e.conftest import SHOTS
from tests.e2e.helpers import http_json, open_socket, read_until, wait_for_document

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# As in test_turn.py: short, plain passages the small answerer copies faithfully.
REFUNDS = "# Refund timing\n\nRefunds take 5 to 10 business days."
QUESTION = "How long do refunds take?"
SUGGESTION_TIMEOUT_S = 180
MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
QUIET_S = 3  # how long the visitor's socket is watched for anything after the suggestion


@dataclass
class Held:
    conversation_id: str
    websocket_url: str
    agent: User
    auth: dict[str, str]


@pytest.fixture
def held(stack) -> Held:
    """A conversation on a small knowledge base, claimed by an agent before the visitor wrote."""
    admin_key = api_key_create(user=user_ensure(username="e2e-admin", role=User.Role.ADMIN))
    admin = {"Authorization": f"Bearer {admin_key}"}
    _, kb = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases",
        {"name": f"Copilot {uuid.uuid4().hex[:6]}", "visibility": "public"},
        admin,
    )
    _, doc = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases/{kb['id']}/documents",
        {"title": "Refund timing", "text": REFUNDS},
        admin,
    )
    assert wait_for_document(stack.base_url, doc["id"], admin_key)["status"] == "ready"
    agent = user_ensure(username="cleo", role=User.Role.AGENT, password="cleo-pass-1")
    auth = {"Authorization": f"Bearer {api_key_create(user=agent)}"}
    _, conv = http_json(
        "POST", f"{stack.base_url}/api/v1/conversations", {"knowledge_base_ids": [kb["id"]]}
    )
    status, _ = http_json(
        "POST", f"{stack.base_url}/api/v1/conversations/{conv['id']}/assign", {}, auth
    )
    assert status == 200
    return Held(conv["id"], conv["websocket_url"], agent, auth)


def _staff_socket(stack, conversation_id: str, user: User) -> ClientConnection:
    """The conversation's socket as a logged-in staff browser opens it (session cookie)."""
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return connect(
        f"{stack.ws_url}/ws/conversations/{conversation_id}/",
        origin=Origin(stack.base_url),
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    )


def _visitor_writes(socket: ClientConnection, text: str) -> None:
    frame = {"type": "message.send", "client_msg_id": str(uuid.uuid4()), "text": text}
    socket.send(json.dumps(frame))
    read_until(socket, lambda f: f["type"] == "message.created", timeout=15)


def _trace(turn_id: int) -> str:
    run = PipelineRun.objects.get(pk=turn_id)
    return json.dumps([(s.stage, s.output) for s in run.steps.order_by("started_at", "id")])


def test_a_suggestion_reaches_the_staff_socket_only_and_stores_nothing(stack, held):
    # given: the visitor asked while the agent held the conversation (no bot turn)
    with (
        open_socket(stack.ws_url, held.websocket_url) as visitor,
        _staff_socket(stack, held.conversation_id, held.agent) as staff,
    ):
        _visitor_writes(visitor, QUESTION)
        read_until(staff, lambda f: f["type"] == "message.created", timeout=15)

        # when
        status, body = http_json(
            "POST",
            f"{stack.base_url}/api/v1/conversations/{held.conversation_id}/copilot",
            {},
            held.auth,
        )
        assert status == 202, body
        frames = read_until(
            staff, lambda f: f["type"] == "copilot.suggestion", timeout=SUGGESTION_TIMEOUT_S
        )
        # then: the visitor's socket stays silent
        with pytest.raises(TimeoutError):
            visitor.recv(timeout=QUIET_S)

    suggestion = frames[-1]
    assert suggestion["turn_id"] == body["turn_id"]
    assert suggestion["verdict"] in ("approved", "revised"), _trace(body["turn_id"])
    assert suggestion["text"].strip()
    assert [c["title"] for c in suggestion["citations"]] == ["Refund timing"]
    assert {f["type"] for f in frames[:-1]} <= {"copilot.delta"}
    streamed = "".join(f["text"] for f in frames if f["type"] == "copilot.delta")
    assert streamed.strip() == suggestion["text"].strip()
    # no bot message was stored, the conversation is still the agent's
    _, stored = http_json(
        "GET", f"{stack.base_url}/api/v1/conversations/{held.conversation_id}", headers=held.auth
    )
    # (the system message is the notice of the claim)
    assert [m["role"] for m in stored["messages"]] == ["system", "visitor"]
    assert stored["status"] == "assigned"
    # the trace is a copilot turn of the three stages, readable again over REST
    run = PipelineRun.objects.get(pk=body["turn_id"])
    assert (run.kind, run.answer_id) == ("copilot", None)
    assert [s.stage for s in run.steps.order_by("started_at", "id")][:3] == [
        "retrieval",
        "answering",
        "review",
    ]
    _, latest = http_json(
        "GET",
        f"{stack.base_url}/api/v1/conversations/{held.conversation_id}/copilot",
        headers=held.auth,
    )
    assert latest["suggestion"]["text"] == suggestion["text"]


def _login(page: Any, base_url: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_url(f"**{next_path}")


def test_the_agent_inserts_a_suggestion_into_the_reply_box(stack, held, browser):
    # given: the visitor asked (ORM and sockets before the browser: its loop forbids the ORM)
    with open_socket(stack.ws_url, held.websocket_url) as visitor:
        _visitor_writes(visitor, QUESTION)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    path = f"/console/conversations/{held.conversation_id}/"
    _login(page, stack.base_url, "cleo", "cleo-pass-1", path)
    page.wait_for_selector("#conversation-connection[data-state=open]")

    # when: the agent asks for a suggestion, from the keyboard
    page.focus("#copilot-suggest")
    page.keyboard.press("Enter")
    page.wait_for_selector("#copilot-insert:not([hidden])", timeout=SUGGESTION_TIMEOUT_S * 1000)
    page.screenshot(path=str(SHOTS / "console-copilot-suggestion.png"), full_page=True)
    assert page.inner_text("#copilot-text").strip()
    page.click("#copilot-insert")

    # then: the reply box holds the suggestion without its passage markers, to edit and send
    _, latest = http_json(
        "GET",
        f"{stack.base_url}/api/v1/conversations/{held.conversation_id}/copilot",
        headers=held.auth,
    )
    expected = MARKERS.sub("", latest["suggestion"]["text"]).strip()
    assert expected
    assert page.input_value("#reply-input").strip() == expected
    assert page.inner_text("#copilot-sources .citation-title").strip() == "Refund timing"
    assert page.evaluate("document.activeElement.id") == "reply-input"
    page.screenshot(path=str(SHOTS / "console-copilot-inserted.png"), full_page=True)
