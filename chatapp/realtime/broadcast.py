"""Send typed events to groups: after commit for state changes, at once for stream deltas."""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from chatapp.realtime.events import Event

logger = logging.getLogger(__name__)


def _wire(event: Event) -> dict[str, Any]:
    # JSON round trip: what goes over Redis is exactly what the socket will send.
    data: dict[str, Any] = json.loads(event.model_dump_json())
    return data


def broadcast_now(group: str, event: Event) -> None:
    """Send ``event`` to ``group`` immediately (for data not tied to a transaction, like deltas)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, _wire(event))
    except Exception:  # a lost live update must never break the write that caused it
        logger.exception("broadcast to %s failed", group)


def broadcast_on_commit(group: str, event: Event) -> None:
    """Send ``event`` to ``group`` once the current transaction commits (at once outside one)."""
    payload = _wire(event)
    layer = get_channel_layer()

    def send() -> None:
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, payload)
        except Exception:
            logger.exception("broadcast to %s failed", group)

    transaction.on_commit(send)
