"""A sample host page on a second origin that embeds the widget (``make run``, tests, bench).

Two pages (``/`` and ``/page2.html``) whose hostile CSS must not reach the widget, and a link
between them to show that the conversation survives navigation on the host site.
"""

from __future__ import annotations

import html
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typing_extensions import override

PAGE = (Path(__file__).parent / "demo" / "host.html").read_text(encoding="utf-8")
TITLES = {"/": "Sample shop: home", "/page2.html": "Sample shop: delivery"}


def host_page(path: str, chatapp_url: str, attributes: dict[str, str] | None = None) -> str | None:
    """The HTML of one sample page (None for an unknown path)."""
    title = TITLES.get(path.split("?")[0])
    if title is None:
        return None
    extra = "".join(
        f' data-{name}="{html.escape(value)}"' for name, value in (attributes or {}).items()
    )
    return (
        PAGE.replace("{title}", title)
        .replace("{chatapp}", html.escape(chatapp_url))
        .replace("{attributes}", extra)
    )


def serve(
    host: str, port: int, chatapp_url: str, attributes: dict[str, str] | None = None
) -> ThreadingHTTPServer:
    """Serve the sample pages in a daemon thread until ``shutdown()``.

    Args:
        host: Address to bind.
        port: Port to bind (0: any free one; read ``server_address``).
        chatapp_url: Where the pages load ``/widget.js`` from, e.g. ``http://127.0.0.1:8000``.
        attributes: Extra ``data-`` attributes for the script tag (name without ``data-``).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = host_page(self.path, chatapp_url, attributes)
            status = HTTPStatus.OK if body is not None else HTTPStatus.NOT_FOUND
            data = (body or "Not found.").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        @override
        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: make run prints the web server's log only

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="widget-demo-host", daemon=True).start()
    return server
