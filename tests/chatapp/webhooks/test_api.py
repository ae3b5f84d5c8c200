"""The webhook REST routes over HTTP (Django's test client), with an admin API key."""

from __future__ import annotations

import pytest
from django.test import Client

from chatapp.accounts.services import api_key_create
from chatapp.webhooks import services
from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.chatapp.webhooks.conftest import SECRET
from tests.factories.accounts import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=admin)}")


def _create(api: Client, **body):
    payload = {"url": "http://127.0.0.1:9/hook", "secret": SECRET, "events": ["message.created"]}
    payload.update(body)
    return api.post("/api/v1/webhooks", payload, content_type="application/json")


def test_an_admin_registers_an_endpoint_and_never_sees_the_secret_again(api):
    # when
    created = _create(api, events=["message.created", "feedback.created"])
    listed = api.get("/api/v1/webhooks")
    # then
    assert created.status_code == 201
    endpoint_id = created.json()["id"]
    assert WebhookEndpoint.objects.get(pk=endpoint_id).secret == SECRET
    assert SECRET not in created.content.decode()
    assert SECRET not in listed.content.decode()
    [row] = listed.json()["results"]
    assert row["id"] == endpoint_id
    assert row["events"] == ["message.created", "feedback.created"]
    assert row["deliveries"] == {"pending": 0, "succeeded": 0, "failed": 0}
    assert "secret" not in row
    assert api.get(f"/api/v1/webhooks/{endpoint_id}").json()["url"] == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "http://192.168.1.10/hook"}, "url"),
        ({"events": ["message.deleted"]}, "events"),
        ({"events": []}, "events"),
        ({"secret": ""}, "secret"),
        ({"secret": "a\x00b"}, "secret"),
        ({"description": "\x00"}, "description"),
    ],
)
def test_a_bad_body_is_refused_with_the_field_at_fault(api, body, field):
    # when
    response = _create(api, **body)
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [f["field"] for f in error["fields"]] == [field]
    assert WebhookEndpoint.objects.count() == 0


def test_a_missing_secret_is_refused(api):
    # when
    response = api.post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["message.created"]},
        content_type="application/json",
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "secret"


def test_deliveries_are_listed_and_can_be_sent_again(api, admin, webhook_dispatched):
    # given
    endpoint_id = _create(api).json()["id"]
    [delivery_id] = services.webhook_event_emit("message.created", {"n": 1})
    # when
    listed = api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries")
    again = api.post(f"/api/v1/webhook-deliveries/{delivery_id}/redeliver")
    pending = api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries?status=pending")
    # then
    [row] = listed.json()["results"]
    assert row["id"] == delivery_id
    assert (row["event"], row["status"], row["attempts"]) == ("message.created", "pending", 0)
    assert again.status_code == 202
    assert again.json()["redelivery_of"] == delivery_id
    assert [r["id"] for r in pending.json()["results"]] == [again.json()["id"], delivery_id]
    assert api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries?status=nope").status_code == 400


def test_deleting_an_endpoint_removes_its_deliveries(api, webhook_dispatched):
    # given
    endpoint_id = _create(api).json()["id"]
    services.webhook_event_emit("message.created", {})
    # when
    response = api.delete(f"/api/v1/webhooks/{endpoint_id}")
    # then
    assert response.json() == {"id": endpoint_id, "deleted": True}
    assert WebhookEndpoint.objects.count() == WebhookDelivery.objects.count() == 0
    assert api.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 404


def test_agents_may_not_manage_webhooks(api):
    # given
    agent_api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=AgentFactory.create())}")
    # when
    response = agent_api.post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/", "secret": "x", "events": ["message.created"]},
        content_type="application/json",
    )
    # then
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "detail": "Only admins manage webhooks.",
    }
    assert WebhookEndpoint.objects.count() == 0
