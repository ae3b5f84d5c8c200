from __future__ import annotations

import pytest

from tests.chatapp.dashboard.trend_data import DAY1, known_conversations, turn_on

pytestmark = pytest.mark.django_db


def test_the_trends_page_draws_every_chart_for_the_range(client, admin_user):
    # given
    known_conversations()
    turn_on(DAY1, ttft_ms=400, total_ms=3000)
    client.force_login(admin_user)
    # when
    response = client.get("/dashboard/trends/?start=2026-03-02&end=2026-03-04")
    # then
    html = response.content.decode()
    assert response.status_code == 200
    for slug in ("conversations", "handoff-rate", "first-token", "turn-time", "csat", "thumbs"):
        assert f'id="chart-{slug}"' in html
        assert f'id="table-{slug}"' in html
    assert 'data-series="bot" data-x="2026-03-02" data-value="2"' in html
    assert 'data-series="p50" data-x="2026-03-02" data-value="400.0"' in html
    assert "5 conversations and 1 turn from 2 Mar 2026 to 4 Mar 2026." in html
    assert 'href="/api/v1/exports/turns.csv?start=2026-03-02&amp;end=2026-03-04"' in html
    assert '<tr data-key="visitor_request">' in html


def test_a_bad_range_shows_the_form_again_with_the_reason(client, admin_user):
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/dashboard/trends/?start=2026-03-05&end=2026-03-01")
    # then
    assert response.status_code == 400
    assert 'id="range-error"' in response.content.decode()


def test_the_trends_page_is_for_admins(client, agent):
    # given
    client.force_login(agent)
    # when / then
    assert client.get("/dashboard/trends/").status_code == 403
