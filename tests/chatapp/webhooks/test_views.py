"""The dashboard's webhook page: admins only; add, delete and redeliver through plain forms."""

from __future__ import annotations

import pytest

from chatapp.webhooks import services
from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.chatapp.webhooks.conftest import SECRET
from tests.factories.accounts import AgentFactory

pytestmark = pytest.mark.django_db
PAGE = "/dashboard/webhooks/"


def test_agents_may_not_open_the_page(client):
    # given
    client.force_login(AgentFactory.create())
    # then
    assert client.get(PAGE).status_code == 403


def test_the_page_lists_endpoints_and_deliveries(
    client, admin, webhook_dispatched, django_assert_num_queries
):
    # given
    services.webhook_endpoint_create(
        url="http://127.0.0.1:9/crm", secret=SECRET, events=["message.created"], by=admin
    )
    [delivery_id] = services.webhook_event_emit("message.created", {})
    client.force_login(admin)
    # when: session, user, endpoints with counts, deliveries
    with django_assert_num_queries(4):
        response = client.get(PAGE)
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "http://127.0.0.1:9/crm" in html
    assert f'data-delivery-id="{delivery_id}" data-status="pending"' in html
    assert SECRET not in html


def test_an_admin_adds_an_endpoint_with_the_form(client, admin):
    # given
    client.force_login(admin)
    # when
    response = client.post(
        PAGE,
        {"url": "http://127.0.0.1:9/crm", "secret": SECRET, "events": ["conversation.handoff"]},
    )
    # then
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.events, endpoint.created_by) == (
        "http://127.0.0.1:9/crm",
        ["conversation.handoff"],
        admin,
    )


def test_a_refused_url_is_shown_on_its_field(client, admin):
    # given
    client.force_login(admin)
    # when
    response = client.post(
        PAGE, {"url": "http://10.9.8.7/crm", "secret": SECRET, "events": ["message.created"]}
    )
    # then
    assert response.status_code == 400
    assert 'id="url-error"' in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


def test_redeliver_and_delete_buttons(client, admin, webhook_dispatched):
    # given
    endpoint = services.webhook_endpoint_create(
        url="http://127.0.0.1:9/crm", secret=SECRET, events=["message.created"], by=admin
    )
    [delivery_id] = services.webhook_event_emit("message.created", {})
    client.force_login(admin)
    # when
    again = client.post(f"/dashboard/webhooks/deliveries/{delivery_id}/redeliver")
    # then
    assert again.status_code == 302
    assert WebhookDelivery.objects.filter(redelivery_of_id=delivery_id).count() == 1
    # when
    deleted = client.post(f"/dashboard/webhooks/{endpoint.pk}/delete")
    # then
    assert deleted.status_code == 302
    assert WebhookEndpoint.objects.count() == WebhookDelivery.objects.count() == 0
