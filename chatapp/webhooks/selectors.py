"""Reads for webhooks: endpoints and deliveries as public payloads (the secret never leaves)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from chatapp.core.errors import NotFound
from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint

DELIVERY_PAGE = 100  # the most recent deliveries a list shows


def webhook_endpoint_list() -> QuerySet[WebhookEndpoint]:
    """Endpoints, oldest first, with their delivery counts by status."""
    return WebhookEndpoint.objects.annotate(
        pending=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.PENDING)),
        succeeded=Count(
            "deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.SUCCEEDED)
        ),
        failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)),
    ).order_by("pk")


def webhook_endpoint_get(endpoint_id: int) -> WebhookEndpoint:
    """Raises: NotFound."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def webhook_delivery_get(delivery_id: int) -> WebhookDelivery:
    """Raises: NotFound."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery


def webhook_delivery_list(
    *, endpoint: WebhookEndpoint | None = None, status: str | None = None
) -> list[WebhookDelivery]:
    """The most recent deliveries (of one endpoint, of one status), newest first."""
    deliveries = WebhookDelivery.objects.select_related("endpoint").defer("body")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    return list(deliveries.order_by("-pk")[:DELIVERY_PAGE])


def endpoint_payload(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The public view of an endpoint: everything but the secret."""
    payload: dict[str, Any] = {
        "id": endpoint.pk,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "is_active": endpoint.is_active,
        "created_at": endpoint.created_at.isoformat(),
    }
    for name in ("pending", "succeeded", "failed"):
        if hasattr(endpoint, name):
            payload.setdefault("deliveries", {})[name] = getattr(endpoint, name)
    return payload


def delivery_payload(delivery: WebhookDelivery) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": delivery.pk,
        "endpoint_id": delivery.endpoint_id,
        "event": delivery.event,
        "event_id": str(delivery.event_id),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "response_code": delivery.response_code,
        "error": delivery.error,
        "duration_ms": delivery.duration_ms,
        "created_at": iso(delivery.created_at),
        "last_attempt_at": iso(delivery.last_attempt_at),
        "next_attempt_at": iso(delivery.next_attempt_at)
        if delivery.status == WebhookDelivery.Status.PENDING
        else None,
        "delivered_at": iso(delivery.delivered_at),
        "redelivery_of": delivery.redelivery_of_id,
    }
