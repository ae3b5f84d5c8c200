"""Tests for workers.inference.reviewer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from workers.inference.base import Generator, Passage
from workers.inference.reviewer import (
    CHECK_QUESTION,
    ClaimCheck,
    extract_claims,
    is_trivial,
    normalise_numbers,
    review_answer,
    unsupported_numbers,
)

RETURNS = Passage(
    ref=1,
    title="Returns",
    text="You can return items within thirty days of delivery. Refunds take 5 business days.",
)
SHIPPING = Passage(
    ref=2,
    title="Shipping",
    text="Orders ship within two business days. Shipping is free for orders over $1,000.00.",
)
PASSAGES = [RETURNS, SHIPPING]


def test_is_trivial_exempts_only_whole_pleasantries() -> None:
    # given
    sentences = [
        "Hi there!",
        "Thank you for reaching out.",
        "Let me know if you need anything else.",
        "Is there anything else?",
        "Sure.",
        "This information is found in [1].",
        "This is stated in [2].",
        "For more details, see [1].",
        "Refunds take 5 business days [1].",
        "Thanks: refunds take 5 days.",
        # What used to slip through: openers and questions that state something.
        "Sure, just email us your card number and security code.",
        "Certainly! Your refund is guaranteed within one day.",
        "Would you like to send us your password so we can check?",
        "Thanks for asking, we will refund you in full.",
    ]

    # when
    verdicts = [is_trivial(sentence) for sentence in sentences]

    # then
    assert verdicts == [True] * 8 + [False] * 6


def test_extract_claims_merges_the_tail_beyond_max_claims() -> None:
    # given
    answer = (
        "Hello! Orders ship fast [2]. Shipping is free [2]. Returns take a month [1]. "
        "Refunds take days [1]."
    )

    # when
    claims = extract_claims(answer, max_claims=3)

    # then
    assert claims == [
        "Orders ship fast [2].",
        "Shipping is free [2].",
        "Returns take a month [1]. Refunds take days [1].",
    ]


def test_normalise_numbers_canonicalises_thousands_decimals_and_words() -> None:
    # given
    text = "Costs $1,000.00, takes thirty days, opens at 9:30, 2.5% fee, 24/7."

    # when
    numbers = normalise_numbers(text, words=True)

    # then
    assert numbers == {"1000", "30", "9:30", "2.5", "24", "7"}


def test_normalise_numbers_reads_number_words_only_when_asked() -> None:
    # given / when / then
    assert normalise_numbers("one of thirty stores") == set()


def test_unsupported_numbers_ignores_markers_and_accepts_the_question() -> None:
    # given
    claim = "Returns are free within 30 days for 2 items [3]."

    # when
    missing = unsupported_numbers(claim, ["I bought 2 items.", RETURNS.text])

    # then
    assert missing == ()


def test_unsupported_numbers_reports_figures_missing_from_the_sources() -> None:
    # given
    claim = "Refunds take 7 business days and cost $15 [1]."

    # when
    missing = unsupported_numbers(claim, [RETURNS.text])

    # then
    assert missing == ("15", "7")


def test_review_answer_approves_supported_claims(scripted: Callable[..., Any]) -> None:
    # given
    generator = scripted(yes=[0.9, 0.8])
    answer = "Hi! You can return items within 30 days [1]. Orders over $1000 ship free [2]."

    # when
    outcome = review_answer(generator, "Can I return it?", answer, PASSAGES)

    # then
    assert outcome.confidence == 0.8
    assert outcome.claims == (
        ClaimCheck("You can return items within 30 days [1].", 0.9, (1,), ()),
        ClaimCheck("Orders over $1000 ship free [2].", 0.8, (2,), ()),
    )
    assert outcome.unsupported == ()
    assert outcome.critique == ""
    assert len(generator.questions) == 2
    assert generator.questions[0][1]["content"] == (
        f"Passage:\nReturns\n{RETURNS.text}\n\n"
        f"Claim: You can return items within 30 days.\n\n{CHECK_QUESTION}"
    )


def test_review_answer_zeroes_a_number_mismatch_without_asking_the_model(
    scripted: Callable[..., Any],
) -> None:
    # given
    generator = scripted(yes=[0.95])
    answer = "Refunds take 10 business days [1]. Orders ship within two business days [2]."

    # when
    outcome = review_answer(generator, "Refund time?", answer, PASSAGES)

    # then
    assert outcome.confidence == 0.0
    assert [claim.support for claim in outcome.claims] == [0.0, 0.95]
    assert outcome.claims[0].unsupported_numbers == ("10",)
    assert outcome.unsupported == ("Refunds take 10 business days [1].",)
    assert outcome.critique == (
        '- "Refunds take 10 business days.": the passages do not contain 10. '
        "Use only the figures the passages give."
    )
    assert len(generator.questions) == 1


def test_review_answer_flags_low_support_and_checks_uncited_claims_on_best_passages(
    scripted: Callable[..., Any],
) -> None:
    # given
    generator = scripted(yes=[0.2])
    answer = "Gift wrapping is offered on all orders shipping this week."

    # when
    outcome = review_answer(generator, "Gift wrap?", answer, PASSAGES, threshold=0.5)

    # then
    assert outcome.confidence == 0.2
    assert outcome.claims[0].refs == (2, 1)
    assert outcome.unsupported == (answer,)
    assert outcome.critique == (
        f'- "{answer}": the passages do not say this. Remove it or say only what the passages '
        "state."
    )


def test_review_answer_without_claims_is_fully_confident(scripted: Callable[..., Any]) -> None:
    # given
    generator = scripted()

    # when
    outcome = review_answer(generator, "Hello", "Hello! How can I help you today?", PASSAGES)

    # then
    assert (outcome.confidence, outcome.claims, outcome.unsupported, outcome.critique) == (
        1.0,
        (),
        (),
        "",
    )
    assert generator.questions == []


def test_review_answer_caps_model_calls_at_max_claims(scripted: Callable[..., Any]) -> None:
    # given
    generator = scripted(yes=[0.9, 0.9])
    answer = "Orders ship fast [2]. Returns are easy [1]. Refunds are quick [1]."

    # when
    outcome = review_answer(generator, "Policies?", answer, PASSAGES, max_claims=2)

    # then
    assert len(generator.questions) == 2
    assert [claim.sentence for claim in outcome.claims] == [
        "Orders ship fast [2].",
        "Returns are easy [1]. Refunds are quick [1].",
    ]


@pytest.mark.slow
def test_real_smollm2_reviews_each_claim_once(smollm2: Generator) -> None:
    # given
    answer = "You can return items within 30 days [1]. Orders ship within two business days [2]."

    # when
    outcome = review_answer(smollm2, "Returns and shipping?", answer, PASSAGES)

    # then
    assert [claim.refs for claim in outcome.claims] == [(1,), (2,)]
    assert all(0.0 <= claim.support <= 1.0 for claim in outcome.claims)
    assert outcome.confidence == min(claim.support for claim in outcome.claims)


def test_a_figure_from_another_retrieved_passage_is_a_citation_slip_not_an_invention(
    scripted: Callable[..., Any],
) -> None:
    # given: the claim cites [2], but its price is stated in [1]
    passages = [
        Passage(ref=1, title="UK shipping", text="Standard shipping to the UK costs 3.95 GBP."),
        Passage(ref=2, title="Customs", text="UK orders ship from the UK, so no customs fees."),
    ]
    generator = scripted(yes=[0.9])
    # when
    outcome = review_answer(
        generator, "and to the UK?", "Shipping to the UK costs 3.95 GBP [2].", passages
    )
    # then
    (claim,) = outcome.claims
    assert claim.unsupported_numbers == ()
    assert claim.refs == (2, 1)
    assert claim.support == 0.9
    assert outcome.unsupported == ()


def test_a_figure_no_passage_states_is_still_refused_without_asking_the_model(
    scripted: Callable[..., Any],
) -> None:
    # given
    passages = [Passage(ref=1, title="UK shipping", text="Standard shipping costs 3.95 GBP.")]
    generator = scripted(yes=[])
    # when
    outcome = review_answer(generator, "How much?", "It costs 4.50 GBP [1].", passages)
    # then
    (claim,) = outcome.claims
    assert claim.unsupported_numbers == ("4.5",)  # canonical form of 4.50
    assert claim.support == 0.0
    assert generator.questions == []
