"""Writes for webhooks: endpoints, the outbox rows of each event, attempts, redelivery, sweep.

An event is recorded in the transaction of the change it reports (one ``WebhookDelivery`` per
subscribed endpoint) and sent to the ``webhooks`` queue on commit, so a rolled-back change sends
nothing and a committed one is never lost: when Redis is down, or a task is lost, the delivery
row stays ``pending`` and the periodic sweep sends it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from chatapp.accounts import permissions
from chatapp.accounts.models import User
from chatapp.core.errors import ApplicationError
from chatapp.core.tasks import queue_lengths, task_signature
from chatapp.observability import metrics
from chatapp.webhooks import delivery as http
from chatapp.webhooks.events import EVENT_NAMES, WebhookEvent
from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

DELIVER_WEBHOOK = "workers.tasks.webhooks.deliver_webhook"
WEBHOOK_QUEUE = "webhooks"
ERR_INVALID = "The body does not match the schema."
ERR_UNKNOWN_EVENT = "unknown event {event!r}; one of: {names}"
# An attempt holds its delivery this long (the POST's timeout plus slack), so that neither the
# sweep nor a duplicate message starts a second attempt meanwhile.
LEASE_SLACK_S = 30
# A pending delivery this late past its due time lost its task (the sweep sends it again).
SWEEP_GRACE_S = 30
SWEEP_BATCH = 500  # deliveries resent per sweep; the next sweep takes the rest


def _invalid(field_name: str, message: str) -> ApplicationError:
    return ApplicationError(
        "invalid_request", ERR_INVALID, fields=[{"field": field_name, "message": message}]
    )


@transaction.atomic
def webhook_endpoint_create(
    *,
    url: str,
    secret: str,
    events: Sequence[str],
    description: str = "",
    by: User | None = None,
) -> WebhookEndpoint:
    """Register a receiver.

    Raises:
        PermissionDenied: ``by`` is not an admin.
        ApplicationError: ``invalid_request`` with ``fields``: a URL that is not http(s), holds
            credentials or names a refused address; an unknown event; an empty secret.
    """
    permissions.require(permissions.Action.WEBHOOK_MANAGE, by)
    problem = http.url_problem(url.strip())
    if problem:
        raise _invalid("url", problem)
    unknown = [e for e in events if e not in EVENT_NAMES]
    if unknown:
        raise _invalid(
            "events", ERR_UNKNOWN_EVENT.format(event=unknown[0], names=", ".join(EVENT_NAMES))
        )
    if not events:
        raise _invalid("events", "name at least one event")
    if not secret.strip():
        raise _invalid("secret", "must not be empty")
    endpoint = WebhookEndpoint(
        url=url.strip(),
        secret=secret,
        events=list(dict.fromkeys(events)),
        description=description,
        created_by=by,
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, by: User | None) -> None:
    """Remove a receiver and its delivery history (pending deliveries are dropped)."""
    permissions.require(permissions.Action.WEBHOOK_MANAGE, by)
    endpoint.delete()


def _dispatch(delivery_ids: Sequence[int], *, countdown: float = 0) -> None:
    """Send delivery tasks; a broker error is logged (the sweep sends them later)."""
    for delivery_id in delivery_ids:
        try:
            signature = task_signature(DELIVER_WEBHOOK, delivery_id)
            if countdown:
                signature.apply_async(countdown=countdown)
            else:
                signature.apply_async()
        except Exception:
            logger.exception("could not queue webhook delivery %s; the sweep will", delivery_id)
            return


def webhook_event_emit(event: WebhookEvent | str, data: Mapping[str, Any]) -> list[int]:
    """Record ``event`` for every active endpoint that wants it; deliver after commit.

    Call it inside the transaction of the change it reports (e.g. from a service), so that the
    event exists exactly when the change does. One query when no endpoint wants the event.

    Args:
        event: One of ``WebhookEvent`` (e.g. ``"feedback.created"``).
        data: The event's ``data`` object (JSON-serialisable; dates and UUIDs are converted).

    Returns:
        The ids of the deliveries created.
    """
    name = WebhookEvent(event).value
    endpoints = list(
        WebhookEndpoint.objects.filter(is_active=True, events__contains=[name]).only("pk")
    )
    if not endpoints:
        return []
    now = timezone.now()
    body = json.dumps(
        {"event": name, "created_at": now.isoformat(), "data": dict(data)},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=endpoint, event=name, body=body, next_attempt_at=now)
            for endpoint in endpoints
        ]
    )
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: _dispatch(ids))
    return ids


def retry_delay_s(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: exponential (x3), capped."""
    base: float = settings.CHATAPP_WEBHOOK_RETRY_BASE_S
    cap: float = settings.CHATAPP_WEBHOOK_RETRY_MAX_S
    return float(min(cap, base * 3 ** max(0, attempts - 1)))


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take a due delivery for one attempt (counted now), or None when it is not due or done."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return None
        if delivery.next_attempt_at > now + timedelta(seconds=1):
            return None  # another attempt holds it, or a duplicate message came early
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + timedelta(
            seconds=settings.CHATAPP_WEBHOOK_TIMEOUT_S + LEASE_SLACK_S
        )
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
        return delivery


