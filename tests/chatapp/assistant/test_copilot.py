"""Copilot turns: a suggested reply for the agent that runs the three stages and reaches staff only.

Scripted generators stand in for the models: these tests are about orchestration (who hears
what, what is stored, which turns block which). The real models run in tests/e2e/test_copilot.py.
"""

from __future__ import annotations

import pytest

from chatapp.assistant.models import PipelineRun
from chatapp.core.errors import ApplicationError, Conflict, PermissionDenied
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.workers.inference.conftest import ScriptedGenerator
from workers.messages import PassageRef, RetrievalResult

pytestmark = pytest.mark.django_db

PASSAGE = PassageRef(
    ref=1,
    chunk_id=11,
    document_id=7,
    title="Refund timing",
    text="Refunds take 5 to 10 business days to reach your card.",
    score=0.9,
)


def _held(committed, *texts: str):
    """A conversation the visitor wrote ``texts`` in (the bot's turn running), then claimed."""
    from chatapp.assistant.services import visitor_message_receive
    from chatapp.conversations.services import conversation_assign
    from tests.factories.conversations import make_conversation

    agent = AgentFactory.create()
    with committed():
        conversation, _ = make_conversation()
        for text in texts:
            visitor_message_receive(
                conversation_id=str(conversation.pk), text=text, client_msg_id=None
            )
        conversation = conversation_assign(conversation=conversation, agent=agent, by=agent)
    return conversation, agent


def _copilot(committed, conversation, by) -> PipelineRun:
    from chatapp.assistant.services import copilot_request

    with committed():
        return copilot_request(conversation_id=str(conversation.pk), by=by)


def _retrieval(run: PipelineRun) -> RetrievalResult:
    return RetrievalResult(
        run_id=run.pk,
        conversation_id=str(run.conversation_id),
        question=run.question.text,
        passages=[PASSAGE],
    )


def _groups(broadcasts, conversation) -> tuple[list[dict], list[dict]]:
    visitor = [m for g, m in broadcasts if g == f"conversation.{conversation.pk}"]
    staff = [m for g, m in broadcasts if g == f"conversation.{conversation.pk}.staff"]
    return visitor, staff


def test_the_holder_starts_a_copilot_turn_on_the_visitors_latest_messages(
    dispatched, broadcasts, committed
):
    # given: the bot's turn on the first message was still running when the agent claimed it
    conversation, agent = _held(committed, "Hi", "How long do refunds take?")
    dispatched.clear()

    # when
    run = _copilot(committed, conversation, agent)

    # then: a copilot run beside the (superseded or still running) visitor turn
    assert run.kind == PipelineRun.Kind.COPILOT
    assert run.status == PipelineRun.Status.RUNNING
    assert [r.question for r in dispatched] == ["Hi\nHow long do refunds take?"]
    assert dispatched[0].run_id == run.pk


def test_asking_again_while_a_suggestion_is_drafted_returns_the_same_turn(
    dispatched, broadcasts, committed
):
    # given
    conversation, agent = _held(committed, "How long do refunds take?")
    first = _copilot(committed, conversation, agent)

    # when
    again = _copilot(committed, conversation, agent)

    # then
    assert again.pk == first.pk
    assert PipelineRun.objects.filter(kind="copilot").count() == 1


def test_an_admin_may_ask_without_taking_over_and_another_agent_may_not(
    dispatched, broadcasts, committed
):
    # given
    conversation, _ = _held(committed, "How long do refunds take?")

    # when / then
    with pytest.raises(PermissionDenied):
        _copilot(committed, conversation, AgentFactory.create())
    run = _copilot(committed, conversation, AdminFactory.create())
    assert run.kind == "copilot"
    conversation.refresh_from_db()
    assert conversation.status == "assigned"


