from __future__ import annotations

from collections.abc import Sequence

import pytest
from typing_extensions import override

from workers.inference import gate as gate_module
from workers.inference import sentence_check
from workers.inference.base import FINISH_LENGTH, FINISH_STOP, Generator, Passage, ReplyStream
from workers.inference.gate import (
    REASON_POLICY,
    REASON_UNSUPPORTED,
    SentenceGate,
    critique_for,
    ends_sentence,
    gated_answer,
    gated_answer_by_part,
    gated_answer_evidence_first,
)

REFUNDS = Passage(
    ref=1,
    title="Refund timing",
    text="Refunds take 5 to 10 business days to reach your card. We refund the original payment.",
)
DELIVERY = Passage(ref=2, title="Delivery", text="Delivery is free on orders over 50 GBP.")


def test_approved_sentences_are_released_one_by_one_with_their_markers(scripted):
    # given: two supported claims, the second marker streamed in pieces
    answer = "Refunds take 5 to 10 business days [1]. Delivery is free over 50 GBP [2]."
    generator = scripted(reply=answer)
    judge = scripted(yes=[0.9, 0.8])
    released: list[str] = []
    drafted: list[str] = []

    # when
    result = gated_answer(
        generator,
        "How long do refunds take?",
        [REFUNDS, DELIVERY],
        judge=judge,
        threshold=0.5,
        on_draft=drafted.append,
        on_release=released.append,
    )

    # then
    assert released == [
        "Refunds take 5 to 10 business days [1].",
        " Delivery is free over 50 GBP [2].",
    ]
    assert "".join(drafted).strip() == answer
    assert result.released == answer
    assert result.blocked is None
    assert result.reason == ""
    assert [c.refs for c in result.checks] == [(1,), (2,)]
    assert result.confidence == pytest.approx(0.8)
    assert len(judge.questions) == 2


def test_a_sentence_is_released_only_after_the_next_one_starts(scripted):
    # given: a judge that records how much of the draft existed when it was asked
    generator = scripted(reply="Refunds take 5 to 10 business days [1]. We refund the card [1].")
    drafted: list[str] = []
    seen_when_judged: list[str] = []

    class Judge:
        name = "judge"

        def yes_probability(self, messages):
            seen_when_judged.append("".join(drafted))
            return 0.9

    # when
    gated_answer(
        generator,
        "Refunds?",
        [REFUNDS],
        judge=Judge(),  # type: ignore[arg-type]
        on_draft=drafted.append,
    )

    # then: the first sentence was judged with its marker, once the second had begun
    assert seen_when_judged[0].startswith("Refunds take 5 to 10 business days [1]. We")
    assert len(seen_when_judged) == 2


def test_the_first_unsupported_sentence_stops_the_answer_and_is_never_released(scripted):
    # given
    generator = scripted(
        reply="Refunds take 5 to 10 business days [1]. We also sell oak lamps [1]. Bye now [1]."
    )
    judge = scripted(yes=[0.9, 0.1])
    released: list[str] = []

    # when
    result = gated_answer(
        generator, "Refunds?", [REFUNDS], judge=judge, threshold=0.5, on_release=released.append
    )

    # then
    assert released == ["Refunds take 5 to 10 business days [1]."]
    assert result.blocked is not None
    assert result.blocked.sentence == "We also sell oak lamps [1]."
    assert result.reason == REASON_UNSUPPORTED
    assert "Bye now" not in result.draft  # generation stopped at the refused sentence
    assert [c.approved for c in result.checks] == [True, False]
    assert result.critique() == (
        '- "We also sell oak lamps.": the passages do not say this. Remove it or say only '
        "what the passages state."
    )


def test_a_figure_no_passage_holds_is_refused_without_asking_the_judge(scripted):
    # given
    generator = scripted(reply="Refunds take 3 days [1].")
    judge = scripted(yes=[])

    # when
    result = gated_answer(generator, "Refunds?", [REFUNDS], judge=judge)

    # then
    assert result.released == ""
    assert result.blocked is not None
    assert result.blocked.unsupported_numbers == ("3",)
    assert result.blocked.support == 0.0
    assert judge.questions == []


