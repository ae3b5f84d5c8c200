"""``POST``/``GET /api/v1/conversations/<id>/copilot``: ask for a suggested reply, read it back.

Who may call it is in tests/chatapp/accounts/test_authz_matrix.py; here, what it does and the
bad input it refuses. Dispatch to the broker is recorded (``dispatched``); the stages themselves
are in tests/chatapp/assistant/test_copilot.py and tests/e2e/test_copilot.py.
"""

from __future__ import annotations

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.assistant.models import PipelineRun
from chatapp.conversations.services import (
    conversation_assign,
    conversation_close,
    visitor_message_create,
)
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def held():
    """A conversation held by an agent, with one visitor message, and the agent's key."""
    agent = AgentFactory.create()
    conversation, token = make_conversation()
    conversation_assign(conversation=conversation, agent=agent, by=agent)
    visitor_message_create(
        conversation=conversation, text="How long do refunds take?", client_msg_id=None
    )
    return conversation, token, {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=agent)}"}


def _url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/copilot"


def test_asking_returns_202_with_the_turn_and_starts_a_copilot_run(
    client, held, dispatched, committed
):
    # given
    conversation, _, auth = held
    # when
    with committed():
        response = client.post(_url(conversation), {}, content_type="application/json", **auth)
    # then
    assert response.status_code == 202, response.content
    body = response.json()
    run = PipelineRun.objects.get(pk=body["turn_id"])
    assert (run.kind, run.status, body["status"]) == ("copilot", "running", "running")
    assert [r.question for r in dispatched] == ["How long do refunds take?"]


def test_the_latest_suggestion_is_readable_for_a_console_that_reconnects(client, held, dispatched):
    # given
    conversation, _, auth = held
    empty = client.get(_url(conversation), **auth).json()
    turn_id = client.post(_url(conversation), content_type="application/json", **auth).json()[
        "turn_id"
    ]
    running = client.get(_url(conversation), **auth).json()
    suggestion = {"text": "5 to 10 days.", "citations": [], "verdict": "approved", "reason": ""}
    PipelineRun.objects.filter(pk=turn_id).update(status="completed", suggestion=suggestion)

    # when
    done = client.get(_url(conversation), **auth).json()

    # then
    assert empty == {"turn_id": None, "status": None, "suggestion": None}
    assert running == {"turn_id": turn_id, "status": "running", "suggestion": None}
    assert done == {"turn_id": turn_id, "status": "completed", "suggestion": suggestion}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{oops", "application/json", 400, "invalid_json"),
        ('{"text": "write this"}', "application/json", 400, "invalid_request"),
        ("[]", "application/json", 400, "invalid_request"),
        ("a=b", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bad_bodies_are_refused_and_start_nothing(
    client, held, dispatched, body, content_type, status, code
):
    # given
    conversation, _, auth = held
    # when
    response = client.post(_url(conversation), body, content_type=content_type, **auth)
    # then
    assert response.status_code == status
    assert set(response.json()["error"]) >= {"code", "detail"}
    assert response.json()["error"]["code"] == code
    assert not PipelineRun.objects.filter(kind="copilot").exists()


def test_a_conversation_the_visitor_has_not_written_in_has_nothing_to_answer(client, dispatched):
    # given
    agent = AgentFactory.create()
    conversation, _ = make_conversation()
    conversation_assign(conversation=conversation, agent=agent, by=agent)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=agent)}"}
    # when
    response = client.post(_url(conversation), content_type="application/json", **auth)
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "nothing_to_answer"


def test_a_closed_conversation_and_an_unknown_one_are_refused(client, held, dispatched):
    # given
    conversation, _, auth = held
    conversation.refresh_from_db()
    conversation_close(conversation=conversation, by=conversation.assignee)
    # when
    closed = client.post(_url(conversation), content_type="application/json", **auth)
    unknown = client.post(
        "/api/v1/conversations/00000000-0000-0000-0000-000000000000/copilot",
        content_type="application/json",
        **auth,
    )
    # then
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "closed")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert not PipelineRun.objects.filter(kind="copilot").exists()


def test_the_visitors_token_does_not_open_the_copilot(client, held, dispatched):
    # given
    conversation, token, _ = held
    # when
    asked = client.post(
        _url(conversation), content_type="application/json", HTTP_X_CONVERSATION_TOKEN=token
    )
    read = client.get(_url(conversation), HTTP_X_CONVERSATION_TOKEN=token)
    # then
    assert asked.status_code == read.status_code == 401
    assert not PipelineRun.objects.filter(kind="copilot").exists()


def test_the_openapi_document_describes_the_copilot(client):
    # when
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    # then
    assert set(paths["/api/v1/conversations/{conversation_id}/copilot"]) == {"get", "post"}
