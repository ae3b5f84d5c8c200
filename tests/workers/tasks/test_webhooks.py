"""The webhooks queue's tasks, run in process (``task.run``) against a real receiver."""

from __future__ import annotations

import pytest
from django.conf import settings

from chatapp.webhooks import services
from chatapp.webhooks.models import WebhookDelivery
from chatapp.webhooks.receiver import Receiver
from tests.factories.accounts import AdminFactory
from workers.tasks.webhooks import deliver_webhook, sweep_webhook_deliveries

pytestmark = pytest.mark.django_db


def test_deliver_webhook_makes_one_attempt_and_reports_the_status(monkeypatch):
    # given
    monkeypatch.setattr("chatapp.webhooks.services._dispatch", lambda ids, **kw: None)
    receiver = Receiver(secret="k").start()
    try:
        services.webhook_endpoint_create(
            url=receiver.url, secret="k", events=["conversation.closed"], by=AdminFactory.create()
        )
        [delivery_id] = services.webhook_event_emit("conversation.closed", {"conversation_id": "c"})
        # when
        first = deliver_webhook.run(delivery_id)
        again = deliver_webhook.run(delivery_id)
    finally:
        receiver.stop()
    # then: delivered once; a duplicate message does nothing
    assert (first, again) == ("succeeded", None)
    assert len(receiver.events("conversation.closed")) == 1
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == 1


def test_the_sweep_task_returns_what_it_resent():
    assert sweep_webhook_deliveries.run() == []


def test_make_run_serves_the_webhooks_queue_and_beat_sends_the_webhook_sweep():
    # then: the default worker layout (base settings) has a webhooks worker of its own
    from chatapp.config.settings import base

    assert "webhooks:1" in base.CHATAPP_WORKERS
    assert settings.CELERY_TASK_ROUTES["workers.tasks.webhooks.*"] == {"queue": "webhooks"}
    schedule = settings.CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"]
    assert schedule["task"] == "workers.tasks.webhooks.sweep_webhook_deliveries"
