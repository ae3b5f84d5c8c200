"""Request bodies over their limit are refused while being read, through the full ASGI app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from chatapp.accounts.services import api_key_create
from chatapp.config.asgi import application
from chatapp.knowledge.models import Document
from tests.factories.accounts import AdminFactory
from tests.factories.knowledge import KnowledgeBaseFactory

MB = 1_000_000


class Client:
    """An HTTP client at the ASGI level: sends the body chunk by chunk, counts what was read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.done = False
        self.read = 0
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.done:  # the body is over: the client waits for the answer
            await asyncio.Event().wait()
        chunk = next(self.chunks, None)
        if chunk is None:
            self.done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        self.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    async def post(self, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), *headers],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }
        await application(scope, self.receive, self.send)
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        return start["status"], json.loads(body)


def _megabytes(n: int) -> Iterator[bytes]:
    for _ in range(n):
        yield b"x" * MB


async def test_a_declared_50_mb_upload_against_10_mb_is_refused_before_reading(settings):
    # given
    settings.CHATAPP_UPLOAD_MAX_BYTES = 10 * MB
    client = Client(_megabytes(50))
    # when
    status, body = await client.post(
        "/api/v1/knowledge-bases/1/documents",
        [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", b"50000000")],
    )
    # then
    assert status == 413
    assert body["error"]["code"] == "too_large"
    assert client.read == 0


async def test_an_undeclared_body_is_cut_off_once_it_passes_the_limit(settings):
    # given: chunked, no Content-Length
    settings.CHATAPP_UPLOAD_MAX_BYTES = 10 * MB
    client = Client(_megabytes(50))
    # when
    status, body = await client.post(
        "/api/v1/knowledge-bases/1/documents",
        [(b"content-type", b"multipart/form-data; boundary=x")],
    )
    # then: the limit plus the multipart allowance (1 MB), plus the chunk that crossed it
    assert status == 413
    assert body["error"]["code"] == "too_large"
    assert client.read == 12 * MB


async def test_other_endpoints_take_small_bodies_only(settings):
    # given
    settings.CHATAPP_REQUEST_MAX_BYTES = 1 * MB
    client = Client(_megabytes(5))
    # when
    status, body = await client.post(
        "/api/v1/conversations",
        [(b"content-type", b"application/json"), (b"content-length", b"5000000")],
    )
    # then
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert client.read == 0


@pytest.mark.django_db(transaction=True)
async def test_a_body_within_its_limit_reaches_the_view():
    # given
    client = Client(iter([b"{}"]))
    # when
    status, body = await client.post(
        "/api/v1/conversations",
        [(b"content-type", b"application/json"), (b"content-length", b"2")],
    )
    # then
    assert status == 201
    assert set(body) == {"id", "token", "websocket_url"}


@pytest.mark.django_db
def test_a_multipart_file_over_the_limit_is_refused_while_parsing(client, settings, indexed_later):
    # given: no early refusal by length (the test client is not ASGI), so the upload handler
    # stops the parse at the first chunk past the limit
    settings.CHATAPP_UPLOAD_MAX_BYTES = 100_000
    kb = KnowledgeBaseFactory.create()
    key = api_key_create(user=AdminFactory.create())
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"file": SimpleUploadedFile("big.md", b"x" * 300_000)},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    # then
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert Document.objects.count() == 0


def test_the_upload_handler_stops_at_the_first_chunk_past_the_limit():
    # given
    from django.test import RequestFactory

    from chatapp.api.uploads import SizeLimitUploadHandler, UploadTooLarge

    handler = SizeLimitUploadHandler(RequestFactory().post("/"), max_file_bytes=100)
    handler.new_file("file", "a.md", "text/markdown", 1000)
    # when / then
    assert handler.receive_data_chunk(b"x" * 64, 0) == b"x" * 64
    with pytest.raises(UploadTooLarge):
        handler.receive_data_chunk(b"x" * 64, 64)
    with pytest.raises(UploadTooLarge):
        handler.handle_raw_input(None, {}, 10_000_000, "x")  # type: ignore[arg-type]
