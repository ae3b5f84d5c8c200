"""Evidence first: which sentences are weighed, which are picked, what the answerer reads."""

from __future__ import annotations

import pytest

from workers.inference.base import Passage
from workers.inference.evidence import (
    EVIDENCE_QUESTION,
    Evidence,
    evidence_candidates,
    evidence_messages,
    evidence_passages,
    pick_evidence,
)

REFUNDS = Passage(
    ref=1,
    title="Refund timing",
    text="We refund the original payment. Refunds take 5 to 10 business days to reach your card.",
)
FEES = Passage(
    ref=2,
    title="Fees",
    text="… Card refunds have no fee. Bank transfers cost 2 GBP. …",
)


def test_candidates_are_ranked_by_the_question_words_they_hold():
    # given
    question = "How many business days do card refunds take?"

    # when
    found = evidence_candidates(question, [REFUNDS, FEES], limit=3)

    # then: gap marks are gone; ties keep the passages' order
    assert [(e.ref, e.index, e.sentence) for e in found] == [
        (1, 1, "Refunds take 5 to 10 business days to reach your card."),
        (2, 0, "Card refunds have no fee."),
        (1, 0, "We refund the original payment."),
    ]
    assert found[0].overlap == pytest.approx(5 / 6, abs=1e-4)  # all but "many"
    assert found[0].support == 0.0


def test_candidates_without_a_question_word_keep_the_passages_order():
    # given: nothing in common with the question
    question = "Hello?"

    # when
    found = evidence_candidates(question, [FEES, REFUNDS], limit=2)

    # then
    assert [(e.ref, e.index) for e in found] == [(2, 0), (2, 1)]
    assert [e.overlap for e in found] == [0.0, 0.0]


def test_the_yes_no_question_shows_the_page_the_sentence_and_the_question():
    # given
    candidate = Evidence(ref=2, index=1, sentence="Bank transfers cost 2 GBP.", overlap=0.5)

    # when
    messages = evidence_messages("What do bank transfers cost?", candidate, [REFUNDS, FEES])

    # then
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == (
        "Page: Fees\nSentence: Bank transfers cost 2 GBP.\n\n"
        f"Question: What do bank transfers cost?\n\n{EVIDENCE_QUESTION}"
    )


def test_the_best_two_sentences_the_model_says_answer_are_picked_in_passage_order(scripted):
    # given: four candidates; three reach the bar, the best two are kept
    generator = scripted(yes=[0.7, 0.9, 0.2, 0.6])

    # when
    evidence, scored = pick_evidence(
        generator, "How many business days do card refunds take?", [REFUNDS, FEES], candidates=4
    )

    # then: one yes/no question per candidate, in one batch
    assert len(generator.questions) == 4
    assert [(e.ref, e.index, e.support) for e in scored] == [
        (1, 1, 0.7),
        (2, 0, 0.9),
        (1, 0, 0.2),
        (2, 1, 0.6),
    ]
    assert [(e.ref, e.index) for e in evidence] == [(1, 1), (2, 0)]


def test_nothing_is_picked_when_no_sentence_reaches_the_bar(scripted):
    # given
    generator = scripted(yes=[0.4, 0.1])

    # when
    evidence, scored = pick_evidence(
        generator, "Do you sell gift cards?", [REFUNDS], candidates=4, min_yes=0.5
    )

    # then
    assert evidence == []
    assert [e.support for e in scored] == [0.4, 0.1]


def test_no_passages_means_no_question_to_the_model(scripted):
    # given
    generator = scripted()

    # when
    evidence, scored = pick_evidence(generator, "Refunds?", [])

    # then
    assert (evidence, scored) == ([], [])
    assert generator.questions == []


def test_the_answerer_reads_each_passage_cut_to_its_evidence_under_its_number():
    # given: two sentences of passage 1 that are not neighbours, one of passage 2
    long = Passage(ref=1, title="Refund timing", text="A one. B two. C three.")
    evidence = [
        Evidence(ref=2, index=1, sentence="Bank transfers cost 2 GBP.", overlap=0.5),
        Evidence(ref=1, index=2, sentence="C three.", overlap=0.5),
        Evidence(ref=1, index=0, sentence="A one.", overlap=0.5),
    ]

    # when
    shown = evidence_passages(evidence, [long, FEES, Passage(ref=3, title="T", text="x.")])

    # then
    assert shown == [
        Passage(ref=1, title="Refund timing", text="A one. … C three."),
        Passage(ref=2, title="Fees", text="Bank transfers cost 2 GBP."),
    ]


def test_questions_headings_and_repeated_sentences_are_not_candidates():
    # given: a FAQ heading path, and a sentence two overlapping chunks share
    first = Passage(
        ref=1,
        title="Passwords",
        text="How do I reset my password? > Reset your password\n\n"
        "The reset link is valid for 60 minutes.",
    )
    second = Passage(ref=2, title="Sign-in", text="The reset link is valid for 60 minutes.")

    # when
    found = evidence_candidates("How long is the password reset link valid?", [first, second])

    # then
    assert [(e.ref, e.index, e.sentence) for e in found] == [
        (1, 1, "The reset link is valid for 60 minutes."),
        (1, 0, "Reset your password"),
    ]
