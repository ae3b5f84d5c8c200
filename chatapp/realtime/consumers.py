"""Websocket consumers: a conversation's socket (visitor or staff) and the console socket."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chatapp.core.ratelimit import RateLimited, frame_limits, rate_limit_hit_async
from chatapp.observability import context as log_context
from chatapp.observability import metrics
from chatapp.realtime import frames, origins
from chatapp.realtime.events import ErrorEvent
from chatapp.realtime.groups import agents_group, conversation_group, conversation_staff_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _is_staff(user: Any) -> bool:
    return bool(
        user is not None and user.is_authenticated and getattr(user, "is_staff_member", False)
    )


def _staff_refusal(scope: dict[str, Any]) -> int | None:
    """The close code for a socket that authenticates by session, or None to let it in."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED
    if not _is_staff(user) or not origins.staff_origin_allowed(scope):
        return CLOSE_FORBIDDEN
    return None


async def _refuse(consumer: AsyncJsonWebsocketConsumer, code: int) -> None:
    # Accept first: a close before accepting is an HTTP 403 at the handshake, and a browser
    # never sees the code (so it could not tell "stop" from "retry").
    await consumer.accept()
    await consumer.close(code=code)


class ConversationConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # untyped base
    """``/ws/conversations/<id>/?token=…``: the visitor (token) or staff (session)."""

    conversation_id: str
    groups_joined: list[str]
    is_staff: bool

    async def connect(self) -> None:
        self.conversation_id = str(self.scope["url_route"]["kwargs"]["conversation_id"])
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [""])[0]
        user = self.scope.get("user")
        # A token makes it a visitor's socket, even in a browser where staff are logged in.
        self.is_staff = not token and _is_staff(user)
        refusal = _staff_refusal(self.scope) if not token else None
        if refusal is None and not await database_sync_to_async(frames.may_join)(
            conversation_id=self.conversation_id, token=token, user=user
        ):
            refusal = CLOSE_UNAUTHENTICATED if token else CLOSE_FORBIDDEN
        if refusal is None and token and not origins.visitor_origin_allowed(self.scope):
            refusal = CLOSE_FORBIDDEN
        if refusal is not None:
            await _refuse(self, refusal)
            return
        self.groups_joined = [conversation_group(self.conversation_id)]
        if self.is_staff:
            self.groups_joined.append(conversation_staff_group(self.conversation_id))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.metrics_kind = "staff" if self.is_staff else "visitor"
        metrics.websocket_opened(self.metrics_kind)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "metrics_kind", None):  # refused sockets were never counted
            metrics.websocket_closed(self.metrics_kind)
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Validate a frame; bad frames get an ``error`` event and the socket stays open."""
        try:
            # Log lines while handling the frame carry the conversation (and a turn it starts).
            with log_context.bound(conversation_id=self.conversation_id):
                await self._receive(text_data)
        except Exception:  # a bug must cost one frame, not the visitor's socket
            logger.exception("conversation socket: frame failed")
            await self._error("server_error", "Something went wrong on our side.")

    async def _receive(self, text_data: str | None) -> None:
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
        except (ValueError, RecursionError):  # RecursionError: nested too deep
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

    async def copilot_delta(self, event: dict[str, Any]) -> None:
        await self.send_json(event)  # staff group only, like answer.draft

    async def copilot_suggestion(self, event: dict[str, Any]) -> None:
        await self.send_json(event)  # staff group only

    async def turn_completed(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def conversation_handoff(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def conversation_assigned(self, event: dict[str, Any]) -> None:
        await self.send_json(event)


class ConsoleConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # untyped base
    """``/ws/console/``: live queue updates for logged-in agents and admins."""

    async def connect(self) -> None:
        refusal = _staff_refusal(self.scope)
        if refusal is not None:
            await _refuse(self, refusal)
            return
        await self.channel_layer.group_add(agents_group(), self.channel_name)
        await self.accept()
        self.metrics_kind = "console"
        metrics.websocket_opened(self.metrics_kind)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "metrics_kind", None):
            metrics.websocket_closed(self.metrics_kind)
        await self.channel_layer.group_discard(agents_group(), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:  # the base class would raise on a binary frame
            await self._error("invalid_frame", "Send JSON text frames.")
            return
        await super().receive(text_data=text_data)

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json(json.loads(ErrorEvent(code=code, detail=detail).model_dump_json()))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        await self._error("unknown_type", "The console socket only accepts ping.")

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return json.loads(text_data)
        except (ValueError, RecursionError):
            return None

    async def conversation_updated(self, event: dict[str, Any]) -> None:
        await self.send_json(event)
