"""The turn's state machine: only RUNNING moves, and only to an end state."""

from __future__ import annotations

import pytest

from chatapp.assistant.models import PipelineRun
from chatapp.assistant.turn import (
    OUTCOMES,
    TRANSITIONS,
    TurnTransitionError,
    _turn_end,
    pipeline_fail,
)
from workers.messages import TurnReason

Status = PipelineRun.Status


def test_every_end_state_has_an_outcome_and_only_running_moves():
    assert set(TRANSITIONS) == {Status.RUNNING}
    assert TRANSITIONS[Status.RUNNING] == set(OUTCOMES)
    assert set(OUTCOMES.values()) == {"answered", "escalated", "failed", "superseded"}


@pytest.mark.django_db
@pytest.mark.parametrize("ended", [Status.COMPLETED, Status.ESCALATED, Status.FAILED])
def test_an_ended_turn_refuses_to_move_again(ended, dispatched, broadcasts, committed):
    # given
    from chatapp.assistant.services import visitor_message_receive
    from tests.factories.conversations import make_conversation

    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="hi?", client_msg_id=None
        )
    run = PipelineRun.objects.get()
    PipelineRun.objects.filter(pk=run.pk).update(status=ended)
    run.refresh_from_db()

    # when / then
    with pytest.raises(TurnTransitionError, match=f"from {ended} to completed"):
        _turn_end(
            run,
            run.conversation,
            status=Status.COMPLETED,
            verdict="approved",
            reason=TurnReason.NONE,
            detail="",
        )
    run.refresh_from_db()
    assert run.status == ended


@pytest.mark.django_db
def test_the_reason_is_stored_as_a_turn_reason(dispatched, broadcasts, committed):
    # given
    from chatapp.assistant.services import visitor_message_receive
    from tests.factories.conversations import make_conversation

    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="hi?", client_msg_id=None
        )
        run = PipelineRun.objects.get()

        # when
        pipeline_fail(run_id=run.pk, stage="answering", error="boom")

    # then
    run.refresh_from_db()
    assert run.reason == TurnReason.PIPELINE_FAILED
    assert run.get_reason_display() == "pipeline_failed"
    assert [m["outcome"] for _, m in broadcasts if m["type"] == "turn.completed"] == ["failed"]
