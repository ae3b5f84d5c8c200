"""One-line emitters that services call inside their transaction (``webhook_event_emit``).

Each builds its event's ``data`` (docs/api.md#webhooks); the payloads are the websocket ones,
so a receiver reads the same shapes as a socket client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from chatapp.webhooks.events import WebhookEvent
from chatapp.webhooks.services import webhook_event_emit


def conversation_created(conversation: Any, *, knowledge_base_ids: Sequence[int]) -> list[int]:
    return webhook_event_emit(
        WebhookEvent.CONVERSATION_CREATED,
        {
            "conversation": {
                "id": str(conversation.pk),
                "status": conversation.status,
                "created_at": conversation.created_at,
                "knowledge_base_ids": sorted(knowledge_base_ids),
            }
        },
    )


def message_created(conversation_id: UUID | str, message: BaseModel) -> list[int]:
    return webhook_event_emit(
        WebhookEvent.MESSAGE_CREATED,
        {"conversation_id": str(conversation_id), "message": message.model_dump(mode="json")},
    )


def conversation_handoff(conversation_id: UUID | str, *, reason: str, detail: str) -> list[int]:
    return webhook_event_emit(
        WebhookEvent.CONVERSATION_HANDOFF,
        {"conversation_id": str(conversation_id), "reason": reason, "detail": detail},
    )


def conversation_assigned(event: BaseModel) -> list[int]:
    """An agent took over, transferred or handed back (``conversation.assigned``), or closed it."""
    data = event.model_dump(mode="json", exclude={"type"})
    closed = data.get("status") == "closed"
    name = WebhookEvent.CONVERSATION_CLOSED if closed else WebhookEvent.CONVERSATION_ASSIGNED
    return webhook_event_emit(name, data)


def feedback_created(data: Mapping[str, Any]) -> list[int]:
    """For the feedback app: ``webhooks.feedback_created({"conversation_id", "rating", ...})``."""
    return webhook_event_emit(WebhookEvent.FEEDBACK_CREATED, data)
