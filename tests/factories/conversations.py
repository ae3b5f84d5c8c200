from __future__ import annotations

from chatapp.conversations.models import Conversation
from chatapp.conversations.services import conversation_create


def make_conversation(kb_ids: list[int] | None = None) -> tuple[Conversation, str]:
    """A conversation and its visitor token, made the way the API makes them."""
    return conversation_create(knowledge_base_ids=kb_ids)
