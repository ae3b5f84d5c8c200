from __future__ import annotations

import pytest

from chatapp.assistant.stages import contextual_query
from workers.messages import HistoryTurn, TurnRequest


def _request(question: str, history: list[tuple[str, str]]) -> TurnRequest:
    return TurnRequest(
        run_id=1,
        conversation_id="c",
        message_id=2,
        question=question,
        knowledge_base_ids=[1],
        history=[HistoryTurn(role=r, text=t) for r, t in history],
    )


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        (
            "and for furniture?",
            [("user", "How long do refunds take?"), ("assistant", "5 days.")],
            "How long do refunds take? and for furniture?",
        ),
        (
            "How long does furniture delivery take to the UK?",
            [("user", "Refunds?")],
            "How long does furniture delivery take to the UK?",
        ),
        ("and for furniture?", [], "and for furniture?"),
        ("and for furniture?", [("assistant", "Hello! How can I help?")], "and for furniture?"),
    ],
)
def test_short_follow_ups_search_with_the_previous_question(question, history, expected):
    assert contextual_query(_request(question, history)) == expected


class NoCallsGenerator:
    """Fails the test if the pipeline asks the model anything."""

    name = "no-calls"

    def stream_chat(self, *args, **kwargs):
        raise AssertionError("the model was asked to write")

    def yes_probability(self, *args, **kwargs):
        raise AssertionError("the model was asked to review")


@pytest.mark.django_db
def test_a_rewrite_identical_to_the_rejected_draft_is_escalated_without_asking_again(
    dispatched, broadcasts, committed
):
    # given: attempt 0 was reviewed and sent back; attempt 1 came out word for word the same
    from chatapp.assistant.models import PipelineRun, PipelineStep
    from chatapp.assistant.services import visitor_message_receive
    from chatapp.assistant.stages import review_run
    from tests.factories.conversations import make_conversation
    from workers.messages import DraftAnswer, PassageRef, ReviewVerdict

    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="and to the UK?", client_msg_id=None
        )
        run = PipelineRun.objects.get()
        common = {"run_id": run.pk, "conversation_id": str(conversation.pk)}
        # The passage states the figure, so only the model could reject the claim again.
        passage = PassageRef(
            ref=1,
            chunk_id=1,
            document_id=1,
            title="UK shipping",
            text="Shipping to the UK costs 9 GBP.",
            score=0.5,
        )
        first = DraftAnswer(
            **common,
            attempt=0,
            question="and to the UK?",
            passages=[passage],
            text="It costs 9 GBP [1].",
            citations=[],
        )
        rejected = ReviewVerdict(
            **common,
            attempt=0,
            verdict="revise",
            confidence=0.1,
            critique="The passage does not say this.",
            reason="unsupported_claims",
        )
        PipelineStep.objects.create(
            run=run,
            stage="answering",
            attempt=0,
            status="done",
            output=first.model_dump(mode="json"),
        )
        PipelineStep.objects.create(
            run=run,
            stage="review",
            attempt=0,
            status="done",
            output=rejected.model_dump(mode="json"),
        )
        again = first.model_copy(update={"attempt": 1, "critique": rejected.critique})
        # when
        verdict = review_run(again, generator=NoCallsGenerator())  # type: ignore[arg-type]
    # then
    assert (verdict.verdict, verdict.reason, verdict.attempt) == (
        "escalated",
        "unsupported_answer",
        1,
    )
    assert verdict.critique == "The passage does not say this."
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.ESCALATED
    assert run.conversation.status == "waiting"
