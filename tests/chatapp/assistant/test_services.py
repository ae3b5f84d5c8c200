from __future__ import annotations

import uuid

import pytest

from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.assistant.services import visitor_message_receive, wants_human
from chatapp.assistant.turn import (
    NOTICE_FAILED,
    NOTICE_HANDOFF_REQUEST,
    pipeline_complete,
    pipeline_fail,
)
from chatapp.conversations.models import Conversation, Message
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation
from tests.factories.knowledge import KnowledgeBaseFactory
from workers.messages import Citation, DraftAnswer, PassageRef, ReviewVerdict

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want to talk to a person", True),
        ("can I speak with a human agent?", True),
        ("representative please", True),
        ("How do I reset my password?", False),
        ("Is the hub compatible with my personal Wi-Fi?", False),
    ],
)
def test_wants_human(text, expected):
    assert wants_human(text) is expected


def test_visitor_message_starts_one_run_with_the_conversation_kbs(
    dispatched, broadcasts, committed
):
    with committed():
        # given
        kb = KnowledgeBaseFactory.create()
        conversation, _ = make_conversation([kb.pk])
        # when
        message, created = visitor_message_receive(
            conversation_id=str(conversation.pk),
            text="How long do refunds take?",
            client_msg_id=uuid.uuid4(),
        )
    # then
    assert created
    assert len(dispatched) == 1
    request = dispatched[0]
    assert request.question == "How long do refunds take?"
    assert request.knowledge_base_ids == [kb.pk]
    assert request.message_id == message.pk
    assert PipelineRun.objects.get().status == PipelineRun.Status.RUNNING


def test_resent_message_does_not_start_a_second_run(dispatched, broadcasts, committed):
    with committed():
        # given
        conversation, _ = make_conversation()
        msg_id = uuid.uuid4()
        # when
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="hi", client_msg_id=msg_id
        )
        _, created = visitor_message_receive(
            conversation_id=str(conversation.pk), text="hi", client_msg_id=msg_id
        )
    # then
    assert created is False
    assert len(dispatched) == 1
    assert PipelineRun.objects.count() == 1


def test_asking_for_a_person_hands_off_without_models(dispatched, broadcasts, events_of, committed):
    with committed():
        # given
        conversation, _ = make_conversation()
        # when
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="talk to a person", client_msg_id=None
        )
    # then
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING
    assert conversation.handoff_reason == "visitor_request"
    assert dispatched == []
    assert PipelineRun.objects.count() == 0
    assert [e["reason"] for e in events_of("conversation.handoff")] == ["visitor_request"]
    system = Message.objects.get(role=Message.Role.SYSTEM)
    assert system.text == NOTICE_HANDOFF_REQUEST


def test_bot_stays_silent_while_an_agent_holds_the_conversation(dispatched, broadcasts, committed):
    with committed():
        # given
        from chatapp.conversations.services import conversation_assign

        conversation, _ = make_conversation()
        agent = AgentFactory.create()
        conversation_assign(conversation=conversation, agent=agent, by=agent)
        # when
        _, created = visitor_message_receive(
            conversation_id=str(conversation.pk), text="How do refunds work?", client_msg_id=None
        )
    # then
    assert created
    assert dispatched == []


def _draft(run: PipelineRun, attempt: int = 0) -> DraftAnswer:
    passage = PassageRef(
        ref=1,
        chunk_id=7,
        document_id=3,
        title="Refunds",
        text="Refunds take 5 days.",
        score=0.5,
        source_url="https://help.example/refunds",
    )
    return DraftAnswer(
        run_id=run.pk,
        conversation_id=str(run.conversation_id),
        attempt=attempt,
        question="How long?",
        passages=[passage],
        text="Refunds take 5 days [1].",
        citations=[
            Citation(
                ref=1, document_id=3, chunk_id=7, title="Refunds", quote="Refunds take 5 days."
            )
        ],
    )


def _run(dispatched) -> PipelineRun:
    conversation, _ = make_conversation()
    visitor_message_receive(
        conversation_id=str(conversation.pk), text="How long?", client_msg_id=None
    )
    return PipelineRun.objects.get()


def test_approved_verdict_posts_a_cited_reviewed_answer(
    dispatched, broadcasts, events_of, committed
):
    with committed():
        # given
        run = _run(dispatched)
        draft = _draft(run, attempt=1)
        verdict = ReviewVerdict(
            run_id=run.pk,
            conversation_id=draft.conversation_id,
            attempt=1,
            verdict="approved",
            confidence=0.91,
        )
        # when
        pipeline_complete(draft=draft, verdict=verdict)
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.COMPLETED
    assert run.answer is not None
    assert run.answer.review == {"verdict": "revised", "confidence": 0.91}
    assert run.answer.citations == [
        {
            "document_id": 3,
            "chunk_id": 7,
            "title": "Refunds",
            "quote": "Refunds take 5 days.",
            "source_url": "https://help.example/refunds",
        }
    ]
    bot = [e for e in events_of("message.created") if e["message"]["role"] == "bot"]
    assert len(bot) == 1
    assert bot[0]["message"]["turn_id"] == run.pk
    assert events_of("turn.completed") == [
        {"type": "turn.completed", "turn_id": run.pk, "outcome": "answered"}
    ]


