"""Websocket consumers: a conversation's socket (visitor or staff) and the console socket."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chatapp.core.ratelimit import RateLimited, frame_limits, rate_limit_hit_async
from chatapp.realtime import frames
from chatapp.realtime.events import ErrorEvent
from chatapp.realtime.groups import agents_group, conversation_group, conversation_staff_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _is_staff(user: Any) -> bool:
    return bool(
        user is not None and user.is_authenticated and getattr(user, "is_staff_member", False)
    )


class ConversationConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # untyped base
    """``/ws/conversations/<id>/?token=…``: the visitor (token) or staff (session)."""

    conversation_id: str
    groups_joined: list[str]
    is_staff: bool

    async def connect(self) -> None:
        self.conversation_id = str(self.scope["url_route"]["kwargs"]["conversation_id"])
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [""])[0]
        user = self.scope.get("user")
        self.is_staff = _is_staff(user)
        if not token and not self.is_staff:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        allowed = await database_sync_to_async(frames.may_join)(
            conversation_id=self.conversation_id, token=token, staff=self.is_staff
        )
        if not allowed:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.groups_joined = [conversation_group(self.conversation_id)]
        if self.is_staff:
            self.groups_joined.append(conversation_staff_group(self.conversation_id))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Validate a frame; bad frames get an ``error`` event and the socket stays open."""
        try:
            await rate_limit_hit_async(*frame_limits(connection=self.channel_name))
        except RateLimited as exc:
            await self._error(exc.code, exc.detail, retry_after=exc.retry_after)
            return
        if text_data is None:
            await self._error("invalid_frame", "Send JSON text frames.")
            return
        if len(text_data) > settings.CHATAPP_MESSAGE_MAX_CHARS * 4 + 1024:
            await self._error("frame_too_large", "The frame is too large.")
            return
        try:
            data = json.loads(text_data)
        except json.JSONDecodeError:
            await self._error("invalid_json", "The frame is not valid JSON.")
            return
        try:
            frame = frames.parse_client_frame(data)
        except frames.FrameError as exc:
            await self._error(exc.code, exc.detail)
            return
        if isinstance(frame, frames.PingFrame):
            await self.send_json({"type": "pong"})
            return
        try:  # a throttled message is not stored: the client sends it again after retry_after
            await rate_limit_hit_async(*self._message_limits())
        except RateLimited as exc:
            await self._error(exc.code, exc.detail, retry_after=exc.retry_after)
            return
        try:
            result = await database_sync_to_async(frames.handle_message_send)(
                conversation_id=self.conversation_id,
                frame=frame,
                user=self.scope.get("user") if self.is_staff else None,
            )
        except frames.FrameError as exc:
            await self._error(exc.code, exc.detail)
            return
        if result is not None:  # a resend: echo the stored message to this socket only
            await self.send_json(json.loads(result.model_dump_json()))

    def _message_limits(self) -> tuple[Any, ...]:
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [""])[0]
        return frames.message_limits(
            scope=self.scope, connection=self.channel_name, token=token, staff=self.is_staff
        )

    async def _error(self, code: str, detail: str, *, retry_after: int | None = None) -> None:
        event = ErrorEvent(code=code, detail=detail, retry_after=retry_after)
        await self.send_json(json.loads(event.model_dump_json(exclude_none=True)))

    # Group events: forwarded as they are (they were validated when sent).
    async def message_created(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def answer_delta(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def answer_draft(self, event: dict[str, Any]) -> None:
        await self.send_json(event)  # only staff sockets join the group that carries it

    async def turn_completed(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def conversation_handoff(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def conversation_assigned(self, event: dict[str, Any]) -> None:
        await self.send_json(event)


class ConsoleConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # untyped base
    """``/ws/console/``: live queue updates for logged-in agents and admins."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not _is_staff(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(agents_group(), self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(agents_group(), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        await self.send_json(
            {
                "type": "error",
                "code": "unknown_type",
                "detail": "The console socket only accepts ping.",
            }
        )

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return json.loads(text_data)
        except json.JSONDecodeError:
            return None

    async def conversation_updated(self, event: dict[str, Any]) -> None:
        await self.send_json(event)
