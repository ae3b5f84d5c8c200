"""Feedback selectors: the down-voted answers admins review, the CSAT summary."""

from __future__ import annotations

import pytest

from chatapp.conversations.services import conversation_assign, conversation_close
from chatapp.feedback import selectors
from chatapp.feedback.services import answer_feedback_set, csat_set
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation
from tests.factories.feedback import make_answer
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


def test_downvoted_answers_carry_question_comment_trace_and_knowledge_base(
    django_assert_num_queries,
):
    # given: one down-vote with a turn, one without, and an up-vote that is not listed
    kb = KnowledgeBaseFactory.create(name="Help", visibility="public")
    conversation, _ = make_conversation([kb.pk])
    traced, run = make_answer(conversation, question="Do you ship to Norway?", answer="Yes [1].")
    untraced, _ = make_answer(
        conversation, question="And to Iceland?", answer="No.", with_run=False
    )
    assert run is not None
    liked, _ = make_answer(conversation, question="Gift wrap?", answer="Yes.")
    answer_feedback_set(
        conversation=conversation, message_id=traced.pk, rating="down", comment="Wrong."
    )
    answer_feedback_set(conversation=conversation, message_id=untraced.pk, rating="down")
    answer_feedback_set(conversation=conversation, message_id=liked.pk, rating="up")
    # when
    with django_assert_num_queries(1):
        rows = selectors.downvoted_answer_list()
    # then: the latest rating first
    assert [(r.message_id, r.question, r.answer, r.comment, r.run_id) for r in rows] == [
        (untraced.pk, "And to Iceland?", "No.", "", None),
        (traced.pk, "Do you ship to Norway?", "Yes [1].", "Wrong.", run.pk),
    ]
    assert {r.knowledge_base_id for r in rows} == {kb.pk}


def test_the_csat_summary_counts_each_score_and_averages(django_assert_num_queries):
    # given
    agent = AgentFactory.create()
    for score in (5, 4, 4, 1):
        conversation, _ = make_conversation()
        conversation_assign(conversation=conversation, agent=agent, by=agent)
        conversation_close(conversation=conversation, by=agent)
        csat_set(conversation=conversation, score=score)
    # when
    with django_assert_num_queries(2):
        summary = selectors.csat_summary()
    # then
    assert summary.count == 4
    assert summary.average == 3.5
    assert summary.by_score == {1: 1, 2: 0, 3: 0, 4: 2, 5: 1}


def test_the_csat_summary_of_nothing():
    # when
    summary = selectors.csat_summary()
    # then
    assert (summary.count, summary.average) == (0, None)
    assert summary.by_score == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
