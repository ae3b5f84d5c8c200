from __future__ import annotations

import pytest

from workers.inference.questions import (
    CLARIFY_PREFIX,
    MAX_PARTS,
    Topic,
    clarifying_question,
    split_question,
)


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        (
            "how do I reset my password and what does Plus cost?",
            ["how do I reset my password", "what does Plus cost?"],
        ),
        (
            "how long does delivery take and can I track it",
            ["how long does delivery take", "can I track it"],
        ),
        (
            "What is Lumen Plus? How much is delivery?",
            ["What is Lumen Plus?", "How much is delivery?"],
        ),
        ("what is plus; and how do I cancel it?", ["what is plus", "how do I cancel it?"]),
        # One question, however it is phrased:
        ("Can I return it, and how?", ["Can I return it, and how?"]),
        ("Do you sell lamps and chairs?", ["Do you sell lamps and chairs?"]),
        ("where is my order? it was due yesterday", ["where is my order? it was due yesterday"]),
        ("How long do refunds take?", ["How long do refunds take?"]),
        ("And what about sofas?", ["And what about sofas?"]),
    ],
)
def test_split_question_finds_the_parts_a_visitor_asks(question, parts):
    assert split_question(question) == parts


def test_split_question_keeps_the_overflow_in_the_last_part():
    # given
    question = "What is Plus? How much is delivery? Do you ship to Spain? Can I pay by card?"

    # when
    parts = split_question(question)

    # then
    assert len(parts) == MAX_PARTS
    assert parts[-1] == "Do you ship to Spain? Can I pay by card?"


def test_a_vague_question_matching_several_documents_equally_gets_one_question_back():
    # given
    topics = [Topic("Refund timing", 0.91), Topic("Delivery times", 0.89), Topic("Gift cards", 0.5)]

    # when
    asked = clarifying_question("how long does it take?", topics)

    # then
    assert asked == f"{CLARIFY_PREFIX} Do you mean “Refund timing” or “Delivery times”?"


@pytest.mark.parametrize(
    ("question", "topics"),
    [
        # specific enough to answer
        ("how long do refunds take to reach my card?", [Topic("A", 0.9), Topic("B", 0.9)]),
        # one document clearly wins
        ("how long does it take?", [Topic("A", 0.95), Topic("B", 0.7)]),
        # one document only
        ("how long does it take?", [Topic("A", 0.95)]),
    ],
)
def test_no_clarifying_question_when_the_answer_is_clear(question, topics):
    assert clarifying_question(question, topics) is None
