"""The events a webhook endpoint may subscribe to (the public list; docs/api.md#webhooks)."""

from __future__ import annotations

from enum import StrEnum


class WebhookEvent(StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    MESSAGE_CREATED = "message.created"
    CONVERSATION_HANDOFF = "conversation.handoff"
    CONVERSATION_ASSIGNED = "conversation.assigned"
    CONVERSATION_CLOSED = "conversation.closed"
    FEEDBACK_CREATED = "feedback.created"


EVENT_NAMES: tuple[str, ...] = tuple(e.value for e in WebhookEvent)
