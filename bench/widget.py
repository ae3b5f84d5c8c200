"""The embeddable widget: loader size, and how soon a host page has a usable bubble and chat.

A real uvicorn process serves chatapp on loopback (the bench database, a real Redis); the
sample host page of ``make run`` (chatapp/widget/demo_host.py, hostile CSS) is served from
another port, and headless Chromium (Debian's) opens it, each run in a fresh browser context
(empty cache). Times come from the page's own Performance timeline: the loader's resource
entry, and the marks widget.js sets (``chatapp-widget:start``, ``:bubble``, ``:ready``).
No worker is needed: opening the chat creates a conversation and opens its socket, no turn.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
import urllib.request
from typing import Any

from bench.common import BENCH_DB, Table, ensure_database, percentile, setup_django, write_results

RUNS = 20
QUICK_RUNS = 5
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
VIEWPORT = {"width": 1280, "height": 800}
# The pointer press on the bubble, in page time (the shadow root is closed; events retarget).
MARK_CLICK = """
document.addEventListener('pointerdown', () => performance.mark('bench:click'),
                          {capture: true, once: true});
"""
TIMES = """() => {
  const at = (name) => performance.getEntriesByName(name)[0]?.startTime ?? NaN;
  const script = performance.getEntriesByType('resource')
    .find((e) => e.name.endsWith('/widget.js'));
  return {script: script ? script.startTime : NaN, start: at('chatapp-widget:start'),
          bubble: at('chatapp-widget:bubble'), click: at('bench:click'),
          ready: at('chatapp-widget:ready')};
}"""


def _get(url: str, headers: dict[str, str]) -> bytes:
    """The body as sent (urllib does not decompress it)."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310  (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return bytes(response.read())


def _wait_mark(page: Any, name: str, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(
        f"performance.getEntriesByName('chatapp-widget:{name}').length > 0", timeout=timeout_ms
    )


def _one_run(browser: Any, host_url: str) -> dict[str, float]:
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(MARK_CLICK)
    page = context.new_page()
    try:
        page.goto(host_url + "/")
        _wait_mark(page, "bubble")
        page.mouse.click(VIEWPORT["width"] - 48, VIEWPORT["height"] - 48)
        _wait_mark(page, "ready")
        first = page.evaluate(TIMES)
        # A second page of the host site: the loader comes from the browser's cache and the
        # chat opens by itself (it was left open), resuming the conversation.
        page.goto(host_url + "/page2.html")
        _wait_mark(page, "ready")
        second = page.evaluate(TIMES)
    finally:
        context.close()
    return {
        "fetch_to_bubble": first["bubble"] - first["script"],
        "run_to_bubble": first["bubble"] - first["start"],
        "navigation_to_bubble": first["bubble"],
        "click_to_ready": first["ready"] - first["click"],
        "repeat_fetch_to_bubble": second["bubble"] - second["script"],
        "repeat_navigation_to_ready": second["ready"],
    }


LABELS = {
    "fetch_to_bubble": "script request → usable bubble (first view, empty cache)",
    "run_to_bubble": "script runs → usable bubble (origin check + mount)",
    "navigation_to_bubble": "host page navigation start → usable bubble",
    "click_to_ready": "click on the bubble → chat connected (iframe, new conversation, socket)",
    "repeat_fetch_to_bubble": "next host page: script request → usable bubble (cached loader)",
    "repeat_navigation_to_ready": "next host page: navigation start → chat reopened and connected",
}


def run(quick: bool = False) -> dict[str, Any]:
    if not shutil.which(CHROMIUM):
        raise SystemExit("Debian's chromium is missing: `make browser` installs it")
    # Each run opens a new conversation from one address; the bench is not a flood.
    os.environ["CHATAPP_RATE_CONVERSATION_CREATE_IP"] = "0/m"
    from playwright.sync_api import sync_playwright

    from bench.search_http import _server

    setup_django(BENCH_DB)
    from chatapp.widget import demo_host
    from chatapp.widget.services import widget_origin_ensure

    runs = QUICK_RUNS if quick else RUNS
    samples: list[dict[str, float]] = []
    with _server(ensure_database(BENCH_DB)) as base:
        raw = _get(f"{base}/widget.js", {})
        packed = _get(f"{base}/widget.js", {"Accept-Encoding": "gzip"})
        if gzip.decompress(packed) != raw:
            raise RuntimeError("/widget.js gzipped is not /widget.js")
        gz_bytes = len(packed)
        host = demo_host.serve("127.0.0.1", 0, base)
        host_url = f"http://127.0.0.1:{host.server_address[1]}"
        widget_origin_ensure(host_url, note="bench")
        load_before = os.getloadavg()
        started = time.perf_counter()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                _one_run(browser, host_url)  # warm-up: the server's first requests
                samples = [_one_run(browser, host_url) for _ in range(runs)]
                browser.close()
        finally:
            host.shutdown()
            host.server_close()
        load_after = os.getloadavg()
    rows = [
        [
            LABELS[key],
            percentile([s[key] for s in samples], 50),
            percentile([s[key] for s in samples], 90),
            min(s[key] for s in samples),
            max(s[key] for s in samples),
        ]
        for key in LABELS
    ]
    timing = Table(
        f"Time to a usable widget in headless Chromium (ms, {runs} runs, fresh context each)",
        ["interval", "p50 ms", "p90 ms", "min ms", "max ms"],
        rows,
        note=(
            f"Loopback; one uvicorn worker; {os.cpu_count()} CPUs, load average "
            f"{load_before[0]:.1f} before and {load_after[0]:.1f} after "
            f"({time.perf_counter() - started:.0f} s). 'Usable' = the bubble is in the page "
            "and answers a click; 'connected' = the chat's socket is open (the frame says so)."
        ),
    )
    size = Table(
        "/widget.js size",
        ["bytes", "gzipped bytes (as served)"],
        [[len(raw), gz_bytes]],
    )
    data = {"runs": runs, "samples": samples, "raw_bytes": len(raw), "gzip_bytes": gz_bytes}
    write_results("widget-quick" if quick else "widget", data, [size, timing])
    return data
