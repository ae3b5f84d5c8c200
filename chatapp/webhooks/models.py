"""Webhook endpoints and their deliveries (an outbox: rows written with the change they report)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from typing_extensions import override

from chatapp.webhooks.events import EVENT_NAMES

URL_MAX_CHARS = 1000


class WebhookEndpoint(models.Model):
    """A receiver: its URL, the shared secret that signs each body, and the events it wants.

    The secret is kept in clear: HMAC needs it at every delivery. It is never sent back out.
    """

    url = models.URLField(max_length=URL_MAX_CHARS)
    secret = models.CharField(max_length=200)
    events = ArrayField(
        models.CharField(max_length=40, choices=[(e, e) for e in EVENT_NAMES]), size=None
    )
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    @override
    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: pending until a 2xx answer, failed after the last attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    # The same for every attempt and redelivery of one event (X-Chatapp-Delivery).
    event_id = models.UUIDField(default=uuid.uuid4)
    # The exact bytes sent (and signed): stored once, so a retry sends the same body.
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            # The sweep's scan: pending rows due again.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_pending_due",
                condition=models.Q(status="pending"),
            ),
        ]

    @override
    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id} ({self.status})"
