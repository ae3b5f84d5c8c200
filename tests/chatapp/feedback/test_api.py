"""The feedback routes over HTTP: ratings stored, replaced, bad input and wrong callers refused."""

from __future__ import annotations

import json

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.conversations.models import Message
from chatapp.conversations.services import conversation_assign, conversation_close
from chatapp.feedback.models import AnswerFeedback, ConversationRating
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.factories.conversations import make_conversation
from tests.factories.feedback import make_answer

pytestmark = pytest.mark.django_db


def _feedback_url(conversation, message_id) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages/{message_id}/feedback"


def _csat_url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/csat"


def _post(client, url, body, token=None, **headers):
    if token:
        headers["HTTP_X_CONVERSATION_TOKEN"] = token
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json", **headers)


@pytest.fixture
def answered():
    conversation, token = make_conversation()
    answer, _ = make_answer(conversation)
    return conversation, token, answer


@pytest.fixture
def closed():
    conversation, token = make_conversation()
    agent = AgentFactory.create()
    conversation_assign(conversation=conversation, agent=agent, by=agent)
    conversation_close(conversation=conversation, by=agent)
    return conversation, token


def test_the_visitor_rates_an_answer_down_with_a_comment_then_changes_to_up(client, answered):
    # given
    conversation, token, answer = answered
    url = _feedback_url(conversation, answer.pk)
    # when
    first = _post(client, url, {"rating": "down", "comment": "Not what I asked."}, token)
    second = _post(client, url, {"rating": "up"}, token)
    # then
    assert first.status_code == 201
    assert first.json() == {
        "message_id": answer.pk,
        "rating": "down",
        "comment": "Not what I asked.",
        "replaced": False,
    }
    assert second.status_code == 201
    assert second.json()["replaced"] is True
    assert list(AnswerFeedback.objects.values_list("rating", "comment")) == [("up", "")]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"rating": "meh"}, "invalid_request", "rating"),
        ({}, "invalid_request", "rating"),
        ({"rating": "up", "comment": "x" * 2001}, "invalid_request", "comment"),
        ({"rating": "up", "comment": "a\u0000b"}, "invalid_request", "comment"),
        ({"rating": "up", "stars": 5}, "invalid_request", "stars"),
        ("{nope", "invalid_json", None),
        ("[]", "invalid_request", ""),
    ],
)
def test_bad_feedback_bodies_get_400_and_store_nothing(client, answered, body, code, field):
    # given
    conversation, token, answer = answered
    # when
    response = _post(client, _feedback_url(conversation, answer.pk), body, token)
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert field in [f["field"] for f in error["fields"]]
    assert AnswerFeedback.objects.count() == 0


def test_a_lone_surrogate_in_the_comment_is_refused_not_a_500(client, answered):
    # given: JSON may carry "\ud800", which Postgres cannot store
    conversation, token, answer = answered
    # when
    response = _post(
        client,
        _feedback_url(conversation, answer.pk),
        '{"rating": "up", "comment": "\\ud800"}',
        token,
    )
    # then
    assert response.status_code == 400
    assert AnswerFeedback.objects.count() == 0


def test_only_bot_answers_of_this_conversation_can_be_rated(client, answered):
    # given
    conversation, token, _ = answered
    question = Message.objects.get(conversation=conversation, role="visitor")
    other, _ = make_conversation()
    theirs, _ = make_answer(other)
    # when
    visitor_message = _post(
        client, _feedback_url(conversation, question.pk), {"rating": "up"}, token
    )
    other_answer = _post(client, _feedback_url(conversation, theirs.pk), {"rating": "up"}, token)
    unknown = _post(client, _feedback_url(conversation, 2**62), {"rating": "up"}, token)
    huge = _post(client, _feedback_url(conversation, 10**30), {"rating": "up"}, token)
    # then
    assert (visitor_message.status_code, visitor_message.json()["error"]["code"]) == (
        400,
        "not_a_bot_answer",
    )
    assert (other_answer.status_code, other_answer.json()["error"]["code"]) == (404, "not_found")
    assert unknown.status_code == 404
    assert huge.status_code == 404
    assert AnswerFeedback.objects.count() == 0


def test_feedback_needs_this_conversations_token(client, answered):
    # given
    conversation, _, answer = answered
    _, other_token = make_conversation()
    url = _feedback_url(conversation, answer.pk)
    # when
    none = _post(client, url, {"rating": "up"})
    other = _post(client, url, {"rating": "up"}, other_token)
    agent = _post(
        client,
        url,
        {"rating": "up"},
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=AgentFactory.create())}",
    )
    admin = _post(
        client,
        url,
        {"rating": "up"},
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=AdminFactory.create())}",
    )
    # then
    assert [r.status_code for r in (none, other, agent, admin)] == [401, 401, 403, 403]
    assert [r.json()["error"]["code"] for r in (none, other, agent, admin)] == [
        "unauthenticated",
        "unauthenticated",
        "forbidden",
        "forbidden",
    ]
    assert AnswerFeedback.objects.count() == 0


def test_an_unknown_conversation_is_404(client):
    # when
    response = _post(
        client,
        "/api/v1/conversations/00000000-0000-0000-0000-000000000000/csat",
        {"score": 3},
        "whatever",
    )
    # then
    assert response.status_code == 404


def test_csat_while_open_is_409_not_closed(client, answered):
    # given
    conversation, token, _ = answered
    # when
    response = _post(client, _csat_url(conversation), {"score": 5}, token)
    # then
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "not_closed",
        "detail": "The conversation can be rated once it is closed.",
    }
    assert ConversationRating.objects.count() == 0


def test_csat_once_closed_is_stored_and_a_second_replaces_it(client, closed):
    # given
    conversation, token = closed
    # when
    first = _post(client, _csat_url(conversation), {"score": 2, "comment": "Slow."}, token)
    second = _post(client, _csat_url(conversation), {"score": 5}, token)
    # then
    assert first.status_code == second.status_code == 201
    assert first.json() == {
        "conversation_id": str(conversation.pk),
        "score": 2,
        "comment": "Slow.",
        "replaced": False,
    }
    assert second.json()["replaced"] is True
    assert list(ConversationRating.objects.values_list("score", "comment")) == [(5, "")]


@pytest.mark.parametrize(
    "body",
    [
        {"score": 0},
        {"score": 6},
        {"score": "5"},
        {"score": 4.5},
        {"score": None},
        {},
        {"score": True},
    ],
)
def test_bad_csat_scores_get_400(client, closed, body):
    # given
    conversation, token = closed
    # when
    response = _post(client, _csat_url(conversation), body, token)
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert ConversationRating.objects.count() == 0


def test_ratings_past_the_visitor_limit_get_429(client, answered, rate_limits):
    # given
    rate_limits(feedback_token="2/m")
    conversation, token, answer = answered
    url = _feedback_url(conversation, answer.pk)
    accepted = [_post(client, url, {"rating": r}, token) for r in ("up", "down")]
    # when
    refused = _post(client, url, {"rating": "up"}, token)
    # then
    assert [r.status_code for r in accepted] == [201, 201]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "feedback_token" in refused.json()["error"]["detail"]
    assert AnswerFeedback.objects.get().rating == "down"


def test_the_openapi_document_describes_the_feedback_routes(client):
    # when
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    # then
    assert "post" in paths["/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback"]
    assert "post" in paths["/api/v1/conversations/{conversation_id}/csat"]
