"""Reads for conversations and their messages, and their public payloads."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Collection
from typing import Literal

from chatapp.accounts.models import User
from chatapp.conversations.models import Conversation, Message
from chatapp.core.errors import NotFound
from chatapp.realtime.events import (
    AgentPayload,
    CitationPayload,
    ConversationSummary,
    MessagePayload,
    ReviewPayload,
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def conversation_get(conversation_id: object) -> Conversation:
    """Fetch a conversation with its assignee.

    Raises:
        NotFound: Unknown or malformed id.
    """
    try:
        key = uuid.UUID(str(conversation_id))
    except ValueError:
        raise NotFound("No such conversation.") from None
    conversation = Conversation.objects.select_related("assignee").filter(pk=key).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def conversation_token_valid(conversation: Conversation, token: str | None) -> bool:
    """Constant-time check of a visitor token against the stored hash."""
    if not token:
        return False
    return secrets.compare_digest(conversation.token_hash, token_hash(token))


def message_list(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.select_related("author").order_by("created_at", "id"))


def agent_payload(user: User | None) -> AgentPayload | None:
    return None if user is None else AgentPayload(id=user.pk, username=user.username)


def message_payload(message: Message, *, turn_id: int | None = None) -> MessagePayload:
    """The public shape of a message (websocket events and the REST API)."""
    review = ReviewPayload(**message.review) if message.review else None
    return MessagePayload(
        id=message.pk,
        conversation_id=str(message.conversation_id),
        role=message.role,
        text=message.text,
        created_at=message.created_at,
        client_msg_id=str(message.client_msg_id) if message.client_msg_id else None,
        author=message.author.username if message.author_id and message.author else None,
        turn_id=turn_id,
        citations=[CitationPayload(**c) for c in message.citations],
        review=review,
    )


def conversation_summary(conversation: Conversation) -> ConversationSummary:
    # System notices ("agent joined…") would hide what the visitor last said.
    last = conversation.messages.exclude(role="system").order_by("-created_at", "-id").first()
    return ConversationSummary(
        id=str(conversation.pk),
        status=conversation.status,
        assignee=agent_payload(conversation.assignee),
        handoff_reason=conversation.handoff_reason,
        last_message=(last.text[:140] if last else ""),
        last_message_at=conversation.last_message_at,
        created_at=conversation.created_at,
    )


# Earlier messages given to the pipeline for follow-ups ("and for furniture?"); more would only
# lengthen the LLM's prompt on a CPU.
HISTORY_MESSAGES = 4


def conversation_history(
    conversation: Conversation, *, exclude: Collection[int], limit: int = HISTORY_MESSAGES
) -> list[tuple[Literal["user", "assistant"], str]]:
    """The last ``limit`` visitor/bot/agent messages of ``conversation``, oldest first.

    Args:
        conversation: Caller should hold its row lock, so that nothing is stored meanwhile.
        exclude: The visitor messages the turn answers: its question, not history. (When it
            answers several, the previous turn's answer may lie between them; it stays.)
        limit: How many messages at most.

    Returns:
        ``(role, text)`` pairs with roles ``"user"`` (the visitor) or ``"assistant"`` (bot, agent).
    """
    earlier = (
        Message.objects.filter(conversation=conversation)
        .exclude(role=Message.Role.SYSTEM)
        .exclude(id__in=exclude)
        .order_by("-id")
        .values_list("role", "text")[:limit]
    )
    turns: list[tuple[Literal["user", "assistant"], str]] = [
        ("user" if role == Message.Role.VISITOR else "assistant", text)
        for role, text in reversed(list(earlier))
    ]
    return turns
