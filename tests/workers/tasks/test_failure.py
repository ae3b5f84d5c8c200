"""A failed stage, or a turn past its deadline, ends with a hand-off, never silence."""

from __future__ import annotations

import pytest

from chatapp.assistant.models import PipelineRun
from chatapp.assistant.services import visitor_message_receive
from chatapp.assistant.turn import NOTICE_FAILED
from chatapp.conversations.models import Conversation, Message
from tests.factories.conversations import make_conversation
from workers.tasks.answering import generate_answer
from workers.tasks.retrieval import turn_watchdog

pytestmark = pytest.mark.django_db


def _run(dispatched, committed) -> PipelineRun:
    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="Where is my parcel?", client_msg_id=None
        )
    return PipelineRun.objects.get()


def test_a_stage_given_a_malformed_message_fails_the_turn_with_a_handoff(
    dispatched, committed, broadcasts
):
    # given
    run = _run(dispatched, committed)
    bad_payload = {"run_id": run.pk, "kind": "retrieval_result", "passages": "not a list"}
    # when
    with committed():
        result = generate_answer.apply(args=(bad_payload,))
    # then
    assert result.failed()
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert run.reason == "pipeline_failed"
    assert run.detail.startswith("answering: ValidationError")
    assert run.conversation.status == Conversation.Status.WAITING
    assert list(Message.objects.order_by("id").values_list("role", "text")) == [
        ("visitor", "Where is my parcel?"),
        ("system", NOTICE_FAILED),
    ]
    outcomes = [m["outcome"] for _, m in broadcasts if m["type"] == "turn.completed"]
    assert outcomes == ["failed"]


def test_watchdog_ends_a_turn_still_running_and_ignores_a_finished_one(
    dispatched, committed, broadcasts
):
    # given
    run = _run(dispatched, committed)
    # when
    with committed():
        turn_watchdog.apply(args=(run.pk,))
        turn_watchdog.apply(args=(run.pk,))
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert run.detail == "deadline: the turn took too long"
    assert Message.objects.filter(role=Message.Role.SYSTEM).count() == 1
