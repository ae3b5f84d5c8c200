"""Browser flow of issue 9 (feedback, saved replies) in headless Chromium against the stack.

An admin adds a saved reply on its page; a visitor gets a (curated) answer and rates it down
with a comment; an agent claims the conversation, expands ``/refund`` in the reply box, sends
and closes; the visitor rates the conversation; the admin finds the down-vote with its trace and
opens the curated-answer form prefilled with the question. Real uvicorn, Celery worker,
Postgres and Redis; screenshots in var/test/screenshots/feedback-*.png.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from tests.e2e.conftest import SHOTS
from tests.e2e.helpers import http_json

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TURN_TIMEOUT_MS = 180_000
# The first curated answer loads the embedding model in the web process (slow on a busy CPU).
EMBEDDER_LOAD_TIMEOUT_S = 300
QUESTION = "How long do refunds take?"
ANSWER = "Refunds take 5 to 10 business days once we receive the item."


@pytest.fixture
def shop(stack) -> dict[str, Any]:
    """A public default knowledge base whose curated answer answers QUESTION (no LLM needed)."""
    admin = user_ensure(username="fb-admin", role=User.Role.ADMIN, password="fb-admin-pass-1")
    agent = user_ensure(username="fb-agent", role=User.Role.AGENT, password="fb-agent-pass-1")
    agent.first_name = "Alice"
    agent.save(update_fields=["first_name"])
    auth = {"Authorization": f"Bearer {api_key_create(user=admin)}"}
    status, kb = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases",
        {"name": f"Shop {uuid.uuid4().hex[:6]}", "visibility": "public"},
        auth,
    )
    assert status == 201, kb
    status, curated = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases/{kb['id']}/curated-answers",
        {"question": QUESTION, "answer": ANSWER},
        auth,
        timeout=EMBEDDER_LOAD_TIMEOUT_S,
    )
    assert status == 201, curated
    return {"kb_id": kb["id"], "auth": auth}


def _login(page: Any, base_url: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_url(f"**{next_path}")


def test_thumbs_down_csat_and_a_saved_reply_expanded_in_the_console(stack, shop, browser):
    base = stack.base_url
    # given: an admin adds a saved reply on its page
    admin = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(admin, base, "fb-admin", "fb-admin-pass-1", "/dashboard/replies/")
    admin.fill("#reply-shortcut", "refund")
    admin.fill("#reply-title-input", "Refund timing")
    admin.fill(
        "#reply-body",
        "Hi {visitor_name}, {agent_name} here. Your refund takes 5 to 10 business days.",
    )
    admin.click("#reply-submit")
    admin.wait_for_selector(".reply-item[data-shortcut='refund']")
    admin.screenshot(path=str(SHOTS / "feedback-saved-replies-admin.png"), full_page=True)

    # when: the visitor asks and rates the answer down, with a comment
    visitor = browser.new_page(viewport={"width": 390, "height": 844})
    visitor.goto(base + "/")
    visitor.wait_for_selector("#connection-status[data-state=open]")
    visitor.fill("#chat-input", QUESTION)
    visitor.click("#chat-send")
    bot = visitor.wait_for_selector(
        "li.msg-bot:not(.msg-streaming) .answer-feedback", timeout=TURN_TIMEOUT_MS
    )
    assert bot is not None
    visitor.click("li.msg-bot .thumb-down")
    visitor.wait_for_selector("li.msg-bot .thumb-down[aria-pressed=true]")
    visitor.wait_for_selector("li.msg-bot .answer-feedback-comment textarea:focus")
    visitor.screenshot(path=str(SHOTS / "feedback-chat-comment-box.png"), full_page=True)
    visitor.fill("li.msg-bot .answer-feedback-comment textarea", "I paid by card, is it faster?")
    visitor.click("li.msg-bot .answer-feedback-comment button[type=submit]")
    visitor.wait_for_selector(
        "li.msg-bot .answer-feedback-status:has-text('we read every comment')"
    )
    visitor.screenshot(path=str(SHOTS / "feedback-chat-thumbs-down.png"), full_page=True)
    conversation_id = visitor.get_attribute("#chat", "data-conversation-id")

    # when: an agent claims it and expands /refund in the reply box
    agent = browser.new_page(viewport={"width": 1280, "height": 900})
    path = f"/console/conversations/{conversation_id}/"
    _login(agent, base, "fb-agent", "fb-agent-pass-1", path)
    agent.click("#claim-btn")
    agent.wait_for_selector("#reply-input:not([disabled])")
    agent.click("#reply-input")
    agent.keyboard.type("/ref")
    agent.wait_for_selector("#saved-reply-list:not([hidden]) [role=option][aria-selected=true]")
    assert agent.get_attribute("#reply-input", "aria-expanded") == "true"
    agent.screenshot(path=str(SHOTS / "feedback-console-listbox.png"), full_page=True)
    agent.keyboard.press("Enter")  # picks the reply; does not send it
    # then: expanded with the variables filled in, not sent yet
    expected = "Hi there, Alice here. Your refund takes 5 to 10 business days."
    assert agent.input_value("#reply-input") == expected
    assert agent.is_hidden("#saved-reply-list")
    assert agent.query_selector("li.msg-agent") is None
    agent.screenshot(path=str(SHOTS / "feedback-console-expanded.png"), full_page=True)
    agent.keyboard.press("Enter")  # now Enter sends, as before
    agent.wait_for_selector("li.msg-agent")
    agent.click("#close-btn")
    agent.wait_for_selector("#conv-status.status-closed")

    # when: the visitor sees the reply and the CSAT prompt, and rates 4 of 5
    visitor.wait_for_selector(f"li.msg-agent:has-text('{expected}')", timeout=15_000)
    visitor.wait_for_selector("#csat", timeout=15_000)
    visitor.screenshot(path=str(SHOTS / "feedback-chat-csat.png"), full_page=True)
    visitor.click("label[for=csat-score-4]")
    visitor.fill("#csat-comment", "Quick and friendly.")
    visitor.click("#csat-submit")
    visitor.wait_for_selector(".csat-status:has-text('You rated us 4 of 5')")
    visitor.screenshot(path=str(SHOTS / "feedback-chat-csat-sent.png"), full_page=True)

    # then: the admin finds the down-vote, its trace, and a prefilled curated-answer form
    admin.goto(base + "/dashboard/feedback/")
    item = admin.wait_for_selector(".feedback-item")
    assert item is not None
    assert admin.inner_text(".feedback-question") == QUESTION
    assert admin.inner_text(".feedback-answer") == ANSWER
    assert admin.inner_text(".feedback-comment") == "I paid by card, is it faster?"
    assert admin.inner_text("[data-testid=csat-average] .stat-value") == "4.0"
    assert admin.get_attribute(".trace-link", "href").startswith("/dashboard/turns/")
    admin.screenshot(path=str(SHOTS / "feedback-dashboard-downvoted.png"), full_page=True)
    admin.click(".trace-link")
    admin.wait_for_selector("#steps .step")
    admin.go_back()
    admin.click(".curate-link")
    admin.wait_for_url(f"**/dashboard/knowledge/{shop['kb_id']}/**")
    assert admin.input_value("#curated-question") == QUESTION
    admin.screenshot(path=str(SHOTS / "feedback-curated-prefilled.png"), full_page=True)
