"""The answering stage under the sentence gate, and the review stage's decision on its draft.

Scripted generators stand in for the models: these tests are about orchestration.
"""

from __future__ import annotations

import pytest

from tests.workers.inference.conftest import ScriptedGenerator
from workers.messages import ClaimReview, DraftAnswer, PassageRef, RetrievalResult

PASSAGE = PassageRef(
    ref=1,
    chunk_id=11,
    document_id=7,
    title="Refund timing",
    text="Refunds take 5 to 10 business days to reach your card.",
    score=0.9,
)


def _run(committed):
    from chatapp.assistant.models import PipelineRun
    from chatapp.assistant.services import visitor_message_receive
    from tests.factories.conversations import make_conversation

    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk),
            text="How long do refunds take?",
            client_msg_id=None,
        )
    return PipelineRun.objects.get()


def _retrieval(run) -> RetrievalResult:
    return RetrievalResult(
        run_id=run.pk,
        conversation_id=str(run.conversation_id),
        question="How long do refunds take?",
        passages=[PASSAGE],
    )


@pytest.mark.django_db
def test_visitors_get_only_approved_sentences_and_staff_get_the_raw_draft(
    dispatched, broadcasts, committed
):
    # given
    from chatapp.assistant.stages import answer_run

    run = _run(committed)
    broadcasts.clear()
    generator = ScriptedGenerator(
        reply="Refunds take 5 to 10 business days [1]. You also get a thank-you gift [1]."
    )
    judge = ScriptedGenerator(yes=[0.9, 0.05])

    # when
    draft = answer_run(_retrieval(run), generator=generator, judge=judge)

    # then
    visitor = [m for g, m in broadcasts if g == f"conversation.{run.conversation_id}"]
    staff = [m for g, m in broadcasts if g == f"conversation.{run.conversation_id}.staff"]
    assert [m["type"] for m in visitor] == ["answer.delta"]
    assert visitor[0]["text"] == "Refunds take 5 to 10 business days [1]."
    assert all(m["type"] == "answer.draft" for m in staff)
    assert "thank-you gift" in "".join(m["text"] for m in staff)
    assert draft.gated is True
    assert draft.released == "Refunds take 5 to 10 business days [1]."
    assert [(c.released, c.support) for c in draft.checks] == [(True, 0.9), (False, 0.05)]
    assert [c.ref for c in draft.citations] == [1]
    run.refresh_from_db()
    assert run.first_token_at is not None  # the first approved sentence reached the visitor


@pytest.mark.django_db
def test_a_sentence_cut_off_by_the_token_limit_is_kept_for_staff_and_never_shown(
    dispatched, broadcasts, committed
):
    # given: the answer ran into CHATAPP_ANSWER_MAX_TOKENS in its second sentence
    from chatapp.assistant.stages import answer_run
    from workers.inference.base import FINISH_LENGTH

    run = _run(committed)
    broadcasts.clear()
    generator = ScriptedGenerator(
        reply="Refunds take 5 to 10 business days [1]. The passage is from the passage that",
        finish=FINISH_LENGTH,
    )
    judge = ScriptedGenerator(yes=[0.9])

    # when
    draft = answer_run(_retrieval(run), generator=generator, judge=judge)

    # then
    visitor = [m for g, m in broadcasts if g == f"conversation.{run.conversation_id}"]
    assert "".join(m["text"] for m in visitor) == "Refunds take 5 to 10 business days [1]."
    assert draft.released == "Refunds take 5 to 10 business days [1]."
    assert draft.withheld == "The passage is from the passage that"
    assert draft.text.endswith("the passage that")  # the raw draft, for staff and the trace
    assert [c.sentence for c in draft.checks] == ["Refunds take 5 to 10 business days [1]."]


