"""The dashboard's "over time" page in Chromium: charts drawn for a range, the table fallback, the
range form and a CSV export downloaded with the admin's session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import user_ensure
from tests.chatapp.dashboard.trend_data import conversation_on, turn_on
from tests.e2e.conftest import SHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history(stack) -> datetime:
    """Two weeks of conversations and turns ending yesterday (ORM before the browser starts)."""
    user_ensure(username="ada", role=User.Role.ADMIN, password="ada-pass-1")
    end = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for back in range(14):
        day = end - timedelta(days=back)
        for i in range(back % 5 + 1):
            conversation_on(
                day + timedelta(minutes=i),
                reason="visitor_request" if i == 1 else "no_relevant_passages" if i == 3 else "",
                agent=i == 1,
            )
        for i in range(3):
            turn_on(
                day + timedelta(minutes=i),
                ttft_ms=600 + 150 * i + 20 * back,
                total_ms=4000 + 900 * i,
            )
    return end


def test_the_admin_reads_the_charts_and_exports_a_range(stack, history, browser):
    # given
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.goto(f"{stack.base_url}/accounts/login/?next=/dashboard/trends/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "ada-pass-1")
    page.click("#login-submit")
    page.wait_for_url("**/dashboard/trends/")
    # when: the range is the last two weeks up to yesterday
    start = (history - timedelta(days=13)).date().isoformat()
    page.fill("#range-start", start)
    page.fill("#range-end", history.date().isoformat())
    page.click("#range-submit")
    page.wait_for_selector("#chart-conversations rect.chart-bar")
    page.screenshot(path=str(SHOTS / "dashboard-trends.png"), full_page=True)
    # then: every chart is drawn, each day has its bars and points
    assert page.locator("#chart-conversations rect.chart-bar[data-series=bot]").count() == 14
    assert page.locator("#chart-first-token circle[data-series=p95]").count() == 14
    # four charts of conversations and turns, and two of visitor feedback (CSAT, thumbs)
    assert page.locator("svg.chart[role=img]").count() == 6
    assert page.locator("#chart-csat").count() == 1
    assert page.locator("#chart-thumbs").count() == 1
    # the table fallback opens from the keyboard
    page.focus("[data-chart=handoff-rate] summary")
    page.keyboard.press("Enter")
    assert page.locator("#table-handoff-rate tbody tr").count() == 14
    page.screenshot(path=str(SHOTS / "dashboard-trends-table.png"), full_page=True)
    # and the turns CSV comes down with the session
    with page.expect_download() as download:
        page.click("#export-turns")
    lines = download.value.path().read_text().splitlines()
    assert lines[0].startswith("id,conversation_id,started_at,status")
    assert len(lines) == 1 + 14 * 3
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "dashboard-trends-mobile.png"), full_page=True)