def test_nothing_to_answer_and_a_conversation_no_agent_holds_are_refused(
    dispatched, broadcasts, committed
):
    from chatapp.conversations.services import conversation_assign, conversation_release_to_bot
    from tests.factories.conversations import make_conversation

    # given: a claimed conversation the visitor has not written in
    agent = AgentFactory.create()
    conversation, _ = make_conversation()
    conversation = conversation_assign(conversation=conversation, agent=agent, by=agent)

    # when / then
    with pytest.raises(ApplicationError) as refused:
        _copilot(committed, conversation, agent)
    assert (refused.value.code, refused.value.status) == ("nothing_to_answer", 400)

    # given: handed back to the bot
    conversation_release_to_bot(conversation=conversation, by=agent)
    with pytest.raises(Conflict) as conflict:
        _copilot(committed, conversation, AdminFactory.create())
    assert conflict.value.code == "not_assigned"
    assert not PipelineRun.objects.filter(kind="copilot").exists()


def test_a_suggestion_streams_to_staff_only_and_ends_as_a_copilot_suggestion(
    dispatched, broadcasts, committed
):
    # given
    from chatapp.assistant.stages import answer_run, review_run
    from chatapp.conversations.models import Message

    conversation, agent = _held(committed, "How long do refunds take?")
    run = _copilot(committed, conversation, agent)
    messages_before = Message.objects.filter(conversation=conversation).count()
    broadcasts.clear()

    # when: the answerer writes two sentences; the judge approves both
    with committed():
        draft = answer_run(
            _retrieval(run),
            generator=ScriptedGenerator(
                reply="Refunds take 5 to 10 business days [1]. They reach your card [1]."
            ),
            judge=ScriptedGenerator(yes=[0.9, 0.9]),
        )
        verdict = review_run(draft, generator=ScriptedGenerator())

    # then: nothing reached the visitor's group and nothing was stored in the conversation
    visitor, staff = _groups(broadcasts, conversation)
    assert visitor == []
    assert [m["type"] for m in staff] == ["copilot.delta", "copilot.delta", "copilot.suggestion"]
    suggestion = staff[-1]
    assert suggestion["turn_id"] == run.pk
    assert suggestion["verdict"] == "approved"
    assert suggestion["text"] == (
        "Refunds take 5 to 10 business days [1]. They reach your card [1]."
    )
    assert [c["document_id"] for c in suggestion["citations"]] == [7]
    assert verdict.verdict == "approved"
    assert Message.objects.filter(conversation=conversation).count() == messages_before
    run.refresh_from_db()
    assert (run.status, run.answer) == ("completed", None)
    assert run.suggestion == {k: suggestion[k] for k in ("text", "citations", "verdict", "reason")}
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee_id) == ("assigned", agent.pk)


def test_an_escalated_suggestion_means_no_confident_reply_and_hands_nothing_off(
    dispatched, broadcasts, committed
):
    # given
    from chatapp.assistant.stages import answer_run, review_run

    conversation, agent = _held(committed, "Do you sell gift cards?")
    run = _copilot(committed, conversation, agent)
    broadcasts.clear()

    # when: the only sentence is unsupported, and so is the rewrite (no rewrite left)
    with committed():
        draft = answer_run(
            _retrieval(run),
            generator=ScriptedGenerator(reply="We sell gift cards in every store [1]."),
            judge=ScriptedGenerator(yes=[0.05]),
            attempt=1,
        )
        review_run(draft, generator=ScriptedGenerator())

    # then
    visitor, staff = _groups(broadcasts, conversation)
    assert visitor == []
    assert staff[-1]["type"] == "copilot.suggestion"
    assert (staff[-1]["text"], staff[-1]["verdict"]) == ("", "escalated")
    assert staff[-1]["reason"] == "unsupported_answer"
    run.refresh_from_db()
    assert run.status == "escalated"
    conversation.refresh_from_db()
    assert (conversation.status, conversation.handoff_reason) == ("assigned", "")


def test_a_failed_copilot_turn_tells_staff_and_hands_nothing_off(dispatched, broadcasts, committed):
    # given
    from chatapp.assistant.turn import pipeline_fail

    conversation, agent = _held(committed, "How long do refunds take?")
    run = _copilot(committed, conversation, agent)
    broadcasts.clear()

    # when
    with committed():
        pipeline_fail(run_id=run.pk, stage="answering", error="boom")

    # then
    visitor, staff = _groups(broadcasts, conversation)
    assert visitor == []
    assert [(m["type"], m["verdict"], m["reason"]) for m in staff] == [
        ("copilot.suggestion", "failed", "pipeline_failed")
    ]
    conversation.refresh_from_db()
    assert conversation.status == "assigned"


