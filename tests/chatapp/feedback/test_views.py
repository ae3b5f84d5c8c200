"""The admins' down-voted answers page, and the curated-answer form it opens prefilled."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from chatapp.feedback.services import answer_feedback_set
from tests.factories.accounts import UserFactory
from tests.factories.conversations import make_conversation
from tests.factories.feedback import make_answer
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db

PAGE = "/dashboard/feedback/"


def test_the_page_sends_anonymous_visitors_to_log_in(client):
    # when
    response = client.get(PAGE)
    # then
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PAGE}"


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_the_page_is_for_admins_only(client, role):
    # given
    client.force_login(UserFactory.create(username=f"u-{role}", role=role))
    # when / then
    assert client.get(PAGE).status_code == 403


def test_the_page_lists_down_voted_answers_with_trace_and_curated_link(
    client, admin_user, django_assert_num_queries
):
    # given
    kb = KnowledgeBaseFactory.create(name="Help", visibility="public")
    conversation, _ = make_conversation([kb.pk])
    answer, run = make_answer(
        conversation, question="Can I return a lamp & a chair?", answer="Within 30 days [1]."
    )
    assert run is not None
    answer_feedback_set(
        conversation=conversation, message_id=answer.pk, rating="down", comment="Only lamps?"
    )
    client.force_login(admin_user)
    # when: session, user, the rows, the CSAT count and histogram
    with django_assert_num_queries(5):
        response = client.get(PAGE)
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-message-id="{answer.pk}"' in page
    assert '<dd class="feedback-question">Can I return a lamp &amp; a chair?</dd>' in page
    assert '<dd class="feedback-answer">Within 30 days [1].</dd>' in page
    assert '<dd class="feedback-comment">Only lamps?</dd>' in page
    assert f'href="/dashboard/turns/{run.pk}/"' in page
    link = re.search(r'class="button small primary curate-link"\s+href="([^"]+)"', page)
    assert link is not None
    assert html_lib.unescape(link.group(1)) == (
        f"/dashboard/knowledge/{kb.pk}/?curated_question=Can%20I%20return%20a%20lamp%20%26%20a"
        "%20chair%3F#curated-form"
    )


def test_the_curated_form_opens_prefilled_with_the_question(client, admin_user):
    # given
    kb = KnowledgeBaseFactory.create(name="Help")
    client.force_login(admin_user)
    # when
    response = client.get(
        f"/dashboard/knowledge/{kb.pk}/", {"curated_question": 'Do you ship to "Oslo"?'}
    )
    # then
    page = response.content.decode()
    assert 'value="Do you ship to &quot;Oslo&quot;?" autofocus' in page


def test_the_dashboard_links_to_the_feedback_and_saved_reply_pages(client, admin_user):
    # given
    client.force_login(admin_user)
    # when
    page = client.get("/dashboard/").content.decode()
    # then
    assert 'href="/dashboard/feedback/"' in page
    assert 'href="/dashboard/replies/"' in page
