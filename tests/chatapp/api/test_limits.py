"""Rate limits of the REST API (real Redis counters): 429, Retry-After, scopes kept apart."""

from __future__ import annotations

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.services import conversation_assign
from chatapp.knowledge.models import Document
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.factories.conversations import make_conversation
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


def _create(client, ip: str = "10.1.0.1"):
    return client.post("/api/v1/conversations", {}, content_type="application/json", REMOTE_ADDR=ip)


def test_conversation_creation_past_the_limit_gets_429_with_retry_after(client, rate_limits):
    # given
    rate_limits(conversation_create_ip="3/m")
    accepted = [_create(client) for _ in range(3)]
    # when
    refused = _create(client)
    # then
    assert [r.status_code for r in accepted] == [201, 201, 201]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert 59 <= error["retry_after"] <= 60
    assert refused["Retry-After"] == str(error["retry_after"])
    assert "conversation_create_ip" in error["detail"]
    assert Conversation.objects.count() == 3


def test_each_address_has_its_own_count(client, rate_limits):
    # given
    rate_limits(conversation_create_ip="1/m")
    assert _create(client, "10.1.0.2").status_code == 201
    assert _create(client, "10.1.0.2").status_code == 429
    # when
    other = _create(client, "10.1.0.3")
    # then
    assert other.status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, rate_limits, settings):
    # given: one proxy in front; every request comes from its address
    settings.CHATAPP_PROXY_COUNT = 1
    rate_limits(conversation_create_ip="1/m")
    first = client.post(
        "/api/v1/conversations",
        {},
        content_type="application/json",
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="203.0.113.1",
    )
    # when
    second_visitor = client.post(
        "/api/v1/conversations",
        {},
        content_type="application/json",
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.2",
    )
    same_again = client.post(
        "/api/v1/conversations",
        {},
        content_type="application/json",
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="203.0.113.1",
    )
    # then
    assert (first.status_code, second_visitor.status_code) == (201, 201)
    assert same_again.status_code == 429


def test_every_api_call_counts_against_the_address_but_health_does_not(client, rate_limits):
    # given
    rate_limits(api_ip="2/m")
    conversation, token = make_conversation()
    url = f"/api/v1/conversations/{conversation.pk}"
    # when
    reads = [client.get(url, HTTP_X_CONVERSATION_TOKEN=token) for _ in range(3)]
    health = client.get("/healthz")
    # then
    assert [r.status_code for r in reads] == [200, 200, 429]
    assert health.status_code in (200, 503)  # not 429: probes are never limited


def test_staff_messages_and_notes_share_the_staff_limit(client, rate_limits):
    # given
    rate_limits(message_staff="2/m")
    agent = AgentFactory.create()
    key = api_key_create(user=agent)
    conversation, _ = make_conversation()
    conversation_assign(conversation=conversation, agent=agent, by=agent)
    base = f"/api/v1/conversations/{conversation.pk}"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    # when
    sent = client.post(f"{base}/messages", {"text": "Hi"}, "application/json", **headers)
    note = client.post(f"{base}/notes", {"text": "VIP"}, "application/json", **headers)
    refused = client.post(f"{base}/messages", {"text": "Again"}, "application/json", **headers)
    # then
    assert (sent.status_code, note.status_code, refused.status_code) == (201, 201, 429)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert list(Message.objects.filter(role="agent").values_list("text", flat=True)) == ["Hi"]


def test_uploads_are_limited_per_staff_member(client, rate_limits, indexed_later):
    # given
    rate_limits(upload_user="1/m")
    kb = KnowledgeBaseFactory.create()
    first_admin = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=AdminFactory.create())}"}
    other_admin = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=AdminFactory.create())}"}
    url = f"/api/v1/knowledge-bases/{kb.pk}/documents"
    body = {"title": "Refunds", "text": "Refunds take 5 days."}
    # when
    accepted = client.post(url, body, "application/json", **first_admin)
    refused = client.post(url, {**body, "title": "Other"}, "application/json", **first_admin)
    refused_import = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports",
        b'{"title": "A", "text": "B"}\n',
        "application/x-ndjson",
        **first_admin,
    )
    other = client.post(url, {**body, "title": "Theirs"}, "application/json", **other_admin)
    # then
    assert accepted.status_code == 202
    assert (refused.status_code, refused_import.status_code) == (429, 429)
    assert other.status_code == 202
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Refunds", "Theirs"]