def test_a_policy_violation_is_refused_before_the_judge(scripted, monkeypatch):
    # given: the policy forbids the sentence
    def refuse(sentence, *, passages, question):
        return "asks_for_secret" if "card number" in sentence else None

    monkeypatch.setattr(sentence_check, "policy_violation", refuse)
    generator = scripted(reply="Sure, email us your card number [1].")
    judge = scripted(yes=[])

    # when
    result = gated_answer(generator, "Refunds?", [REFUNDS], judge=judge)

    # then
    assert result.released == ""
    assert result.blocked is not None
    assert result.blocked.policy == "asks_for_secret"
    assert result.reason == REASON_POLICY
    assert judge.questions == []
    assert "must not be said to a customer (asks_for_secret)" in result.critique()


def test_pleasantries_pass_without_the_judge_but_are_not_claims(scripted):
    # given
    generator = scripted(reply="Happy to help! Refunds take 5 to 10 business days [1].")
    judge = scripted(yes=[0.7])

    # when
    result = gated_answer(generator, "Refunds?", [REFUNDS], judge=judge)

    # then
    assert [c.claim for c in result.checks] == [False, True]
    assert len(judge.questions) == 1
    assert result.released == "Happy to help! Refunds take 5 to 10 business days [1]."
    assert result.confidence == pytest.approx(0.7)


def test_a_draft_of_pleasantries_only_claims_nothing(scripted):
    # given
    generator = scripted(reply="Sure! Happy to help!")

    # when
    result = gated_answer(generator, "Refunds?", [REFUNDS], judge=scripted(yes=[]))

    # then
    assert result.claims == ()
    assert result.confidence == 0.0
    assert result.blocked is None


def test_without_a_judge_only_figures_and_policy_are_checked():
    # given
    checker = SentenceGate(None, "Refunds?", [REFUNDS], threshold=0.5)

    # when
    supported = checker.check("Refunds take 5 to 10 business days [1].")
    invented = checker.check("Refunds take 2 days [1].")

    # then
    assert (supported.approved, supported.support) == (True, 1.0)
    assert (invented.approved, invented.unsupported_numbers) == (False, ("2",))


def test_critique_for_names_the_missing_figures():
    assert critique_for("It costs 9 GBP [1].", policy="", unsupported_numbers=["9"]) == (
        '- "It costs 9 GBP.": the passages do not contain 9. Use only the figures the passages '
        "give."
    )


def test_gated_answer_asks_for_a_figure_only_for_a_one_part_figure_question(scripted):
    # given: the first sentence answers the how-to part, the figure comes second
    answer = "Go to Account to reset it [1]. Plus costs 30 EUR [1]."
    passage = Passage(ref=1, title="Help", text="Go to Account to reset it. Plus costs 30 EUR.")

    # when
    one_part = gated_answer(
        scripted(reply=answer), "how much does Plus cost?", [passage], judge=scripted(yes=[0.9])
    )
    two_parts = gated_answer(
        scripted(reply=answer),
        "how do I reset my password and how much does Plus cost?",
        [passage],
        judge=scripted(yes=[0.9, 0.9]),
        parts=["how do I reset my password", "how much does Plus cost?"],
    )

    # then
    assert one_part.blocked is not None
    assert one_part.blocked.grounding == gate_module.NO_FIGURE
    assert two_parts.blocked is None