def test_escalated_verdict_hands_off_with_the_reason(dispatched, broadcasts, events_of, committed):
    with committed():
        # given
        run = _run(dispatched)
        draft = _draft(run)
        verdict = ReviewVerdict(
            run_id=run.pk,
            conversation_id=draft.conversation_id,
            attempt=0,
            verdict="escalated",
            confidence=0.1,
            reason="unsupported_answer",
            critique="The number 5 is not in the passages.",
        )
        # when
        pipeline_complete(draft=draft, verdict=verdict)
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.ESCALATED
    assert run.answer is None
    assert run.conversation.status == Conversation.Status.WAITING
    assert [e["reason"] for e in events_of("conversation.handoff")] == ["unsupported_answer"]
    assert not Message.objects.filter(role=Message.Role.BOT).exists()


def test_pipeline_fail_tells_the_visitor_and_keeps_their_message(
    dispatched, broadcasts, events_of, committed
):
    with committed():
        # given
        run = _run(dispatched)
        PipelineStep.objects.create(run=run, stage="answering", input={})
        # when
        pipeline_fail(run_id=run.pk, stage="answering", error="RuntimeError: boom")
        pipeline_fail(run_id=run.pk, stage="answering", error="again")  # a second report is a no-op
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    step = run.steps.get()
    assert (step.status, step.error) == ("failed", "RuntimeError: boom")
    texts = list(Message.objects.order_by("id").values_list("role", "text"))
    assert texts == [("visitor", "How long?"), ("system", NOTICE_FAILED)]
    assert [e["outcome"] for e in events_of("turn.completed")] == ["failed"]


def test_answer_is_dropped_when_an_agent_took_over_meanwhile(
    dispatched, broadcasts, events_of, committed
):
    with committed():
        # given
        from chatapp.conversations.services import conversation_assign

        run = _run(dispatched)
        agent = AgentFactory.create()
        conversation_assign(conversation=run.conversation, agent=agent, by=agent)
        draft = _draft(run)
        verdict = ReviewVerdict(
            run_id=run.pk,
            conversation_id=draft.conversation_id,
            attempt=0,
            verdict="approved",
            confidence=0.9,
        )
        # when
        pipeline_complete(draft=draft, verdict=verdict)
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUPERSEDED
    assert not Message.objects.filter(role=Message.Role.BOT).exists()


def test_a_follow_up_carries_the_recent_conversation_to_the_pipeline(
    dispatched, broadcasts, committed
):
    # given: an earlier exchange, and a system notice that is not conversation
    from chatapp.conversations.services import bot_message_create, system_message_create

    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk),
            text="How long do refunds take?",
            client_msg_id=None,
        )
        run = PipelineRun.objects.get()
        bot_message_create(
            conversation=conversation,
            text="5 to 10 business days.",
            citations=[],
            review={"verdict": "approved", "confidence": 0.9},
            turn_id=run.pk,
        )
        system_message_create(conversation=conversation, text="(notice)")
        PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.COMPLETED)
        # when
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="and for furniture?", client_msg_id=None
        )
    # then
    history = [(t.role, t.text) for t in dispatched[-1].history]
    assert history == [
        ("user", "How long do refunds take?"),
        ("assistant", "5 to 10 business days."),
    ]
    assert dispatched[0].history == []


def test_the_answer_also_cites_a_passage_the_reviewer_found_a_claim_resting_on(
    dispatched, broadcasts, committed
):
    # given: the draft cites [1]; the reviewer traced a claim to passage [2] as well
    from workers.messages import ClaimReview

    with committed():
        run = _run(dispatched)
        draft = _draft(run)
        second = PassageRef(
            ref=2,
            chunk_id=8,
            document_id=4,
            title="UK shipping",
            text="Standard shipping to the UK costs 3.95 GBP.",
            score=0.4,
        )
        draft = draft.model_copy(update={"passages": [*draft.passages, second]})
        verdict = ReviewVerdict(
            run_id=run.pk,
            conversation_id=draft.conversation_id,
            attempt=0,
            verdict="approved",
            confidence=0.8,
            claims=[
                ClaimReview(sentence="UK shipping costs 3.95 GBP [1].", support=0.8, refs=[1, 2])
            ],
        )
        # when
        pipeline_complete(draft=draft, verdict=verdict)
    # then
    run.refresh_from_db()
    assert run.answer is not None
    assert [(c["chunk_id"], c["quote"]) for c in run.answer.citations] == [
        (7, "Refunds take 5 days."),
        (8, "Standard shipping to the UK costs 3.95 GBP."),
    ]
