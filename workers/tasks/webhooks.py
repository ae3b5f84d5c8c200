"""Webhooks queue: one attempt at a delivery, and the sweep of deliveries whose task was lost."""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger

logger = get_task_logger(f"{__name__}.celery")

# One POST (CHATAPP_WEBHOOK_TIMEOUT_S, 5 s) plus two short transactions; the limits catch a hang.
DELIVER_SOFT_LIMIT_S = 30
DELIVER_HARD_LIMIT_S = 40
SWEEP_SOFT_LIMIT_S = 20
SWEEP_HARD_LIMIT_S = 30


@shared_task(acks_late=True, soft_time_limit=DELIVER_SOFT_LIMIT_S, time_limit=DELIVER_HARD_LIMIT_S)
def deliver_webhook(delivery_id: int) -> str | None:
    """Make one attempt at a webhook delivery (the service schedules the next one on failure).

    Returns:
        The delivery's status after the attempt, or None when no attempt was due.
    """
    from chatapp.webhooks.services import webhook_delivery_attempt

    delivery = webhook_delivery_attempt(delivery_id)
    return None if delivery is None else str(delivery.status)


@shared_task(acks_late=True, soft_time_limit=SWEEP_SOFT_LIMIT_S, time_limit=SWEEP_HARD_LIMIT_S)
def sweep_webhook_deliveries() -> list[int]:
    """Send again the pending deliveries past due whose task was lost (celery beat)."""
    from chatapp.webhooks.services import webhook_deliveries_sweep

    sweep = webhook_deliveries_sweep()
    if sweep.redispatched:
        logger.warning("webhook sweep resent %s deliveries", len(sweep.redispatched))
    return sweep.redispatched
