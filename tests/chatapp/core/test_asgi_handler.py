"""The one-hop ASGI handler (chatapp/core/asgi_handler.py), called as a server calls it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path

from chatapp.core.asgi_handler import SyncChainASGIHandler


def _plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(json.dumps({"ok": True}), content_type="application/json")


def _streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"a,b\n", b"1,2\n"]), content_type="text/csv")


urlpatterns = [path("plain", _plain), path("streamed", _streamed)]


def _call(app: Any, route: str) -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": route, "raw_path": route.encode(), "query_string": b"",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }  # fmt: skip
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # a client that stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async_to_sync(app)(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


@pytest.fixture
def routes(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__


def test_the_middleware_chain_is_built_synchronous():
    # when
    handler = SyncChainASGIHandler()
    # then: Django's own handler builds it as a coroutine, adapting at every sync middleware
    assert not iscoroutinefunction(getattr(handler, "_middleware_chain"))  # noqa: B009
    assert iscoroutinefunction(getattr(ASGIHandler(), "_middleware_chain"))  # noqa: B009


def test_a_view_answers_through_the_whole_chain(routes: None, db: Any):
    # when
    status, body = _call(SyncChainASGIHandler(), "/plain")
    # then
    assert (status, json.loads(body)) == (200, {"ok": True})


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_streamed_response_still_streams(routes: None, db: Any):
    # when
    status, body = _call(SyncChainASGIHandler(), "/streamed")
    # then
    assert (status, body) == (200, b"a,b\n1,2\n")


def test_a_missing_page_is_a_404_as_before(routes: None, db: Any):
    # when
    ours = _call(SyncChainASGIHandler(), "/nothing")
    django = _call(ASGIHandler(), "/nothing")
    # then
    assert ours[0] == django[0] == 404
