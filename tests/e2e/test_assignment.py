"""Presence and auto-assignment in the browser, on the running stack (uvicorn + a real Celery
worker running the assignment passes): an agent online in the console gets a conversation the
moment a visitor asks for a person; going offline sends it back to the queue."""

from __future__ import annotations

from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import user_ensure
from chatapp.assignment.models import AssignmentSettings
from tests.e2e.conftest import SHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ASSIGN_TIMEOUT_MS = 30_000


def _login(page: Any, base_url: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_url(f"**{next_path}")


@pytest.fixture
def auto_assign(stack) -> None:
    """Auto-assignment on (the test settings leave it off) and an agent (ORM before the browser)."""
    AssignmentSettings.objects.create(pk=1, auto_assign=True, default_capacity=2)
    user_ensure(username="olga", role=User.Role.AGENT, password="olga-pass-1")


def test_an_online_agent_gets_a_waiting_conversation_live_and_gives_it_back_offline(
    stack, auto_assign, browser
):
    # given: one agent in the console
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["notifications"], origin=stack.base_url)
    agent = context.new_page()
    _login(agent, stack.base_url, "olga", "olga-pass-1", "/console/")
    agent.wait_for_selector("#presence-state[data-state=online]")
    agent.wait_for_selector("#console-connection[data-state=open]")
    agent.click("#notify-enable")  # unlocks the beep; permission is granted already
    agent.wait_for_selector("#notify-enable[aria-pressed=true]")
    agent.screenshot(path=str(SHOTS / "console-presence-online.png"), full_page=True)

    # when: a visitor asks for a person
    visitor = browser.new_page(viewport={"width": 390, "height": 844})
    visitor.goto(stack.base_url + "/")
    visitor.wait_for_selector("#connection-status[data-state=open]")
    visitor.click("#handoff-btn")
    conversation_id = visitor.get_attribute("#chat", "data-conversation-id")
    row = f".queue-row[data-conversation-id='{conversation_id}']"

    # then: the console shows it assigned to the agent, live, and tells them
    agent.wait_for_selector(f"{row}[data-status=assigned]", timeout=ASSIGN_TIMEOUT_MS)
    assert agent.inner_text(f"{row} .col-assignee") == "olga"
    agent.wait_for_function(
        "document.getElementById('presence').dataset.lastNotice?.startsWith("
        "'A conversation was assigned to you')"
    )
    agent.wait_for_selector("#presence-state:has-text('1 of 2')")
    agent.screenshot(path=str(SHOTS / "console-auto-assigned.png"), full_page=True)
    visitor.wait_for_selector("li.msg-system:has-text('olga joined the conversation.')")
    visitor.screenshot(path=str(SHOTS / "chat-auto-assigned.png"), full_page=True)

    # when: the agent goes offline
    agent.select_option("#presence-select", "offline")
    # then: the conversation goes back to waiting, and the visitor is told
    agent.wait_for_selector(f"{row}[data-status=waiting]", timeout=ASSIGN_TIMEOUT_MS)
    agent.wait_for_selector("#presence-state[data-state=offline]:has-text('0 of 2')")
    visitor.wait_for_selector("li.msg-system:has-text('olga is no longer available')")
    agent.screenshot(path=str(SHOTS / "console-presence-offline.png"), full_page=True)
    agent.set_viewport_size({"width": 390, "height": 844})
    agent.screenshot(path=str(SHOTS / "console-presence-mobile.png"), full_page=True)
    context.close()
