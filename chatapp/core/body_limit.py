"""ASGI middleware: a request body over its limit is refused (413) before it is read.

Django's ASGI handler reads the whole body (into a temporary file) before any view runs, so a
view cannot refuse a 50 MB upload early. This middleware sits in front of it: a body declared
(``Content-Length``) larger than the path's limit is answered at once without reading a byte of
it; a body without a declared length is counted as it arrives and, past the limit, Django is
told the client left (it then stops reading and answers nothing) and the 413 is sent here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from django.conf import settings

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Multipart framing and form fields beside an uploaded file.
UPLOAD_OVERHEAD_BYTES: Final = 1_000_000
UPLOAD_PATH: Final = re.compile(r"^/api/v1/knowledge-bases/\d+/documents$")
IMPORT_PATH: Final = re.compile(r"^/api/v1/knowledge-bases/\d+/imports$")
ERR_TOO_LARGE = "The request body is larger than {limit:,} bytes."


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` may have (settings read at each request)."""
    if IMPORT_PATH.match(path):
        return int(settings.CHATAPP_IMPORT_MAX_BYTES)
    if UPLOAD_PATH.match(path):
        return int(settings.CHATAPP_UPLOAD_MAX_BYTES) + UPLOAD_OVERHEAD_BYTES
    return int(settings.CHATAPP_REQUEST_MAX_BYTES)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": {"code": "too_large", "detail": ERR_TOO_LARGE.format(limit=limit)}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Wraps the Django ASGI app (``chatapp/config/asgi.py``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        over = False

        async def counted_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted_receive, send)
        if over:
            await _refuse(send, limit)