@transaction.atomic
def _record(delivery: WebhookDelivery, outcome: http.AttemptOutcome) -> float | None:
    delivery.response_code = outcome.status_code
    delivery.duration_ms = outcome.duration_ms
    delivery.error = outcome.error[:500]
    retry_in: float | None = None
    if outcome.ok:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = timezone.now()
    elif outcome.permanent or delivery.attempts >= settings.CHATAPP_WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        retry_in = retry_delay_s(delivery.attempts)
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
    delivery.save(
        update_fields=[
            "response_code",
            "duration_ms",
            "error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    if retry_in is not None:
        ids = [delivery.pk]
        transaction.on_commit(lambda: _dispatch(ids, countdown=retry_in))
    return retry_in


def webhook_delivery_attempt(delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt at a pending delivery and record it; schedule the next on failure.

    Idempotent: a delivery that is done, or held by an attempt in progress, is left alone. No
    database transaction is open during the POST.

    Returns:
        The delivery after the attempt, or None when no attempt was made.
    """
    delivery = _claim(delivery_id, timezone.now())
    if delivery is None:
        return None
    outcome = http.post(
        url=delivery.endpoint.url,
        secret=delivery.endpoint.secret,
        event=delivery.event,
        event_id=str(delivery.event_id),
        body=delivery.body,
    )
    retry_in = _record(delivery, outcome)
    metrics.webhook_attempt(
        "delivered" if outcome.ok else ("retry" if retry_in is not None else "failed"),
        delivered_after_s=(timezone.now() - delivery.created_at).total_seconds()
        if outcome.ok
        else None,
    )
    if not outcome.ok:
        logger.warning(
            "webhook delivery %s to %s failed (attempt %s): %s%s",
            delivery.pk,
            delivery.endpoint.url,
            delivery.attempts,
            outcome.error,
            f"; next in {retry_in:.0f} s" if retry_in is not None else "; giving up",
        )
    return delivery


@transaction.atomic
def webhook_delivery_redeliver(*, delivery: WebhookDelivery, by: User | None) -> WebhookDelivery:
    """Send a delivery's event again as a new delivery (same body and event id), now.

    Raises:
        PermissionDenied: ``by`` is not an admin.
    """
    permissions.require(permissions.Action.WEBHOOK_MANAGE, by)
    again = WebhookDelivery.objects.create(
        endpoint_id=delivery.endpoint_id,
        event=delivery.event,
        event_id=delivery.event_id,
        body=delivery.body,
        next_attempt_at=timezone.now(),
        redelivery_of=delivery,
    )
    ids = [again.pk]
    transaction.on_commit(lambda: _dispatch(ids))
    return again


@dataclass
class WebhookSweep:
    redispatched: list[int] = field(default_factory=list)


def webhook_deliveries_sweep(*, now: datetime | None = None) -> WebhookSweep:
    """Send again the pending deliveries whose task was lost (Redis down, a dead worker).

    A delivery counts as lost when it is ``SWEEP_GRACE_S`` past due while the webhooks queue
    is empty (so one merely waiting in a backlog is not sent twice; a duplicate would be
    harmless anyway: an attempt claims its row).
    """
    now = now or timezone.now()
    sweep = WebhookSweep()
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lt=now - timedelta(seconds=SWEEP_GRACE_S),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if not due:
        return sweep
    try:
        if queue_lengths([WEBHOOK_QUEUE])[WEBHOOK_QUEUE]:
            return sweep
    except Exception:
        logger.exception("webhook sweep could not read the queue length")
        return sweep
    _dispatch(due)
    sweep.redispatched = due
    return sweep
