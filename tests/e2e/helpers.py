"""Client-side helpers for the end-to-end tests: HTTP JSON calls and a websocket frame reader."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin


def http_json(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """Send a JSON request; return the status and the decoded body (errors included)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310  (loopback)
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def open_socket(ws_base: str, path: str) -> ClientConnection:
    origin = ws_base.replace("ws://", "http://")
    return connect(ws_base + path, origin=Origin(origin), open_timeout=10)


def read_until(socket: ClientConnection, stop: Any, timeout: float = 180.0) -> list[dict[str, Any]]:
    """Collect frames until ``stop(frame)`` is true (inclusive) or the timeout passes."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            raw = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        frame = json.loads(raw)
        frames.append(frame)
        if stop(frame):
            return frames
    raise AssertionError(f"no final frame within {timeout}s; got {frames}")


def wait_for_document(base_url: str, doc_id: int, key: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = http_json(
            "GET",
            f"{base_url}/api/v1/documents/{doc_id}",
            headers={"Authorization": f"Bearer {key}"},
        )
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"document {doc_id} not indexed in {timeout}s")
