"""Every surface under the Content-Security-Policy, in headless Chromium: no violation reported.

The policy is the one production sends (settings/base.py); the other browser tests run under it
too, so a blocked script or socket would also fail their flows.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from tests.e2e.helpers import http_json

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Reported by the page itself: init scripts run outside the page's policy.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


@pytest.fixture
def pages(stack) -> dict[str, str]:
    """One URL per page of each surface, with the data those pages need."""
    admin = user_ensure(username="csp-admin", role=User.Role.ADMIN, password="csp-pass-1")
    auth = {"Authorization": f"Bearer {api_key_create(user=admin)}"}
    _, kb = http_json(
        "POST",
        f"{stack.base_url}/api/v1/knowledge-bases",
        {"name": f"CSP {uuid.uuid4().hex[:6]}"},
        auth,
    )
    _, conversation = http_json("POST", f"{stack.base_url}/api/v1/conversations", {})
    return {
        "chat": "/",
        "login": "/accounts/login/",
        "console queue": "/console/",
        "console conversation": f"/console/conversations/{conversation['id']}/",
        "dashboard": "/dashboard/",
        "knowledge": "/dashboard/knowledge/",
        "knowledge base": f"/dashboard/knowledge/{kb['id']}/",
        "widget settings": "/dashboard/widget/",
        "widget frame": "/widget/frame/?title=Help&accent=%2336c",
        "admin": "/admin/",
        "admin users": "/admin/accounts/user/",
        "admin user": f"/admin/accounts/user/{admin.pk}/change/",
    }


def test_no_page_reports_a_csp_violation(stack, pages, browser):
    # given: a logged-in admin whose pages collect violations and console errors
    context = browser.new_context()
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{page.url}: {msg.text}"))
    page.goto(f"{stack.base_url}/accounts/login/?next=/dashboard/")
    page.fill("#id_username", "csp-admin")
    page.fill("#id_password", "csp-pass-1")
    page.click("#login-submit")
    page.wait_for_url("**/dashboard/")
    violations: dict[str, Any] = {}
    headers: dict[str, str] = {}
    # when
    for name, path in pages.items():
        response = page.goto(stack.base_url + path)
        assert response is not None, name
        assert response.status == 200, (name, response.status)
        headers[name] = response.headers.get("content-security-policy", "")
        page.wait_for_load_state("networkidle")
        if name in ("chat", "widget frame"):  # the websocket (connect-src) opened, scripts ran
            page.wait_for_selector("#connection-status[data-state=open]")
        violations[name] = page.evaluate("window.__cspViolations")
    context.close()
    # then
    assert {name: v for name, v in violations.items() if v} == {}
    assert [line for line in console if "Content Security Policy" in line] == []
    assert {name for name, header in headers.items() if "script-src 'self'" in header} == set(pages)
