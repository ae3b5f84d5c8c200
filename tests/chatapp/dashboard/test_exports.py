from __future__ import annotations

import csv
import io

import pytest

from tests.chatapp.dashboard.trend_data import DAY1, DAY3, known_conversations, turn_on

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_conversations_csv_lists_the_range_oldest_first(admin_client):
    # given
    known_conversations()
    # when
    response = admin_client.get("/api/v1/exports/conversations.csv?start=2026-03-02&end=2026-03-03")
    # then
    rows = _csv(response)
    assert response["Content-Disposition"] == (
        'attachment; filename="conversations-2026-03-02-2026-03-03.csv"'
    )
    assert rows[0] == [
        "id",
        "created_at",
        "status",
        "assignee",
        "handoff_reason",
        "messages",
        "visitor_messages",
        "agent_joined",
        "last_message_at",
    ]
    assert len(rows) == 1 + 4  # day 3 is outside the range
    assert [r[1][:10] for r in rows[1:]] == ["2026-03-02"] * 4
    assert sorted((r[4], r[7]) for r in rows[1:]) == [
        ("", "no"),
        ("", "no"),
        ("no_relevant_passages", "no"),
        ("visitor_request", "yes"),
    ]
    assert {(r[5], r[6]) for r in rows[1:]} == {("1", "1")}


def test_turns_csv_has_times_in_ms(admin_client):
    # given
    turn_on(DAY1, ttft_ms=250, total_ms=2000)
    turn_on(DAY3, ttft_ms=None, total_ms=None)
    # when
    rows = _csv(admin_client.get("/api/v1/exports/turns.csv?start=2026-03-01&end=2026-03-31"))
    # then
    assert rows[0] == [
        "id",
        "conversation_id",
        "started_at",
        "status",
        "verdict",
        "reason",
        "first_token_ms",
        "turn_ms",
        "question",
    ]
    assert [(r[2][:10], r[3], r[6], r[7], r[8]) for r in rows[1:]] == [
        ("2026-03-02", "completed", "250", "2000", "Q?"),
        ("2026-03-04", "completed", "", "", "Q?"),
    ]


def test_a_question_that_reads_as_a_formula_is_defused(admin_client):
    # given: the failed turn of day 3 started now (today), its question starts with "="
    known_conversations()
    # when
    rows = _csv(admin_client.get("/api/v1/exports/turns.csv"))
    # then
    assert [r[8] for r in rows[1:]] == ["'=1+1 refunds?"]


def test_exports_are_for_admins_and_check_the_range(client, agent):
    # given
    client.force_login(agent)
    # when
    refused = client.get("/api/v1/exports/conversations.csv")
    client.force_login(type(agent).objects.create(username="boss", role="admin"))
    bad = client.get("/api/v1/exports/turns.csv?start=2026-03-05&end=2026-03-01")
    # then
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"
