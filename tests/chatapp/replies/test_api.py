"""Saved replies over HTTP: admins write, agents read, text filled in per conversation."""

from __future__ import annotations

import json

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.replies.models import SavedReply
from chatapp.replies.services import saved_reply_create
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db

URL = "/api/v1/saved-replies"


@pytest.fixture
def admin_auth() -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=AdminFactory.create())}"}


@pytest.fixture
def agent():
    return AgentFactory.create(username="alice", first_name="Alice")


@pytest.fixture
def agent_auth(agent) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=agent)}"}


def _send(client, method, url, body, auth):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.generic(method, url, data, content_type="application/json", **auth)


def test_an_admin_adds_edits_and_deletes_a_reply(client, admin_auth):
    # when
    created = _send(
        client,
        "POST",
        URL,
        {"shortcut": "/Refund", "title": "Refunds", "body": "Hi {visitor_name}, 5 days."},
        admin_auth,
    )
    reply_id = created.json()["id"]
    edited = _send(client, "PATCH", f"{URL}/{reply_id}", {"title": "Refund timing"}, admin_auth)
    read = client.get(f"{URL}/{reply_id}", **admin_auth)
    deleted = _send(client, "DELETE", f"{URL}/{reply_id}", "", admin_auth)
    # then
    assert created.status_code == 201
    assert {k: created.json()[k] for k in ("shortcut", "title", "body")} == {
        "shortcut": "refund",
        "title": "Refunds",
        "body": "Hi {visitor_name}, 5 days.",
    }
    assert (edited.status_code, edited.json()["title"]) == (200, "Refund timing")
    assert (read.status_code, read.json()["shortcut"]) == (200, "refund")
    assert deleted.json() == {"id": reply_id, "deleted": True}
    assert SavedReply.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"shortcut": "two words", "title": "T", "body": "B"}, 400, "invalid_request", "shortcut"),
        ({"shortcut": "ok", "title": "", "body": "B"}, 400, "invalid_request", "title"),
        ({"shortcut": "ok", "title": "T", "body": "Hi {name}"}, 400, "invalid_request", "body"),
        ({"shortcut": "ok", "title": "T", "body": "x" * 4001}, 400, "invalid_request", "body"),
        ({"shortcut": "ok", "title": "T"}, 400, "invalid_request", "body"),
        ({"shortcut": "ok", "title": "T", "body": "B", "x": 1}, 400, "invalid_request", "x"),
        ({"shortcut": "taken", "title": "T", "body": "B"}, 409, "duplicate", None),
    ],
)
def test_bad_replies_are_refused_with_the_field_at_fault(
    client, admin_auth, body, status, code, field
):
    # given
    saved_reply_create(shortcut="taken", title="T", body="B", by=None)
    # when
    response = _send(client, "POST", URL, body, admin_auth)
    # then
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert field in [f["field"] for f in error["fields"]]
    assert list(SavedReply.objects.values_list("shortcut", flat=True)) == ["taken"]


def test_agents_list_but_may_not_write(client, agent_auth):
    # given
    reply = saved_reply_create(shortcut="hello", title="Hello", body="Hello!", by=None)
    # when
    listed = client.get(URL, **agent_auth)
    created = _send(client, "POST", URL, {"shortcut": "x", "title": "X", "body": "X"}, agent_auth)
    edited = _send(client, "PATCH", f"{URL}/{reply.pk}", {"title": "Hi"}, agent_auth)
    deleted = _send(client, "DELETE", f"{URL}/{reply.pk}", "", agent_auth)
    anonymous = client.get(URL)
    # then
    assert listed.status_code == 200
    assert [r["shortcut"] for r in listed.json()["results"]] == ["hello"]
    assert [r.status_code for r in (created, edited, deleted)] == [403, 403, 403]
    assert created.json()["error"]["detail"] == "Only admins change saved replies."
    assert anonymous.status_code == 401
    assert list(SavedReply.objects.values_list("title", flat=True)) == ["Hello"]


def test_listing_for_a_conversation_fills_in_the_variables(client, agent_auth):
    # given
    conversation, _ = make_conversation()
    saved_reply_create(
        shortcut="refund",
        title="Refund",
        body="Hi {visitor_name}, {agent_name} here. Refunds take 5 days.",
        by=None,
    )
    saved_reply_create(shortcut="bye", title="Bye", body="Bye!", by=None)
    # when
    response = client.get(URL, {"conversation_id": str(conversation.pk), "q": "ref"}, **agent_auth)
    # then
    assert response.status_code == 200
    body = response.json()
    assert [(r["shortcut"], r["text"]) for r in body["results"]] == [
        ("refund", "Hi there, Alice here. Refunds take 5 days.")
    ]
    assert body["variables"]["visitor_name"] == "there"
    assert body["variables"]["agent_name"] == "Alice"


def test_listing_for_an_unknown_conversation_is_404(client, agent_auth):
    # when
    response = client.get(URL, {"conversation_id": "nope"}, **agent_auth)
    # then
    assert response.status_code == 404


def test_an_unknown_reply_is_404(client, admin_auth):
    # when
    read = client.get(f"{URL}/999999", **admin_auth)
    edited = _send(client, "PATCH", f"{URL}/999999", {"title": "x"}, admin_auth)
    deleted = _send(client, "DELETE", f"{URL}/999999", "", admin_auth)
    # then
    assert [r.status_code for r in (read, edited, deleted)] == [404, 404, 404]


def test_the_management_page_is_for_admins(client, agent, admin_user):
    # given
    saved_reply_create(shortcut="refund", title="Refund timing", body="Hi {visitor_name}.", by=None)
    # when
    client.force_login(agent)
    refused = client.get("/dashboard/replies/")
    client.force_login(admin_user)
    page = client.get("/dashboard/replies/")
    # then
    assert refused.status_code == 403
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-shortcut="refund"' in html
    assert "<code>{visitor_name}</code>" in html
    assert 'data-api-url="/api/v1/saved-replies"' in html


def test_the_console_page_hooks_the_saved_replies_module(client, agent):
    # given
    conversation, _ = make_conversation()
    client.force_login(agent)
    # when
    html = client.get(f"/console/conversations/{conversation.pk}/").content.decode()
    # then
    assert 'data-saved-replies-url="/api/v1/saved-replies"' in html
    assert "console/saved_replies.js" in html
