"""The embeddable widget in headless Chromium: a host page on another origin, the real stack.

The host pages (chatapp/widget/demo_host.py, as `make run` serves them) carry hostile CSS; the
widget loads /widget.js from the chatapp server (uvicorn + a real Celery worker + Postgres).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from chatapp.widget.demo_host import serve
from chatapp.widget.services import widget_origin_create
from tests.e2e.conftest import SHOTS
from tests.e2e.helpers import http_json, wait_for_document

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TURN_TIMEOUT_MS = 180_000
VIEWPORT = {"width": 1280, "height": 800}
BUBBLE = (VIEWPORT["width"] - 20 - 28, VIEWPORT["height"] - 20 - 28)  # its centre (widget.js)
# Records, in every frame, whether a streaming bubble (answer.delta) ever showed.
WATCH_STREAMING = """
window.__sawStreaming = false;
new MutationObserver(() => {
  if (document.querySelector('.msg-streaming')) window.__sawStreaming = true;
}).observe(document, {subtree: true, childList: true});
"""


@contextmanager
def _host_site(chatapp_url: str, attributes: dict[str, str] | None = None) -> Iterator[str]:
    server = serve("127.0.0.1", 0, chatapp_url, attributes)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def public_kb(stack) -> int:
    """A public knowledge base with one short page; the widget names it (data-knowledge-bases)."""
    admin = user_ensure(username="wanda", role=User.Role.ADMIN, password="wanda-pass-1")
    key = api_key_create(user=admin)
    auth = {"Authorization": f"Bearer {key}"}
    _, kb = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases",
        {"name": f"Widget {uuid.uuid4().hex[:6]}", "visibility": "public", "is_default": False},
        auth,
    )
    _, doc = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases/{kb['id']}/documents",
        {
            "title": "Refund timing",
            "text": "# Refund timing\n\nRefunds take 5 to 10 business days.",
        },
        auth,
    )
    assert wait_for_document(stack.base_url, doc["id"], key)["status"] == "ready"
    return int(kb["id"])


@pytest.fixture
def allowed_host(stack, public_kb) -> Iterator[str]:
    """A host site on another port, allowed in the widget setting."""
    attributes = {"knowledge-bases": str(public_kb), "accent": "#1d6b34"}
    with _host_site(stack.base_url, attributes) as url:
        widget_origin_create(url, note="e2e host")
        yield url


@pytest.fixture
def other_host(stack) -> Iterator[str]:
    """A host site on another port that nobody allowed."""
    with _host_site(stack.base_url) as url:
        yield url


def _chat_frame(page: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "/widget/frame/" in frame.url:
                return frame
        page.wait_for_timeout(50)
    raise AssertionError(f"no widget frame among {[f.url for f in page.frames]}")


def test_a_visitor_chats_in_the_widget_across_host_pages(stack, allowed_host, public_kb, browser):
    # given: the host page (hostile CSS) on another origin
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(WATCH_STREAMING)
    page = context.new_page()
    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    page.goto(allowed_host + "/")
    page.wait_for_selector("chatapp-widget[data-state=closed]", state="attached")
    page.screenshot(path=str(SHOTS / "widget-closed-hostile-host.png"))

    # when: the visitor opens the bubble (a click where it sits: the shadow root is closed)
    page.mouse.click(*BUBBLE)
    page.wait_for_selector("chatapp-widget[data-state=open]", state="attached")
    frame = _chat_frame(page)
    frame.wait_for_selector("#connection-status[data-state=open]")
    # then: the chat took the keyboard focus, so the visitor can type at once
    frame.wait_for_function("document.activeElement && document.activeElement.id === 'chat-input'")

    # when: the visitor asks
    page.keyboard.type("How long do refunds take?")
    page.keyboard.press("Enter")
    bot = frame.wait_for_selector("li.msg-bot:not(.msg-streaming)", timeout=TURN_TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "widget-open-answer.png"))
    # then: a streamed, cited, reviewed answer from the knowledge base the page named
    assert frame.evaluate("window.__sawStreaming") is True
    assert bot.query_selector(".msg-text").inner_text().strip()
    assert bot.query_selector(".citation-title").inner_text().strip() == "Refund timing"
    assert (
        "Refunds take 5 to 10 business days" in bot.query_selector(".citation-quote").inner_text()
    )
    assert bot.query_selector(".review-badge") is not None
    conversation_id = frame.get_attribute("#chat", "data-conversation-id")
    assert conversation_id
    # and the host's CSS reached neither the bubble's root nor the chat
    styles = page.evaluate(
        """() => ({
            host: getComputedStyle(document.querySelector('chatapp-widget')).fontSize,
            page: getComputedStyle(document.querySelector('h1')).fontSize,
        })"""
    )
    assert styles == {"host": "16px", "page": "40px"}
    assert (
        frame.evaluate("getComputedStyle(document.querySelector('#chat-input')).fontSize") != "40px"
    )
    box = frame.frame_element().bounding_box()
    assert box is not None
    assert (box["width"], box["height"]) == (380, 620)
    # the accent the page asked for (data-accent) colours the chat's buttons
    send_colour = frame.evaluate(
        "getComputedStyle(document.querySelector('#chat-send')).backgroundColor"
    )
    assert send_colour == "rgb(29, 107, 52)"

    # when: the visitor follows a link on the host site, with the chat open
    page.click("#nav-page2")
    page.wait_for_url("**/page2.html")
    page.wait_for_selector("chatapp-widget[data-state=open]", state="attached")
    frame = _chat_frame(page)
    frame.wait_for_selector("li.msg-bot:not(.msg-streaming) .citation-title")
    # then: the same conversation, reopened by itself
    assert frame.get_attribute("#chat", "data-conversation-id") == conversation_id
    texts = [li.inner_text() for li in frame.query_selector_all("#chat-log li.msg-visitor")]
    assert any("How long do refunds take?" in text for text in texts)
    page.screenshot(path=str(SHOTS / "widget-after-navigation.png"))

    # when: the visitor closes it from the chat's header, then reloads the page
    frame.click("#widget-close")
    page.wait_for_selector("chatapp-widget[data-state=closed]", state="attached")
    page.reload()
    page.wait_for_selector("chatapp-widget[data-state=closed]", state="attached")
    # then: it stays closed until opened again, with the same conversation
    assert not [f for f in page.frames if "/widget/frame/" in f.url]
    page.mouse.click(*BUBBLE)
    frame = _chat_frame(page)
    frame.wait_for_selector("li.msg-bot:not(.msg-streaming)")
    assert frame.get_attribute("#chat", "data-conversation-id") == conversation_id
    assert warnings == []
    context.close()


def test_a_page_of_an_origin_not_allowed_gets_no_widget(stack, other_host, browser):
    # given
    page = browser.new_page(viewport=VIEWPORT)
    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    # when
    page.goto(other_host + "/")
    page.wait_for_function("performance.getEntriesByName('chatapp-widget:start').length === 1")
    deadline = time.monotonic() + 10
    while not warnings and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    # then: no bubble, and a console warning says why
    assert page.locator("chatapp-widget").count() == 0
    assert len(warnings) == 1
    assert warnings[0].startswith("[chatapp-widget] not mounted: This page's origin may not embed")

    # when: the page frames the chat itself
    page.evaluate(
        """(src) => {
            const frame = document.createElement('iframe');
            frame.src = src;
            document.body.append(frame);
        }""",
        f"{stack.base_url}/widget/frame/",
    )
    page.wait_for_timeout(1500)
    # then: the browser refuses it (CSP frame-ancestors): no chat document loads
    chats = [f for f in page.frames if f != page.main_frame and f.query_selector("#chat-input")]
    assert chats == []
    page.close()


def test_on_a_phone_the_widget_fills_the_screen_and_hands_off(stack, allowed_host, browser):
    # given
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(allowed_host + "/")
    page.wait_for_selector("chatapp-widget[data-state=closed]", state="attached")
    # when
    page.mouse.click(390 - 48, 844 - 48)
    frame = _chat_frame(page)
    frame.wait_for_selector("#connection-status[data-state=open]")
    page.screenshot(path=str(SHOTS / "widget-phone-open.png"))
    # then: the panel covers the screen
    box = frame.frame_element().bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)

    # when: the visitor asks for a person (the chat page's own button, in the widget)
    frame.click("#handoff-btn")
    # then: handed off at once, as on /
    banner = frame.wait_for_selector("#handoff-banner:not([hidden])", timeout=30_000)
    assert banner.inner_text() == "A person from our team will reply here."
    page.screenshot(path=str(SHOTS / "widget-phone-handoff.png"))
    # and the close button gives the page back
    frame.click("#widget-close")
    page.wait_for_selector("chatapp-widget[data-state=closed]", state="attached")
    page.close()
