"""Webhook services on the real database, delivering to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from chatapp.core.errors import ApplicationError, PermissionDenied
from chatapp.webhooks import services
from chatapp.webhooks.delivery import signature
from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint
from chatapp.webhooks.receiver import verify
from tests.chatapp.webhooks.conftest import SECRET
from tests.factories.accounts import AgentFactory

pytestmark = pytest.mark.django_db


def _endpoint(admin, url, events=("message.created",)) -> WebhookEndpoint:
    return services.webhook_endpoint_create(url=url, secret=SECRET, events=list(events), by=admin)


def test_an_event_becomes_one_delivery_per_subscribed_endpoint(
    admin, webhook_dispatched, committed
):
    # given
    a = _endpoint(admin, "http://127.0.0.1:9/a", ["message.created", "conversation.created"])
    b = _endpoint(admin, "http://127.0.0.1:9/b", ["message.created"])
    _endpoint(admin, "http://127.0.0.1:9/c", ["conversation.closed"])
    # when
    with committed():
        ids = services.webhook_event_emit("message.created", {"conversation_id": "x"})
    # then
    rows = WebhookDelivery.objects.order_by("pk")
    assert [r.endpoint_id for r in rows] == [a.pk, b.pk]
    assert sorted(ids) == [r.pk for r in rows]
    assert [i for i, _ in webhook_dispatched] == ids
    body = json.loads(rows[0].body)
    assert body["event"] == "message.created"
    assert body["data"] == {"conversation_id": "x"}
    assert set(body) == {"event", "created_at", "data"}


def test_an_event_of_a_rolled_back_change_is_never_sent(admin, webhook_dispatched, committed):
    # given
    _endpoint(admin, "http://127.0.0.1:9/a")

    # when: the change (and so the event) is rolled back
    with committed():
        try:
            with transaction.atomic():
                services.webhook_event_emit("message.created", {"n": 1})
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass
    # then
    assert WebhookDelivery.objects.count() == 0
    assert webhook_dispatched == []


def test_no_endpoint_costs_one_query_and_creates_nothing(django_assert_num_queries):
    # when
    with django_assert_num_queries(1):
        ids = services.webhook_event_emit("conversation.created", {"conversation": {}})
    # then
    assert ids == []


def test_an_inactive_endpoint_gets_nothing(admin, webhook_dispatched):
    # given
    endpoint = _endpoint(admin, "http://127.0.0.1:9/a")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    # when
    ids = services.webhook_event_emit("message.created", {})
    # then
    assert ids == []


def test_a_delivery_is_posted_signed_and_marked_succeeded(admin, receiver, webhook_dispatched):
    # given
    _endpoint(admin, receiver.url)
    [delivery_id] = services.webhook_event_emit("message.created", {"conversation_id": "c1"})
    # when
    delivery = services.webhook_delivery_attempt(delivery_id)
    # then
    assert delivery is not None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    [got] = receiver.events()
    assert got.valid
    assert got.event == "message.created"
    assert got.raw.decode() == delivery.body
    assert got.headers["X-Chatapp-Delivery"] == str(delivery.event_id)
    timestamp = int(got.headers["X-Chatapp-Timestamp"])
    assert got.headers["X-Chatapp-Signature"] == signature(SECRET, timestamp, delivery.body)
    assert got.body["data"] == {"conversation_id": "c1"}


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    # given: a value computed independently (openssl dgst -sha256 -hmac key)
    import hashlib
    import hmac

    expected = hmac.new(b"key", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    # then
    assert signature("key", 1700000000, '{"a":1}') == f"sha256={expected}"
    assert not verify(
        "other",
        {"X-Chatapp-Timestamp": "1700000000", "X-Chatapp-Signature": f"sha256={expected}"},
        b'{"a":1}',
        now=1700000000,
    )
    assert verify(
        "key",
        {"X-Chatapp-Timestamp": "1700000000", "X-Chatapp-Signature": f"sha256={expected}"},
        b'{"a":1}',
        now=1700000000,
    )


def test_a_refusing_receiver_gets_the_delivery_again_later(
    admin, receiver, webhook_dispatched, committed
):
    # given: the receiver answers 503
    receiver.status = 503
    _endpoint(admin, receiver.url)
    [delivery_id] = services.webhook_event_emit("message.created", {})
    webhook_dispatched.clear()
    # when
    with committed():
        services.webhook_delivery_attempt(delivery_id)
    # then: pending, retried in the base delay (1 s in tests), the next attempt queued
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 503)
    assert delivery.error.startswith("HTTP 503")
    assert webhook_dispatched == [(delivery_id, 1.0)]
    assert receiver.refused == 1
    # when: due again, and the receiver is back
    receiver.status = 200
    WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
    services.webhook_delivery_attempt(delivery_id)
    # then
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 2, 200)
    assert len(receiver.events()) == 1


def test_an_attempt_not_due_yet_does_nothing(admin, receiver, webhook_dispatched):
    # given: a duplicate message arrives while the next attempt is minutes away
    _endpoint(admin, receiver.url)
    [delivery_id] = services.webhook_event_emit("message.created", {})
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    # when
    result = services.webhook_delivery_attempt(delivery_id)
    # then
    assert result is None
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == 0
    assert receiver.events() == []


def test_a_down_receiver_fails_the_delivery_after_the_last_attempt(
    admin, settings, webhook_dispatched
):
    # given: nothing listens on the port; 2 attempts allowed
    settings.CHATAPP_WEBHOOK_MAX_ATTEMPTS = 2
    _endpoint(admin, "http://127.0.0.1:9/nothing-here")
    [delivery_id] = services.webhook_event_emit("message.created", {})
    # when
    for _ in range(2):
        WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
        services.webhook_delivery_attempt(delivery_id)
    # then
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 2, None)
    assert "ConnectError" in delivery.error


def test_retries_back_off_exponentially_up_to_the_cap(settings):
    # given
    settings.CHATAPP_WEBHOOK_RETRY_BASE_S = 5
    settings.CHATAPP_WEBHOOK_RETRY_MAX_S = 3600
    # then
    assert [services.retry_delay_s(n) for n in range(1, 9)] == [
        5,
        15,
        45,
        135,
        405,
        1215,
        3600,
        3600,
    ]


def test_a_private_address_is_refused_at_delivery_without_retry(admin, webhook_dispatched):
    # given: an endpoint whose name resolves to loopback, once loopback is no longer allowed
    endpoint = _endpoint(admin, "http://localhost:9/hook")
    [delivery_id] = services.webhook_event_emit("message.created", {})
    from django.test import override_settings

    with override_settings(CHATAPP_WEBHOOK_ALLOWED_NETWORKS=[]):
        services.webhook_delivery_attempt(delivery_id)
    # then
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == "failed"
    assert delivery.error.startswith("blocked:")
    assert endpoint.url == "http://localhost:9/hook"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "must be an http:// or https:// URL with a host"),
        ("http:///nohost", "must be an http:// or https:// URL with a host"),
        ("https://user:pw@example.com/", "must not hold a user name or password"),
        ("http://10.0.0.5/hook", "resolves to a private"),
        ("http://169.254.169.254/latest/meta-data", "resolves to a private"),
        ("http://[::ffff:10.0.0.1]/", "resolves to a private"),
    ],
)
def test_bad_urls_are_refused_with_the_field(admin, url, message):
    # when
    with pytest.raises(ApplicationError) as caught:
        _endpoint(admin, url)
    # then
    assert caught.value.code == "invalid_request"
    [field] = caught.value.extra["fields"]
    assert field["field"] == "url"
    assert field["message"].startswith(message)
    assert WebhookEndpoint.objects.count() == 0


def test_private_networks_can_be_allowed_for_on_premises_receivers(admin, settings):
    # given
    settings.CHATAPP_WEBHOOK_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    # when
    endpoint = _endpoint(admin, "http://10.1.2.3/hook")
    # then
    assert endpoint.pk is not None
    with pytest.raises(ApplicationError):
        _endpoint(admin, "http://10.2.0.1/hook")


def test_unknown_events_and_empty_secrets_are_refused(admin):
    with pytest.raises(ApplicationError) as unknown:
        _endpoint(admin, "http://127.0.0.1:9/", ["message.deleted"])
    with pytest.raises(ApplicationError) as empty:
        services.webhook_endpoint_create(
            url="http://127.0.0.1:9/", secret="  ", events=["message.created"], by=admin
        )
    assert unknown.value.extra["fields"][0]["field"] == "events"
    assert empty.value.extra["fields"][0]["field"] == "secret"
    assert WebhookEndpoint.objects.count() == 0


def test_only_admins_manage_endpoints():
    agent = AgentFactory.create()
    with pytest.raises(PermissionDenied):
        services.webhook_endpoint_create(
            url="http://127.0.0.1:9/", secret="x", events=["message.created"], by=agent
        )


def test_redelivery_sends_the_same_event_as_a_new_delivery(admin, receiver, webhook_dispatched):
    # given: a delivered event
    _endpoint(admin, receiver.url)
    [first_id] = services.webhook_event_emit("message.created", {"n": 1})
    services.webhook_delivery_attempt(first_id)
    first = WebhookDelivery.objects.get(pk=first_id)
    # when
    again = services.webhook_delivery_redeliver(delivery=first, by=admin)
    services.webhook_delivery_attempt(again.pk)
    # then
    again.refresh_from_db()
    assert again.status == "succeeded"
    assert (again.body, again.event_id, again.redelivery_of_id) == (
        first.body,
        first.event_id,
        first.pk,
    )
    assert [r.raw for r in receiver.events()] == [first.body.encode()] * 2


def test_the_sweep_resends_pending_deliveries_whose_task_was_lost(admin, webhook_dispatched):
    # given: one delivery long past due (its task lost), one due only now, one done
    from chatapp.config.celery import app

    app.control.purge()  # an empty broker: the lost task is not merely waiting in the queue
    endpoint = _endpoint(admin, "http://127.0.0.1:9/a")
    old, fresh, done = (services.webhook_event_emit("message.created", {})[0] for _ in range(3))
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=old).update(next_attempt_at=now - timedelta(minutes=5))
    WebhookDelivery.objects.filter(pk=done).update(
        next_attempt_at=now - timedelta(minutes=5), status="succeeded"
    )
    webhook_dispatched.clear()
    # when
    sweep = services.webhook_deliveries_sweep(now=now)
    # then
    assert sweep.redispatched == [old]
    assert webhook_dispatched == [(old, 0)]
    assert fresh != old
    assert endpoint.deliveries.count() == 3