class PartReplies(Generator):
    """One reply per chat, in order (a part at a time); records the prompts."""

    name = "parts"

    def __init__(self, replies: list[str], yes: list[float]) -> None:
        self.replies = replies
        self.yes = yes
        self.chats: list[list[dict[str, str]]] = []

    @override
    def stream_chat(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> ReplyStream:
        self.chats.append(messages)
        yield from (word + " " for word in self.replies[len(self.chats) - 1].split())
        return None

    @override
    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        return self.yes.pop(0)


def test_each_part_is_answered_with_its_own_passages_as_one_reply():
    # given
    model = PartReplies(
        ["Refunds take 5 to 10 business days [1].", "Delivery is free over 50 GBP [2]."],
        yes=[0.9, 0.8],
    )
    released: list[str] = []
    drafted: list[str] = []

    # when
    result = gated_answer_by_part(
        model,
        [("how long do refunds take", [REFUNDS]), ("is delivery free?", [DELIVERY])],
        judge=model,
        on_release=released.append,
        on_draft=drafted.append,
    )

    # then: one reply, each part from its own prompt, citations numbered as in the turn
    assert released == [
        "Refunds take 5 to 10 business days [1].",
        " Delivery is free over 50 GBP [2].",
    ]
    assert result.released == "".join(released)
    assert result.blocked is None
    assert len(model.chats) == 2
    first_prompt = " ".join(m["content"] for m in model.chats[0])
    second_prompt = " ".join(m["content"] for m in model.chats[1])
    assert "Refund timing" in first_prompt
    assert "Delivery" not in first_prompt
    assert "[2] Delivery" in second_prompt
    assert "how long do refunds take" not in second_prompt
    assert result.draft.split("\n") == [
        "Refunds take 5 to 10 business days [1].",
        "Delivery is free over 50 GBP [2].",
    ]
    assert "\n" in "".join(drafted)
    assert result.tokens == 8 + 7  # words of both parts


def test_a_refused_part_stops_the_reply_and_later_parts_are_not_written():
    # given: the second part's claim is unsupported
    model = PartReplies(
        [
            "Refunds take 5 to 10 business days [1].",
            "We sell oak lamps [2].",
            "Never written [1].",
        ],
        yes=[0.9, 0.1],
    )
    # when
    result = gated_answer_by_part(
        model,
        [("refunds?", [REFUNDS]), ("lamps?", [DELIVERY]), ("more refunds?", [REFUNDS])],
        judge=model,
    )
    # then
    assert result.released == "Refunds take 5 to 10 business days [1]."
    assert result.blocked is not None
    assert result.blocked.sentence == "We sell oak lamps [2]."
    assert result.reason == REASON_UNSUPPORTED
    assert len(model.chats) == 2
    assert [c.approved for c in result.checks] == [True, False]


def test_a_last_sentence_cut_off_by_the_token_limit_is_withheld_unjudged(scripted):
    # given: the reply hit max_new_tokens in the middle of its second sentence
    generator = scripted(
        reply="Refunds take 5 to 10 business days [1]. The passage is from the passage that",
        finish=FINISH_LENGTH,
    )
    judge = scripted(yes=[0.9])
    released: list[str] = []

    # when
    result = gated_answer(
        generator, "How long do refunds take?", [REFUNDS], judge=judge, on_release=released.append
    )

    # then: the finished sentence is shown, the cut one only kept for staff
    assert released == ["Refunds take 5 to 10 business days [1]."]
    assert result.withheld == "The passage is from the passage that"
    assert result.draft.endswith("the passage that")
    assert len(result.checks) == 1
    assert len(judge.questions) == 1
    assert result.blocked is None


def test_a_reply_the_model_ended_itself_keeps_an_unpunctuated_last_sentence(scripted):
    # given: the same words, but the model stopped on its own (end token)
    generator = scripted(
        reply="Refunds take 5 to 10 business days [1]. We refund the original payment",
        finish=FINISH_STOP,
    )
    judge = scripted(yes=[0.9, 0.9])

    # when
    result = gated_answer(generator, "Refunds?", [REFUNDS], judge=judge)

    # then
    assert result.withheld == ""
    assert result.released.endswith("We refund the original payment")
    assert len(result.checks) == 2


def test_a_finished_last_sentence_at_the_token_limit_is_judged_and_released(scripted):
    # given: the limit fell just after a full stop
    generator = scripted(reply="Refunds take 5 to 10 business days [1].", finish=FINISH_LENGTH)
    judge = scripted(yes=[0.9])

    # when
    result = gated_answer(generator, "Refunds?", [REFUNDS], judge=judge)

    # then
    assert result.released == "Refunds take 5 to 10 business days [1]."
    assert result.withheld == ""


def test_a_reply_cut_off_in_its_only_sentence_releases_nothing(scripted):
    # given
    generator = scripted(reply="Refunds take 5 to 10 business", finish=FINISH_LENGTH)
    judge = scripted(yes=[])

    # when
    result = gated_answer(generator, "Refunds?", [REFUNDS], judge=judge)

    # then: nothing shown, nothing claimed (the review escalates a draft without claims)
    assert result.released == ""
    assert result.checks == ()
    assert result.withheld == "Refunds take 5 to 10 business"


@pytest.mark.parametrize(
    ("text", "finished"),
    [
        ("Refunds take 5 days.", True),
        ("Refunds take 5 days [1].", True),
        ("Refunds take 5 days. [1]", True),
        ("Refunds take 5 days [1, 2]", True),
        ('He said "five days."', True),
        ("Is it five days?", True),
        ("Refunds take 5", False),
        ("Refunds take 5 days [1", False),
        ("See the list:", True),
    ],
)
def test_ends_sentence(text, finished):
    assert ends_sentence(text) is finished


def test_evidence_first_answers_from_the_picked_sentences_and_gates_on_the_whole_passages(
    scripted,
):
    # given: the answerer says the delivery sentence (ranked first) answers; the judge agrees
    generator = scripted(reply="Delivery is free over 50 GBP [2].", yes=[0.9, 0.1, 0.2])
    judge = scripted(yes=[0.8])
    released: list[str] = []

    # when
    result = gated_answer_evidence_first(
        generator,
        "Is delivery free?",
        [REFUNDS, DELIVERY],
        judge=judge,
        on_release=released.append,
    )

    # then: the prompt holds only the evidence, under its passage's number
    assert len(generator.questions) == 3
    prompt = generator.chats[0][-1]["content"]
    assert "[2] Delivery\nDelivery is free on orders over 50 GBP." in prompt
    assert "Refund" not in prompt
    assert released == ["Delivery is free over 50 GBP [2]."]
    assert [(e.ref, e.index, e.support) for e in result.evidence] == [(2, 0, 0.9)]
    assert [(e.ref, e.support) for e in result.candidates] == [(2, 0.9), (1, 0.1), (1, 0.2)]
    # the judge read the whole cited passage, not only the evidence
    assert [c.refs for c in result.checks] == [(2,)]
    assert "Delivery is free on orders over 50 GBP." in judge.questions[0][-1]["content"]


def test_evidence_first_without_evidence_answers_from_the_whole_passages(scripted):
    # given: no candidate reaches the bar
    generator = scripted(reply="Refunds take 5 to 10 business days [1].", yes=[0.2, 0.1, 0.3])

    # when
    result = gated_answer_evidence_first(
        generator, "How long do refunds take?", [REFUNDS, DELIVERY], judge=scripted(yes=[0.9])
    )

    # then
    prompt = generator.chats[0][-1]["content"]
    assert "[1] Refund timing" in prompt
    assert "[2] Delivery" in prompt
    assert result.evidence == ()
    assert len(result.candidates) == 3
    assert result.released == "Refunds take 5 to 10 business days [1]."


FEES = Passage(
    ref=1, title="Late payment", text="A late payment fee of 5 GBP is added after 14 days."
)


def test_a_bare_yes_waits_for_the_fact_and_goes_out_with_it(scripted):
    # given: "Yes" in the question's words, then the fact
    generator = scripted(reply="Yes, there will be a fee [1]. The fee is 5 GBP [1].")
    judge = scripted(yes=[0.9, 0.9])
    released: list[str] = []
    judged_before_release: list[int] = []

    def on_release(piece: str) -> None:
        judged_before_release.append(len(judge.questions))
        released.append(piece)

    # when
    result = gated_answer(
        generator, "will there be a fee?", [FEES], judge=judge, on_release=on_release
    )

    # then: both sentences released after the second was judged
    assert released == ["Yes, there will be a fee [1].", " The fee is 5 GBP [1]."]
    assert judged_before_release == [2, 2]
    assert result.blocked is None
    assert [c.approved for c in result.checks] == [True, True]


@pytest.mark.parametrize(
    ("reply", "checked"),
    [
        ("Yes, there will be a fee [1].", 1),
        # a pointer to the passages does not stand for the fact (a recorded Ledgerly answer had
        # this shape and was wrong)
        ("Yes, there will be a fee. This is stated in passage [1].", 2),
    ],
)
def test_a_bare_yes_alone_is_never_shown_and_stops_the_answer(scripted, reply, checked):
    # given
    generator = scripted(reply=reply)
    judge = scripted(yes=[0.9] * checked)
    released: list[str] = []

    # when
    result = gated_answer(
        generator, "will there be a fee?", [FEES], judge=judge, on_release=released.append
    )

    # then: nothing is shown, and the rewrite is asked for the fact
    assert released == []
    assert result.released == ""
    assert result.blocked is not None
    assert result.blocked.grounding == gate_module.BARE_ANSWER
    assert result.reason == REASON_UNSUPPORTED
    assert [c.approved for c in result.checks] == [False] * checked
    assert "tells the customer nothing" in result.critique()


def test_a_yes_with_a_fact_of_its_own_is_released_at_once(scripted):
    # given
    generator = scripted(reply="Yes, a fee of 5 GBP is added [1]. Pay on time [1].")
    judge = scripted(yes=[0.9, 0.9])
    released: list[str] = []

    # when
    gated_answer(generator, "will there be a fee?", [FEES], judge=judge, on_release=released.append)

    # then
    assert released == ["Yes, a fee of 5 GBP is added [1].", " Pay on time [1]."]


def test_a_lead_in_goes_out_with_what_it_announces(scripted):
    # given
    generator = scripted(reply="Here is what happens:\n- A fee of 5 GBP is added after 14 days.")
    judge = scripted(yes=[0.9, 0.9])
    released: list[str] = []

    # when
    result = gated_answer(
        generator, "what if I pay late?", [FEES], judge=judge, on_release=released.append
    )

    # then
    assert released == ["Here is what happens:", "\n- A fee of 5 GBP is added after 14 days."]
    assert result.blocked is None


def test_a_lead_in_left_dangling_is_withheld_and_the_answer_stands(scripted):
    # given: a fact, then a lead-in the answer never followed
    generator = scripted(reply="A fee of 5 GBP is added [1]. You need to consider the following:")
    judge = scripted(yes=[0.9, 0.9])
    released: list[str] = []

    # when
    result = gated_answer(
        generator, "what if I pay late?", [FEES], judge=judge, on_release=released.append
    )

    # then
    assert released == ["A fee of 5 GBP is added [1]."]
    assert result.blocked is None
    assert [(c.approved, c.grounding) for c in result.checks] == [
        (True, ""),
        (False, gate_module.LEAD_IN),
    ]


def test_a_lead_in_alone_is_refused(scripted):
    # given
    generator = scripted(reply="To decide, you need to consider the following:")
    judge = scripted(yes=[0.9])

    # when
    result = gated_answer(generator, "should I register for OSS?", [FEES], judge=judge)

    # then
    assert result.released == ""
    assert result.blocked is not None
    assert result.blocked.grounding == gate_module.LEAD_IN
    assert "nothing followed" in result.critique()
