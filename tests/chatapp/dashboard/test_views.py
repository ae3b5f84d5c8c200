from __future__ import annotations

import re

import pytest

from chatapp.conversations.models import Conversation
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

TURN_ROW = re.compile(r'class="turn-row" data-turn-id="(\d+)"')


def test_dashboard_sends_anonymous_visitors_to_log_in(client):
    # given / when
    response = client.get("/dashboard/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_dashboard_refuses_everyone_but_admins(client, role):
    # given
    client.force_login(UserFactory.create(username=f"u-{role}", role=role))
    # when
    index = client.get("/dashboard/")
    turn = client.get("/dashboard/turns/1/")
    # then
    assert index.status_code == 403
    assert turn.status_code == 403


def test_dashboard_shows_counts_and_recent_turns(
    client, admin_user, make_turn, django_assert_num_queries
):
    # given
    first = make_turn(question="First question?")
    second = make_turn(question="Second question?", answering_ms=1500)
    Conversation.objects.filter(pk=second.conversation_id).update(
        status=Conversation.Status.WAITING, handoff_reason="visitor_request"
    )
    client.force_login(admin_user)
    # when: session, user, five counters, the turns
    with django_assert_num_queries(8):
        response = client.get("/dashboard/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert TURN_ROW.findall(html) == [str(second.pk), str(first.pk)]
    assert re.search(r'data-testid="stat-total"><span class="stat-value">2<', html)
    assert re.search(r'data-testid="stat-waiting"><span class="stat-value">1<', html)
    assert re.search(r'data-testid="stat-bot"><span class="stat-value">1<', html)
    reason_row = '<tr data-key="visitor_request"><th scope="row">visitor_request</th>'
    assert f'{reason_row}<td class="num">1</td></tr>' in html
    assert '<dd id="approval-rate">100%</dd>' in html
    assert '<dd id="avg-first-token">700 ms</dd>' in html
    assert f'href="/dashboard/turns/{second.pk}/"' in html
    assert '<td class="num">1500</td>' in html
    assert 'href="/admin/"' in html


def test_turn_page_shows_each_step_with_its_json_and_the_answer(client, admin_user, make_turn):
    # given
    run = make_turn()
    client.force_login(admin_user)
    # when
    response = client.get(f"/dashboard/turns/{run.pk}/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    stages = re.findall(r'class="step card step-done" data-stage="(\w+)" data-attempt="0"', html)
    assert stages == ["retrieval", "answering", "review"]
    assert "answering-model" in html
    assert "&quot;kind&quot;: &quot;draft_answer&quot;," in html
    assert '<dd id="turn-question">How long do refunds take?</dd>' in html
    assert '<ol class="messages perspective-staff" id="turn-answer">' in html
    assert "Within 5 days [1]." in html
    assert "2500 ms" in html


def test_turn_page_is_404_for_an_unknown_turn(client, admin_user):
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/dashboard/turns/999999/")
    # then
    assert response.status_code == 404


def test_a_copilot_turn_is_marked_as_such_and_shows_its_suggestion(client, admin_user, make_turn):
    # given: a turn that drafted a suggestion for the agent (nothing reached the visitor)
    from chatapp.assistant.models import PipelineRun

    run = make_turn()
    suggestion = {"text": "Refunds take 5 days.", "citations": [], "verdict": "approved"}
    PipelineRun.objects.filter(pk=run.pk).update(kind="copilot", answer=None, suggestion=suggestion)
    client.force_login(admin_user)
    # when
    index = client.get("/dashboard/").content.decode()
    page = client.get(f"/dashboard/turns/{run.pk}/").content.decode()
    # then
    assert f'#{run.pk}</a> <span class="run-kind">copilot</span>' in index
    assert f"<h1>Copilot turn #{run.pk}</h1>" in page
    assert '<div id="turn-suggestion">' in page
    assert "Refunds take 5 days." in page
