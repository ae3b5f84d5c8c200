"""Browser flows in headless Chromium against the running stack: chat, console, dashboard."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from tests.e2e.conftest import SHOTS
from tests.e2e.helpers import http_json, wait_for_document

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TURN_TIMEOUT_MS = 180_000


@pytest.fixture
def demo(stack) -> dict[str, str]:
    """A default knowledge base with one short page, and staff who can log in."""
    admin = user_ensure(username="ada", role=User.Role.ADMIN, password="ada-pass-1")
    user_ensure(username="alice", role=User.Role.AGENT, password="alice-pass-1")
    key = api_key_create(user=admin)
    auth = {"Authorization": f"Bearer {key}"}
    _, kb = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases",
        {"name": f"Help {uuid.uuid4().hex[:6]}", "visibility": "public"},
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
    return {"key": key}


def _login(page: Any, base_url: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_url(f"**{next_path}")


def test_visitor_gets_a_cited_answer_then_an_agent_takes_over(stack, demo, browser):
    # given
    visitor = browser.new_page(viewport={"width": 390, "height": 844})
    visitor.goto(stack.base_url + "/")
    visitor.wait_for_selector("#connection-status[data-state=open]")
    # when: the visitor asks
    visitor.fill("#chat-input", "How long do refunds take?")
    visitor.click("#chat-send")
    bot = visitor.wait_for_selector("li.msg-bot:not(.msg-streaming)", timeout=TURN_TIMEOUT_MS)
    visitor.screenshot(path=str(SHOTS / "chat-answer.png"), full_page=True)
    # then
    assert bot.query_selector(".msg-text").inner_text().strip()
    assert bot.query_selector(".citation-title").inner_text().strip() == "Refund timing"
    assert (
        "Refunds take 5 to 10 business days" in bot.query_selector(".citation-quote").inner_text()
    )
    assert bot.query_selector(".review-badge") is not None
    conversation_id = visitor.get_attribute("#chat", "data-conversation-id")

    # when: an agent takes over in the console and replies
    agent = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(agent, stack.base_url, "alice", "alice-pass-1", "/console/")
    agent.wait_for_selector(f".queue-row[data-conversation-id='{conversation_id}']")
    agent.screenshot(path=str(SHOTS / "console-queue.png"), full_page=True)
    agent.click(f".queue-row[data-conversation-id='{conversation_id}'] .queue-link")
    agent.wait_for_selector("#claim-btn")
    agent.click("#claim-btn")
    agent.wait_for_selector("#reply-input:not([disabled])")
    agent.fill("#reply-input", "Hi, Alice here. Your refund is on its way.")
    agent.click("#reply-send")
    agent.wait_for_selector("li.msg-agent")
    agent.screenshot(path=str(SHOTS / "console-conversation.png"), full_page=True)
    # then: the visitor sees the reply at once
    reply = visitor.wait_for_selector("li.msg-agent", timeout=15_000)
    assert "Your refund is on its way." in reply.inner_text()
    assert "alice" in reply.inner_text()
    visitor.screenshot(path=str(SHOTS / "chat-agent-reply.png"), full_page=True)

    # when: the admin opens the turn's trace in the dashboard
    admin = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(admin, stack.base_url, "ada", "ada-pass-1", "/dashboard/")
    admin.click(".turn-row a")
    admin.wait_for_selector("#steps .step")
    admin.screenshot(path=str(SHOTS / "dashboard-turn.png"), full_page=True)
    stages = [s.get_attribute("data-stage") for s in admin.query_selector_all("#steps .step")]
    # then
    assert stages[:3] == ["retrieval", "answering", "review"]
    _, stored = http_json(
        "GET",
        f"{stack.base_url}/api/v1/conversations/{conversation_id}",
        headers={"Authorization": f"Bearer {demo['key']}"},
    )
    assert [m["role"] for m in stored["messages"]] == ["visitor", "bot", "system", "agent"]
    assert stored["status"] == "assigned"


def test_a_restarted_stream_replaces_the_streamed_text_instead_of_doubling_it(stack, browser):
    # given: the chat page's own message module, in the browser
    page = browser.new_page()
    page.goto(f"{stack.base_url}/")

    # when: one stream, then the same attempt streamed again under a new id (a worker died)
    shown = page.evaluate(
        """async () => {
            const m = await import('/static/shared/messages.js');
            const list = document.createElement('ul');
            const seen = [];
            const delta = (text, stream) =>
                m.applyDelta(list, {turn_id: 7, attempt: 0, stream, text});
            delta('Refunds take 5 days.', 'a');
            delta(' They reach your card.', 'a');
            seen.push(list.textContent);
            delta('Refunds take 5 days.', 'b');
            seen.push(list.textContent);
            return seen;
        }"""
    )

    # then
    assert "Refunds take 5 days. They reach your card." in shown[0]
    assert shown[1].count("Refunds take 5 days.") == 1
    assert "They reach your card." not in shown[1]
    page.close()


# The client's reconnect loop, driven in the page against the real server: a refused socket
# (4401/4403) must end it; a socket dropped without a code (no such route) must be retried.
RECONNECT_PROBE = """
async ([path, waitMs]) => {
  const { ReconnectingSocket, refusalMessage } = await import('/static/shared/ws.js');
  let attempts = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) { attempts += 1; super(...args); }
  };
  let fatal = null;
  const socket = new ReconnectingSocket(`ws://${location.host}${path}`, {
    baseDelayMs: 100, maxDelayMs: 200, onFatal: (code) => { fatal = code; },
  });
  socket.start();
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  socket.stop();
  window.WebSocket = Native;
  return { attempts, fatal, message: fatal ? refusalMessage(fatal, 'visitor') : null };
}
"""


def test_the_browser_client_stops_reconnecting_once_the_server_refuses_the_socket(stack, browser):
    # given: a page of the site with the client's modules
    page = browser.new_page()
    page.goto(stack.base_url + "/")
    page.wait_for_selector("#connection-status[data-state=open]")
    conversation_id = page.get_attribute("#chat", "data-conversation-id")
    # when: a wrong token, then a path the server drops without a close code
    refused = page.evaluate(
        RECONNECT_PROBE, [f"/ws/conversations/{conversation_id}/?token=wrong", 2500]
    )
    dropped = page.evaluate(RECONNECT_PROBE, ["/ws/no-such-socket/", 2500])
    # then: one attempt and a sentence for people; the dropped one is retried
    assert refused == {
        "attempts": 1,
        "fatal": 4401,
        "message": "This conversation is no longer available. Start a new conversation.",
    }
    assert dropped["fatal"] is None
    assert dropped["attempts"] >= 3
