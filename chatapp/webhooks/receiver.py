"""A minimal webhook receiver: checks each request's signature and keeps what arrived.

For the tests and the benchmark (a real HTTP server on loopback), and as the reference of how a
receiver verifies a delivery (``verify``).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import override

from chatapp.webhooks.delivery import signature

MAX_SKEW_S = 300  # a receiver should refuse older timestamps (replays)


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """Whether a delivery is authentic: the signature matches and the timestamp is recent."""
    try:
        timestamp = int(headers.get("X-Chatapp-Timestamp", ""))
    except ValueError:
        return False
    if abs((now or time.time()) - timestamp) > MAX_SKEW_S:
        return False
    expected = signature(secret, timestamp, body.decode())
    return hmac.compare_digest(expected, headers.get("X-Chatapp-Signature", ""))


@dataclass
class Received:
    event: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    valid: bool
    at: float  # time.time() on arrival


@dataclass
class Receiver:
    """Serves on ``127.0.0.1:<port>``; answers ``status`` (200, or e.g. 503 to act down)."""

    secret: str
    status: int = 200
    received: list[Received] = field(default_factory=list)
    refused: int = 0  # requests answered with a non-2xx status
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None  # noqa: S101  (started first)
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                status = receiver.status
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.received.append(
                            Received(
                                event=headers.get("X-Chatapp-Event", ""),
                                headers=headers,
                                body=json.loads(raw or b"null"),
                                raw=raw,
                                valid=verify(receiver.secret, headers, raw),
                                at=time.time(),
                            )
                        )
                else:
                    with receiver._lock:
                        receiver.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            @override
            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, name: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if name is None or r.event == name]

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> list[Received]:
        """Wait until ``predicate(received)`` holds; returns the received list."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = list(self.received)
            if predicate(got):
                return got
            time.sleep(0.05)
        raise TimeoutError(f"receiver: condition not met in {timeout}s; got {len(got)} events")
