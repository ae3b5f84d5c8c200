"""Feedback services on the real database: ratings stored once, replaced, refused with reasons."""

from __future__ import annotations

import pytest

from chatapp.conversations.models import Message
from chatapp.conversations.services import (
    conversation_assign,
    conversation_close,
    system_message_create,
)
from chatapp.core.errors import ApplicationError, Conflict, NotFound
from chatapp.feedback import services
from chatapp.feedback.models import AnswerFeedback, ConversationRating
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation
from tests.factories.feedback import make_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked(monkeypatch) -> list[services.FeedbackCreated]:
    """What the ``feedback_created`` hook was called with (the webhook's future payloads)."""
    seen: list[services.FeedbackCreated] = []
    original = services.feedback_created

    def record(event: services.FeedbackCreated) -> None:
        seen.append(event)
        original(event)

    monkeypatch.setattr(services, "feedback_created", record)
    return seen


def _closed():
    conversation, _ = make_conversation()
    agent = AgentFactory.create()
    conversation_assign(conversation=conversation, agent=agent, by=agent)
    conversation_close(conversation=conversation, by=agent)
    conversation.refresh_from_db()
    return conversation


def test_a_thumbs_down_with_a_comment_is_stored_and_announced_to_the_hook(hooked):
    # given
    conversation, _ = make_conversation()
    answer, _ = make_answer(conversation)
    # when
    _, replaced = services.answer_feedback_set(
        conversation=conversation, message_id=answer.pk, rating="down", comment="  Too vague. "
    )
    # then
    assert replaced is False
    stored = AnswerFeedback.objects.get()
    assert (stored.message_id, stored.conversation_id) == (answer.pk, conversation.pk)
    assert (stored.rating, stored.comment) == ("down", "Too vague.")
    assert [e.as_json() for e in hooked] == [
        {
            "kind": "answer",
            "conversation_id": str(conversation.pk),
            "message_id": answer.pk,
            "rating": "down",
            "score": None,
            "comment": "Too vague.",
            "replaced": False,
        }
    ]


def test_a_second_rating_replaces_the_first(hooked):
    # given
    conversation, _ = make_conversation()
    answer, _ = make_answer(conversation)
    services.answer_feedback_set(
        conversation=conversation, message_id=answer.pk, rating="down", comment="Wrong."
    )
    # when
    _, replaced = services.answer_feedback_set(
        conversation=conversation, message_id=answer.pk, rating="up"
    )
    # then
    assert replaced is True
    assert list(AnswerFeedback.objects.values_list("rating", "comment")) == [("up", "")]
    assert [e.replaced for e in hooked] == [False, True]


def test_only_bot_answers_can_be_rated(hooked):
    # given
    conversation, _ = make_conversation()
    answer, _ = make_answer(conversation)
    question = Message.objects.get(conversation=conversation, role="visitor")
    notice = system_message_create(conversation=conversation, text="Alice joined.")
    # when / then
    for message in (question, notice):
        with pytest.raises(ApplicationError) as refused:
            services.answer_feedback_set(
                conversation=conversation, message_id=message.pk, rating="up"
            )
        assert (refused.value.code, refused.value.status) == ("not_a_bot_answer", 400)
    assert AnswerFeedback.objects.count() == 0
    assert hooked == []
    assert answer.pk


def test_a_message_of_another_conversation_is_not_found():
    # given
    mine, _ = make_conversation()
    theirs, _ = make_conversation()
    answer, _ = make_answer(theirs)
    # when / then
    with pytest.raises(NotFound):
        services.answer_feedback_set(conversation=mine, message_id=answer.pk, rating="up")
    with pytest.raises(NotFound):
        services.answer_feedback_set(conversation=mine, message_id=2**62, rating="up")
    assert AnswerFeedback.objects.count() == 0


def test_csat_is_refused_while_the_conversation_is_open(hooked):
    # given
    conversation, _ = make_conversation()
    # when / then
    with pytest.raises(Conflict) as refused:
        services.csat_set(conversation=conversation, score=5)
    assert (refused.value.code, refused.value.status) == ("not_closed", 409)
    assert ConversationRating.objects.count() == 0
    assert hooked == []


def test_csat_on_a_closed_conversation_is_stored_and_a_second_replaces_it(hooked):
    # given
    conversation = _closed()
    # when
    _, replaced_first = services.csat_set(conversation=conversation, score=2, comment="Slow.")
    _, replaced_second = services.csat_set(conversation=conversation, score=4)
    # then
    assert (replaced_first, replaced_second) == (False, True)
    assert list(ConversationRating.objects.values_list("score", "comment")) == [(4, "")]
    assert [(e.kind, e.score, e.replaced) for e in hooked] == [
        ("csat", 2, False),
        ("csat", 4, True),
    ]


@pytest.mark.parametrize("score", [0, 6, -1])
def test_csat_out_of_range_is_refused_by_the_model(score):
    # given
    from django.core.exceptions import ValidationError

    conversation = _closed()
    # when / then
    with pytest.raises(ValidationError):
        services.csat_set(conversation=conversation, score=score)
    assert ConversationRating.objects.count() == 0


def test_a_rating_is_announced_as_a_feedback_created_webhook():
    # given: an endpoint subscribed to feedback.created
    import json

    from chatapp.webhooks.models import WebhookDelivery
    from chatapp.webhooks.services import webhook_endpoint_create
    from tests.factories.accounts import AdminFactory

    webhook_endpoint_create(
        url="http://127.0.0.1:9/hook",
        secret="s3cret",
        events=["feedback.created"],
        by=AdminFactory.create(),
    )
    conversation, _ = make_conversation()
    answer, _ = make_answer(conversation)

    # when
    services.answer_feedback_set(
        conversation=conversation, message_id=answer.pk, rating="down", comment="Too vague"
    )

    # then: its delivery is written in the rating's transaction (sent once it commits)
    [delivery] = WebhookDelivery.objects.all()
    body = json.loads(delivery.body)
    assert body["event"] == "feedback.created"
    assert body["data"]["kind"] == "answer"
    assert body["data"]["rating"] == "down"
    assert body["data"]["message_id"] == answer.pk