def test_a_copilot_turn_neither_blocks_nor_starts_visitor_turns(dispatched, broadcasts, committed):
    # given: a suggestion is being drafted, and the agent hands the conversation back to the bot
    from chatapp.assistant.services import visitor_message_receive
    from chatapp.conversations.services import conversation_release_to_bot

    conversation, agent = _held(committed, "How long do refunds take?")
    PipelineRun.objects.filter(kind="visitor").update(status="superseded")
    copilot = _copilot(committed, conversation, agent)
    with committed():
        conversation_release_to_bot(conversation=conversation, by=agent)

    # when: the visitor writes
    with committed():
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="And for furniture?", client_msg_id=None
        )

    # then: the bot's turn starts at once, beside the running copilot turn
    running = PipelineRun.objects.filter(status="running").order_by("id")
    assert [(r.kind, r.question.text) for r in running] == [
        ("copilot", "How long do refunds take?"),
        ("visitor", "And for furniture?"),
    ]
    assert copilot.pk == running[0].pk


def test_the_latest_visitor_messages_are_those_since_the_last_reply(dispatched, committed):
    # given
    from chatapp.assistant.selectors import copilot_messages
    from chatapp.conversations.services import agent_message_create, visitor_message_create

    conversation, agent = _held(committed, "Hi")
    agent_message_create(conversation=conversation, agent=agent, text="Hello, how can I help?")
    for text in ("Refunds?", "How long do they take?"):
        visitor_message_create(conversation=conversation, text=text, client_msg_id=None)

    # then: the visitor's two messages after the agent's reply
    assert [m.text for m in copilot_messages(conversation)] == [
        "Refunds?",
        "How long do they take?",
    ]

    # when the agent answered last, the suggestion is still for the visitor's latest messages
    agent_message_create(conversation=conversation, agent=agent, text="Let me check.")
    assert [m.text for m in copilot_messages(conversation)] == [
        "Refunds?",
        "How long do they take?",
    ]


def test_the_dashboard_counters_leave_copilot_turns_out(dispatched, broadcasts, committed):
    # given
    from chatapp.assistant.selectors import dashboard_stats, pipeline_run_list

    conversation, agent = _held(committed, "How long do refunds take?")
    run = _copilot(committed, conversation, agent)

    # then
    stats = dashboard_stats()
    assert sum(t.count for t in stats.runs_by_status) == 1  # the visitor's turn only
    assert {(r.id, r.kind) for r in pipeline_run_list()} >= {(run.pk, "copilot")}


def test_a_suggestion_that_answers_part_of_the_question_says_so_and_hands_nothing_off(
    dispatched, broadcasts, committed
):
    # given: a draft covering the refunds part; nothing was found for the gift cards part
    from chatapp.assistant.turn import pipeline_complete
    from workers.messages import DraftAnswer, ReviewVerdict

    conversation, agent = _held(committed, "How long do refunds take? And gift cards?")
    run = _copilot(committed, conversation, agent)
    common = {"run_id": run.pk, "conversation_id": str(conversation.pk), "attempt": 0}
    draft = DraftAnswer(
        **common,
        question=run.question.text,
        passages=[PASSAGE],
        text="Refunds take 5 to 10 business days [1].",
        citations=[],
        unanswered=["And gift cards?"],
    )
    broadcasts.clear()

    # when
    with committed():
        pipeline_complete(
            draft=draft, verdict=ReviewVerdict(**common, verdict="approved", confidence=0.9)
        )

    # then
    visitor, staff = _groups(broadcasts, conversation)
    assert visitor == []
    assert (staff[-1]["verdict"], staff[-1]["reason"]) == ("approved", "partly_unanswered")
    assert staff[-1]["text"] == "Refunds take 5 to 10 business days [1]."
    conversation.refresh_from_db()
    assert (conversation.status, conversation.handoff_reason) == ("assigned", "")
