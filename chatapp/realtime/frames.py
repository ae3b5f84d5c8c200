"""Client frames on the conversation socket: validation, and the sync handlers consumers call."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, ValidationError

from chatapp.accounts import permissions
from chatapp.core import ratelimit
from chatapp.core.client_ip import scope_client_ip
from chatapp.core.errors import ApplicationError
from chatapp.realtime.events import MessageCreatedEvent

KNOWN_TYPES = ("message.send", "ping")


class FrameError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class MessageSendFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["message.send"]
    client_msg_id: uuid.UUID | None = None
    text: str


class PingFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["ping"]


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_client_frame(data: Any) -> MessageSendFrame | PingFrame:
    """Validate a decoded frame.

    Raises:
        FrameError: ``invalid_frame``, ``unknown_type``, ``text_required``, ``invalid_text``,
            ``text_too_long``, ``invalid_client_msg_id``.
    """
    if not isinstance(data, dict):
        raise FrameError("invalid_frame", 'A frame is a JSON object with a "type".')
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise FrameError("invalid_frame", 'The frame has no "type".')
    if kind not in KNOWN_TYPES:
        raise FrameError("unknown_type", f"Unknown frame type {kind[:50]!r}.")
    if kind == "ping":
        return PingFrame(type="ping")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise FrameError("text_required", '"text" must be a non-empty string.')
    if "\x00" in text or _has_surrogates(text):
        # Postgres text holds neither NUL nor lone surrogates (which JSON "\ud800" decodes to).
        raise FrameError("invalid_text", '"text" must be valid Unicode without NUL characters.')
    if len(text) > settings.CHATAPP_MESSAGE_MAX_CHARS:
        raise FrameError(
            "text_too_long",
            f"Messages are limited to {settings.CHATAPP_MESSAGE_MAX_CHARS} characters.",
        )
    try:
        return MessageSendFrame.model_validate(data)
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        if "client_msg_id" in bad:
            raise FrameError("invalid_client_msg_id", '"client_msg_id" must be a UUID.') from None
        raise FrameError("invalid_frame", f"Unexpected or invalid fields: {sorted(bad)}.") from None


def message_limits(
    *, scope: dict[str, Any], connection: str, token: str, staff: bool
) -> tuple[ratelimit.Limit, ...]:
    """The limits a ``message.send`` on this socket counts against (docs/api.md#limits)."""
    user = scope.get("user")
    if staff and user is not None:
        return ratelimit.staff_message_limits(user_id=user.pk)
    return ratelimit.visitor_message_limits(
        connection=connection, token=token, ip=scope_client_ip(scope)
    )


def may_join(*, conversation_id: str, token: str, user: Any) -> bool:
    """Whether a socket may follow the conversation: its visitor (token) or staff (session).

    An unknown or malformed conversation id answers False, as a wrong token does.
    """
    from chatapp.conversations.selectors import conversation_get, conversation_token_valid

    try:
        conversation = conversation_get(conversation_id)
    except ApplicationError:
        return False
    visitor = bool(token) and conversation_token_valid(conversation, token)
    return permissions.allowed(
        permissions.Action.CONVERSATION_READ,
        None if token else user,  # a socket with a token is a visitor's, whoever is logged in
        holder_id=conversation.assignee_id,
        visitor=visitor,
    )


def handle_message_send(
    *, conversation_id: str, frame: MessageSendFrame, user: Any
) -> MessageCreatedEvent | None:
    """Store the message (visitor, or agent when ``user`` is staff).

    Returns:
        The stored message's event when the frame was a resend (so only the sender hears it again).

    Raises:
        FrameError: The service refused (e.g. an agent who does not hold the conversation).
    """
    from chatapp.assistant.services import visitor_message_receive
    from chatapp.conversations.selectors import conversation_get, message_payload
    from chatapp.conversations.services import agent_message_create

    text = frame.text.strip()
    try:
        if user is not None:
            agent_message_create(
                conversation=conversation_get(conversation_id), agent=user, text=text
            )
            return None
        message, created = visitor_message_receive(
            conversation_id=conversation_id, text=text, client_msg_id=frame.client_msg_id
        )
    except ApplicationError as exc:
        raise FrameError(exc.code, exc.detail) from None
    return None if created else MessageCreatedEvent(message=message_payload(message))
