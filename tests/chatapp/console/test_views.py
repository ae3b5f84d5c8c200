from __future__ import annotations

import re

import pytest

from chatapp.conversations.models import Conversation, Message, Note

pytestmark = pytest.mark.django_db

ROW_ID = re.compile(r'class="queue-row" data-conversation-id="([0-9a-f-]{36})"')


def test_queue_sends_anonymous_visitors_to_log_in(client):
    # given / when
    response = client.get("/console/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/console/"


def test_queue_refuses_customers(client, customer):
    # given
    client.force_login(customer)
    # when
    response = client.get("/console/")
    # then
    assert response.status_code == 403


def test_queue_orders_waiting_then_mine_then_bot_then_the_rest(
    client, agent, other_agent, make_conv
):
    # given: the newest activity in each group is listed first
    other = make_conv(status=Conversation.Status.ASSIGNED, assignee=other_agent, minutes_ago=0)
    bot_old = make_conv(status=Conversation.Status.BOT, minutes_ago=30)
    mine = make_conv(status=Conversation.Status.ASSIGNED, assignee=agent, minutes_ago=5)
    bot_new = make_conv(status=Conversation.Status.BOT, minutes_ago=1)
    closed = make_conv(status=Conversation.Status.CLOSED, minutes_ago=2)
    waiting = make_conv(
        status=Conversation.Status.WAITING,
        minutes_ago=60,
        text="Where is my parcel?",
        handoff_reason="visitor_request",
    )
    client.force_login(agent)
    # when
    response = client.get("/console/")
    # then
    assert response.status_code == 200
    ids = ROW_ID.findall(response.content.decode())
    assert ids == [str(c.pk) for c in (waiting, mine, bot_new, bot_old, other, closed)]
    html = response.content.decode()
    assert "Where is my parcel?" in html
    assert "visitor_request" in html
    assert f'href="/console/conversations/{waiting.pk}/"' in html
    assert f'data-user-id="{agent.pk}"' in html


def test_queue_is_three_queries_however_many_rows(
    client, agent, other_agent, make_conv, django_assert_num_queries
):
    # given
    for i in range(12):
        make_conv(status=Conversation.Status.ASSIGNED, assignee=other_agent, minutes_ago=i)
    client.force_login(agent)
    # when / then: session, user, the queue (assignee joined, last message as a subquery)
    with django_assert_num_queries(3):
        response = client.get("/console/")
    assert response.status_code == 200
    assert len(ROW_ID.findall(response.content.decode())) == 12


def test_queue_lets_admins_in_and_sets_the_csrf_cookie(client, admin_user):
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/console/")
    # then
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert 'id="queue-empty" class="empty">' in response.content.decode()


def test_conversation_page_shows_messages_citations_notes_and_handoff(
    client, agent, make_conv, django_assert_num_queries
):
    # given
    conversation = make_conv(
        status=Conversation.Status.WAITING,
        text="Can I return a lamp?",
        handoff_reason="unsupported_answer",
        handoff_detail="The draft cited nothing.",
    )
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text="Yes, within 30 days [1].",
        citations=[
            {
                "document_id": 1,
                "chunk_id": 2,
                "title": "Return policy",
                "quote": "30 days to return",
                "source_url": "https://help.example/returns",
            }
        ],
        review={"verdict": "revised", "confidence": 0.82},
    )
    Message.objects.create(
        conversation=conversation, role=Message.Role.AGENT, text="Hi, Alice here.", author=agent
    )
    Note.objects.create(conversation=conversation, author=agent, text="VIP customer")
    client.force_login(agent)
    # when: session, user, conversation, messages, notes, agents
    with django_assert_num_queries(6):
        response = client.get(f"/console/conversations/{conversation.pk}/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Can I return a lamp?" in html
    assert '<a class="citation-title" href="https://help.example/returns"' in html
    assert '<blockquote class="citation-quote">30 days to return</blockquote>' in html
    assert "Reviewed after revision" in html
    assert "reviewer confidence 82%" in html
    assert '<span class="msg-author">alice</span>' in html
    assert '<p class="note-text">VIP customer</p>' in html
    assert '<strong id="handoff-reason">unsupported_answer</strong>' in html
    assert "The draft cited nothing." in html
    assert f'data-api-url="/api/v1/conversations/{conversation.pk}"' in html
    assert f'data-ws-path="/ws/conversations/{conversation.pk}/"' in html


def test_conversation_page_disables_the_reply_box_unless_assigned_to_me(
    client, agent, other_agent, make_conv
):
    # given
    theirs = make_conv(status=Conversation.Status.ASSIGNED, assignee=other_agent)
    mine = make_conv(status=Conversation.Status.ASSIGNED, assignee=agent)
    client.force_login(agent)
    # when
    theirs_html = client.get(f"/console/conversations/{theirs.pk}/").content.decode()
    mine_html = client.get(f"/console/conversations/{mine.pk}/").content.decode()
    # then
    assert 'aria-describedby="reply-hint" disabled>' in theirs_html
    assert '<button id="reply-send" type="submit" class="button primary" disabled>' in theirs_html
    assert 'aria-describedby="reply-hint">' in mine_html
    assert '<button id="reply-send" type="submit" class="button primary">' in mine_html


def test_conversation_page_does_not_link_unsafe_citation_urls(client, agent, make_conv):
    # given
    conversation = make_conv()
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text="See [1].",
        citations=[
            {
                "document_id": 1,
                "chunk_id": 2,
                "title": "Evil",
                "quote": "q",
                "source_url": "javascript:alert(1)",
            }
        ],
        review={"verdict": "approved", "confidence": 0.9},
    )
    client.force_login(agent)
    # when
    html = client.get(f"/console/conversations/{conversation.pk}/").content.decode()
    # then
    assert "javascript:alert" not in html
    assert '<span class="citation-title">Evil</span>' in html
    assert "Reviewed ✓" in html


def test_conversation_page_is_404_for_an_unknown_conversation(client, agent):
    # given
    client.force_login(agent)
    # when
    response = client.get("/console/conversations/00000000-0000-0000-0000-000000000000/")
    # then
    assert response.status_code == 404


def test_conversation_page_refuses_customers_and_redirects_anonymous(client, customer, make_conv):
    # given
    conversation = make_conv()
    url = f"/console/conversations/{conversation.pk}/"
    # when
    anonymous = client.get(url)
    client.force_login(customer)
    forbidden = client.get(url)
    # then
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/accounts/login/?next={url}"
    assert forbidden.status_code == 403


def test_login_page_renders_the_form_with_next(client):
    # given / when
    response = client.get("/accounts/login/?next=/dashboard/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert '<input type="hidden" name="next" value="/dashboard/">' in html


def test_login_redirects_staff_to_next(client, agent):
    # given
    agent.set_password("s3cret-pass")
    agent.save()
    # when
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "s3cret-pass", "next": "/console/"},
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/console/"