@pytest.mark.django_db
def test_a_stage_run_again_after_its_worker_died_streams_under_a_new_id(
    dispatched, broadcasts, committed
):
    # given: the first execution streamed, then its worker died before the step was done
    from chatapp.assistant.models import PipelineStep
    from chatapp.assistant.stages import answer_run

    run = _run(committed)
    broadcasts.clear()
    reply = "Refunds take 5 to 10 business days [1]. They reach your card [1]."
    answer_run(
        _retrieval(run),
        generator=ScriptedGenerator(reply=reply),
        judge=ScriptedGenerator(yes=[0.9] * 2),
    )
    PipelineStep.objects.filter(run=run).update(status=PipelineStep.Status.RUNNING)

    # when: the redelivered task runs the stage again
    answer_run(
        _retrieval(run),
        generator=ScriptedGenerator(reply=reply),
        judge=ScriptedGenerator(yes=[0.9] * 2),
    )

    # then: same attempt, a new stream id, so clients restart the bubble instead of doubling it
    deltas = [m for g, m in broadcasts if m["type"] in ("answer.delta", "answer.draft")]
    first = {m["stream"] for m in deltas[: len(deltas) // 2]}
    second = {m["stream"] for m in deltas[len(deltas) // 2 :]}
    assert {m["attempt"] for m in deltas} == {0}
    assert len(first) == len(second) == 1
    assert first != second
    assert "" not in first | second


@pytest.mark.django_db
def test_nothing_reaches_the_visitor_when_the_first_sentence_is_refused(
    dispatched, broadcasts, committed
):
    # given
    from chatapp.assistant.stages import answer_run

    run = _run(committed)
    broadcasts.clear()
    generator = ScriptedGenerator(reply="Refunds take 2 days [1].")

    # when
    draft = answer_run(_retrieval(run), generator=generator, judge=ScriptedGenerator(yes=[]))

    # then
    assert [m["type"] for _, m in broadcasts] == ["answer.draft"]
    assert draft.released == ""
    assert draft.citations == []
    run.refresh_from_db()
    assert run.first_token_at is None


@pytest.mark.django_db
def test_a_grounding_refusal_is_kept_in_the_trace_and_its_critique_sent_back(
    dispatched, broadcasts, committed
):
    # given: a figure question answered first with something else
    from chatapp.assistant.stages import answer_run
    from chatapp.assistant.stages.review import _gated_verdict

    run = _run(committed)
    retrieval = _retrieval(run)  # "How long do refunds take?" asks for a figure
    generator = ScriptedGenerator(reply="Refunds go back to your card [1]. It takes 5 days [1].")

    # when
    draft = answer_run(retrieval, generator=generator, judge=ScriptedGenerator(yes=[]))
    verdict = _gated_verdict(
        draft, {"run_id": run.pk, "conversation_id": "c", "attempt": 0, "model": "m"}
    )

    # then
    assert draft.released == ""
    assert [c.grounding for c in draft.checks] == ["figure_missing"]
    assert verdict.verdict == "revise"
    assert "asks for a figure" in verdict.critique


def _draft(checks: list[ClaimReview], *, attempt: int = 0) -> DraftAnswer:
    return DraftAnswer(
        run_id=1,
        conversation_id="c",
        attempt=attempt,
        question="q",
        passages=[PASSAGE],
        text=" ".join(c.sentence for c in checks) or "x",
        citations=[],
        gated=True,
        released=" ".join(c.sentence for c in checks if c.released),
        checks=checks,
    )


def _check(sentence: str, *, support: float = 0.9, released: bool = True, **kw) -> ClaimReview:
    return ClaimReview(sentence=sentence, support=support, refs=[1], released=released, **kw)


@pytest.mark.parametrize(
    ("checks", "attempt", "expected"),
    [
        ([_check("A [1]."), _check("B [1].", support=0.7)], 0, ("approved", "", 0.7)),
        ([_check("Hi!", claim=False, support=1.0)], 0, ("escalated", "no_claims", 0.0)),
        (
            [_check("Email your PIN.", support=0.0, released=False, policy="asks_for_secret")],
            0,
            ("escalated", "policy_violation", 0.0),
        ),
        ([_check("A [1].", support=0.1, released=False)], 0, ("revise", "unsupported_claims", 0.1)),
        (
            [_check("A [1].", support=0.1, released=False)],
            1,
            ("escalated", "unsupported_answer", 0.1),
        ),
        (
            [_check("A [1]."), _check("B [1].", support=0.1, released=False)],
            0,
            ("escalated", "unsupported_answer", 0.1),
        ),
    ],
    ids=[
        "all-approved",
        "pleasantries-only",
        "policy",
        "unsupported-first-try",
        "unsupported-last-try",
        "unsupported-after-release",
    ],
)
def test_the_review_stage_decides_on_the_gate_s_checks(checks, attempt, expected):
    # given
    from chatapp.assistant.stages.review import _gated_verdict

    common = {"run_id": 1, "conversation_id": "c", "attempt": attempt, "model": "m"}

    # when
    verdict = _gated_verdict(_draft(checks, attempt=attempt), common)

    # then
    assert (verdict.verdict, verdict.reason, verdict.confidence) == expected
    assert verdict.claims == checks
    if verdict.reason not in ("", "no_claims"):
        assert verdict.critique.startswith('- "')


@pytest.mark.django_db
def test_an_escalation_after_released_sentences_keeps_them_in_the_transcript(
    dispatched, broadcasts, committed
):
    # given: the visitor saw one approved sentence, then the next was refused
    from chatapp.assistant.stages import review_run
    from chatapp.conversations.models import Message

    run = _run(committed)
    draft = _draft(
        [
            _check("Refunds take 5 to 10 business days [1]."),
            _check("B.", support=0.1, released=False),
        ]
    )
    draft = draft.model_copy(update={"run_id": run.pk, "conversation_id": str(run.conversation_id)})

    # when
    with committed():
        verdict = review_run(draft, generator=ScriptedGenerator())

    # then
    assert verdict.verdict == "escalated"
    bot = Message.objects.get(conversation=run.conversation, role="bot")
    assert bot.text == "Refunds take 5 to 10 business days [1]."
    assert bot.review == {"verdict": "escalated", "confidence": 0.1}
    run.refresh_from_db()
    assert (run.status, run.reason) == ("escalated", "unsupported_answer")
    assert run.conversation.status == "waiting"


@pytest.mark.django_db
def test_a_clarifying_question_goes_back_without_a_model_and_without_a_review_badge(
    dispatched, broadcasts, committed
):
    # given
    from chatapp.assistant.stages import answer_run, review_run
    from chatapp.conversations.models import Message

    run = _run(committed)
    retrieval = _retrieval(run).model_copy(update={"clarify": "Do you mean A or B?"})
    silent = ScriptedGenerator(reply="")

    # when
    with committed():
        draft = answer_run(retrieval, generator=silent, judge=silent)
        verdict = review_run(draft, generator=silent)

    # then
    assert silent.chats == []
    assert silent.questions == []
    assert (verdict.verdict, verdict.reason) == ("approved", "clarifying_question")
    bot = Message.objects.get(conversation=run.conversation, role="bot")
    assert (bot.text, bot.review) == ("Do you mean A or B?", {})
    run.refresh_from_db()
    assert run.status == "completed"


@pytest.mark.django_db
@pytest.mark.parametrize(("per_part", "chats"), [(True, 2), (False, 1)])
def test_a_question_with_two_parts_is_answered_a_part_at_a_time(
    per_part, chats, settings, dispatched, broadcasts, committed
):
    # given: two answerable parts, each with its own passage
    from chatapp.assistant.stages import answer_run
    from workers.messages import QuestionPart

    settings.CHATAPP_ANSWER_PER_PART = per_part
    run = _run(committed)
    delivery = PASSAGE.model_copy(
        update={"ref": 2, "chunk_id": 12, "title": "Delivery", "text": "Delivery is free."}
    )
    retrieval = _retrieval(run).model_copy(
        update={
            "question": "How long do refunds take and is delivery free?",
            "passages": [PASSAGE, delivery],
            "parts": [
                QuestionPart(text="How long do refunds take", search_query="q1", refs=[1]),
                QuestionPart(text="is delivery free?", search_query="q2", refs=[2]),
            ],
        }
    )
    generator = ScriptedGenerator(reply="Refunds take 5 to 10 business days [1].")

    # when
    draft = answer_run(retrieval, generator=generator, judge=ScriptedGenerator(yes=[0.9] * 2))

    # then: one generation per part (or one for all), one reply
    assert len(generator.chats) == chats
    assert draft.gated is True
    assert draft.released == "Refunds take 5 to 10 business days [1]."
    if per_part:  # the second part's prompt and gate hold only its passage: "5 to 10" is refused
        assert "Delivery" not in " ".join(m["content"] for m in generator.chats[0])
        assert [(c.released, c.refs) for c in draft.checks] == [(True, [1]), (False, [2])]


@pytest.mark.django_db
def test_a_part_without_passages_is_handed_to_people_after_the_answer(
    dispatched, broadcasts, committed
):
    # given: the answer covers the first part; nothing was found for the second
    from chatapp.assistant.stages import review_run
    from chatapp.conversations.models import Message

    run = _run(committed)
    draft = _draft([_check("Refunds take 5 to 10 business days [1].")]).model_copy(
        update={
            "run_id": run.pk,
            "conversation_id": str(run.conversation_id),
            "unanswered": ["do you sell thermostats?"],
        }
    )

    # when
    with committed():
        verdict = review_run(draft, generator=ScriptedGenerator())

    # then
    assert verdict.verdict == "approved"
    roles = list(
        Message.objects.filter(conversation=run.conversation).order_by("id").values_list("role")
    )
    assert [r for (r,) in roles] == ["visitor", "bot", "system"]
    run.refresh_from_db()
    assert run.status == "completed"
    assert run.conversation.status == "waiting"
    assert run.conversation.handoff_reason == "partly_unanswered"


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"skipped": "nothing_relevant"}, ("escalated", "no_relevant_passages", 0.0)),
        ({"skipped": "superseded"}, ("escalated", "agent_took_over", 0.0)),
        (
            {
                "curated": {"id": 1, "question": "q", "answer": "a", "similarity": 0.9},
                "text": "a",
            },
            ("approved", "curated_answer", 0.9),
        ),
        ({"clarifying": True, "text": "A or B?"}, ("approved", "clarifying_question", 1.0)),
        ({"text": ""}, ("escalated", "empty_answer", 0.0)),
        ({"text": "Refunds take 5 days."}, None),  # to be read: gated or fully reviewed
    ],
    ids=["nothing-relevant", "superseded", "curated", "clarifying", "empty", "needs-reading"],
)
def test_verdicts_fixed_by_what_the_draft_is(update, expected):
    # given
    from chatapp.assistant.stages.review import _fixed_verdict
    from workers.messages import CuratedAnswerRef

    if "curated" in update:
        update = {**update, "curated": CuratedAnswerRef(**update["curated"])}
    draft = _draft([]).model_copy(update={"attempt": 0, **update})
    common = {"run_id": 1, "conversation_id": "c", "attempt": 0, "model": "m"}

    # when
    verdict = _fixed_verdict(draft, common)

    # then
    if expected is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert (verdict.verdict, verdict.reason, verdict.confidence) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("evidence_first", "asked"), [(True, 1), (False, 0)])
def test_evidence_first_is_a_setting_and_its_evidence_is_in_the_trace(
    evidence_first, asked, settings, dispatched, broadcasts, committed
):
    # given
    from chatapp.assistant.stages import answer_run

    settings.CHATAPP_ANSWER_EVIDENCE_FIRST = evidence_first
    run = _run(committed)
    generator = ScriptedGenerator(reply="Refunds take 5 to 10 business days [1].", yes=[0.9])

    # when
    draft = answer_run(_retrieval(run), generator=generator, judge=ScriptedGenerator(yes=[0.9]))

    # then: one sentence weighed (the passage has one) and chosen, or none without the setting
    assert len(generator.questions) == asked
    assert draft.released == "Refunds take 5 to 10 business days [1]."
    assert [c.ref for c in draft.citations] == [1]
    assert [(e.ref, e.sentence, e.support, e.chosen) for e in draft.evidence] == [
        (1, "Refunds take 5 to 10 business days to reach your card.", 0.9, True)
    ][:asked]
