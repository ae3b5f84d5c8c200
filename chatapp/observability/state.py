"""Gauges read at scrape time from where the state lives (the broker, the database)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from typing_extensions import override

logger = logging.getLogger(__name__)

# Every queue a worker of `make run` serves (chatapp.core.health.QUEUES plus webhooks).
QUEUES = ("retrieval", "answering", "review", "watchdog", "indexing", "webhooks")


def indexing_backlog() -> int:
    """Documents waiting for or in indexing."""
    from chatapp.knowledge.models import Document

    return Document.objects.filter(
        status__in=[Document.Status.QUEUED, Document.Status.INDEXING]
    ).count()


def webhook_backlog() -> int:
    from chatapp.webhooks.models import WebhookDelivery

    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count()


class StateCollector(Collector):
    """Queue depths (Redis list lengths), the indexing and webhook backlogs (Postgres)."""

    @override
    def collect(self) -> Iterator[Metric]:
        from chatapp.core.tasks import queue_lengths

        depth = GaugeMetricFamily(
            "chatapp_queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
        )
        try:
            for queue, length in queue_lengths(QUEUES).items():
                depth.add_metric([queue], length)
        except Exception:  # broker down: say so with the up gauge, not an error page
            logger.warning("metrics: cannot read the queue lengths", exc_info=True)
        yield depth
        yield GaugeMetricFamily(
            "chatapp_indexing_backlog", "Documents queued or indexing", value=indexing_backlog()
        )
        yield GaugeMetricFamily(
            "chatapp_webhook_backlog", "Webhook deliveries pending", value=webhook_backlog()
        )
