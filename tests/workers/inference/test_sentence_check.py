from __future__ import annotations

from workers.inference import grounding
from workers.inference.base import Passage
from workers.inference.sentence_check import SentenceGate, critique_for

REFUNDS = Passage(
    ref=1,
    title="Refund timing",
    text="Refunds take 5 to 10 business days to reach your card. We refund the original payment.",
)

ENGRAVING = Passage(
    ref=1,
    title="Engraving",
    text="You can add a personal engraving to any oak lamp, up to 30 characters.",
)


def test_a_range_the_passages_never_give_is_refused_without_asking_the_judge(scripted):
    # given: 3 and 5 are both in the passage, "3 to 5" is not
    passage = Passage(
        ref=1,
        title="Refunds",
        text="We inspect it in 3 days. Refunds take 5\u201310 business days.",
    )
    judge = scripted(yes=[])

    # when
    check = SentenceGate(judge, "when is my refund?", [passage], threshold=0.5).check(
        "Your refund arrives in 3 to 5 business days. [1]"
    )

    # then
    assert not check.approved
    assert check.unsupported_numbers == ("3-5",)
    assert check.grounding == grounding.RANGE
    assert judge.questions == []
    assert "3-5" in critique_for(
        check.sentence,
        policy="",
        unsupported_numbers=check.unsupported_numbers,
        grounding=check.grounding,
    )


def test_a_marker_used_as_a_link_is_refused_with_a_critique(scripted):
    # when
    check = SentenceGate(scripted(yes=[]), "where do I start?", [REFUNDS], threshold=0.5).check(
        "To start a return, go to [1] and follow the instructions."
    )

    # then
    assert not check.approved
    assert check.grounding == grounding.LINK_MARKER
    assert "citation number" in critique_for(
        check.sentence, policy="", unsupported_numbers=(), grounding=check.grounding
    )


def test_a_figure_question_must_be_answered_with_a_figure_first(scripted):
    # given
    gate = SentenceGate(
        scripted(yes=[0.9]),
        "how many letters can you engrave?",
        [ENGRAVING],
        threshold=0.5,
        needs_figure=True,
    )

    # when: the first claim is true but does not answer; a later one is not held to it
    first = gate.check("You can add a personal engraving to any oak lamp. [1]")
    second = gate.check("Engraving works on oak lamps. [1]")

    # then
    assert not first.approved
    assert first.grounding == grounding.NO_FIGURE
    assert second.approved


def test_a_first_sentence_that_restates_the_question_is_refused(scripted):
    # given
    judge = scripted(yes=[0.9])
    gate = SentenceGate(
        judge, "app says too many attempts and won't let me log in", [REFUNDS], threshold=0.5
    )

    # when
    echo = gate.check("The app says too many attempts and won't let me log in. [1]")

    # then: refused before the judge is asked
    assert not echo.approved
    assert echo.grounding == grounding.RESTATES_QUESTION
    assert judge.questions == []
    assert "repeats the question" in critique_for(
        echo.sentence, policy="", unsupported_numbers=(), grounding=echo.grounding
    )


def test_a_yes_in_the_question_words_is_an_answer_not_a_restatement(scripted):
    # when
    check = SentenceGate(
        scripted(yes=[0.8]), "can I return bulbs I tried out?", [REFUNDS], threshold=0.5
    ).check("Yes, you can return bulbs you tried out. [1]")

    # then
    assert check.approved


def test_grounding_off_keeps_the_judge_alone(scripted):
    # when: the same range, with the checks off (as the review bench compares)
    passage = Passage(ref=1, title="R", text="We inspect it in 3 days. Refunds take 5 to 10 days.")
    check = SentenceGate(
        scripted(yes=[0.9]), "when?", [passage], threshold=0.5, grounding=False
    ).check("Your refund arrives in 3 to 5 days. [1]")

    # then
    assert check.approved
    assert check.grounding == ""


def test_a_claim_in_the_passage_s_own_words_passes_with_a_lower_judge_floor(scripted):
    # given: the judge is unsure (0.45) of two claims; one is copied from the passage
    passage = Passage(ref=1, title="Delivery", text="Standard delivery to Germany costs 4.95 EUR.")
    judge = scripted(yes=[0.45, 0.45, 0.45])
    lexical = SentenceGate(judge, "delivery?", [passage], threshold=0.5, lexical=(0.8, 0.4))
    strict = SentenceGate(judge, "delivery?", [passage], threshold=0.5)

    # when
    copied = lexical.check("Delivery to Germany costs 4.95 EUR. [1]")
    paraphrased = lexical.check("Shipping to Berlin is cheap. [1]")
    without = strict.check("Delivery to Germany costs 4.95 EUR. [1]")

    # then
    assert copied.approved
    assert not paraphrased.approved
    assert not without.approved
