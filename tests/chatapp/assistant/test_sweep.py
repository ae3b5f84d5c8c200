"""The sweeper: turns past their deadline end; turns whose messages were lost are sent again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.assistant.services import visitor_message_receive
from chatapp.assistant.turn import ERR_LOST_DEADLINE, NOTICE_FAILED, SWEEP_GRACE_S, pipeline_sweep
from chatapp.conversations.models import Message
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db

STALL_S = 10


@pytest.fixture(autouse=True)
def short_stall(settings):
    settings.CHATAPP_TURN_STALL_S = STALL_S


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The turn queues' lengths the sweeper reads (empty unless a test fills them)."""
    lengths = {"retrieval": 0, "answering": 0, "review": 0}
    monkeypatch.setattr(
        "chatapp.assistant.turn.queue_lengths", lambda names: {n: lengths[n] for n in names}
    )
    return lengths


def _run(committed) -> PipelineRun:
    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="Where is my parcel?", client_msg_id=None
        )
    return PipelineRun.objects.get()


def test_a_young_turn_is_left_alone(dispatched, committed, queues):
    # given
    run = _run(committed)
    # when
    sweep = pipeline_sweep(now=run.started_at + timedelta(seconds=STALL_S - 1))
    # then
    assert (sweep.ended, sweep.redispatched) == ([], [])
    assert len(dispatched) == 1


def test_a_turn_past_its_deadline_whose_watchdog_was_lost_ends_with_a_handoff(
    dispatched, committed, broadcasts, queues, settings
):
    # given
    run = _run(committed)
    late = settings.CHATAPP_TURN_DEADLINE_S + SWEEP_GRACE_S + 1
    # when
    with committed():
        sweep = pipeline_sweep(now=run.started_at + timedelta(seconds=late))
        again = pipeline_sweep(now=run.started_at + timedelta(seconds=late + 30))
    # then
    assert (sweep.ended, sweep.redispatched) == ([run.pk], [])
    assert (again.ended, again.redispatched) == ([], [])
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert run.detail == f"deadline: {ERR_LOST_DEADLINE}"
    assert list(Message.objects.order_by("id").values_list("role", "text")) == [
        ("visitor", "Where is my parcel?"),
        ("system", NOTICE_FAILED),
    ]
    assert [m["outcome"] for _, m in broadcasts if m["type"] == "turn.completed"] == ["failed"]


def test_a_turn_whose_dispatch_was_lost_is_sent_again_with_the_same_request(
    dispatched, committed, queues
):
    # given: committed, but its chain never reached the broker
    run = _run(committed)
    original = dispatched[0]
    # when
    sweep = pipeline_sweep(now=run.started_at + timedelta(seconds=STALL_S + 1))
    # then
    assert (sweep.ended, sweep.redispatched) == ([], [run.pk])
    assert len(dispatched) == 2
    assert dispatched[1] == original
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.RUNNING


def test_a_stalled_turn_after_a_finished_stage_is_sent_again_with_its_stored_request(
    dispatched, committed, queues
):
    # given: retrieval finished, then the message to the answerer was lost
    run = _run(committed)
    original = dispatched[0]
    PipelineStep.objects.create(
        run=run,
        stage="retrieval",
        status="done",
        input=original.model_dump(mode="json"),
        finished_at=run.started_at + timedelta(seconds=1),
    )
    # when
    early = pipeline_sweep(now=run.started_at + timedelta(seconds=STALL_S + 0.5))
    sweep = pipeline_sweep(now=run.started_at + timedelta(seconds=STALL_S + 2))
    # then
    assert early.redispatched == []
    assert sweep.redispatched == [run.pk]
    assert dispatched[1] == original


def test_a_stalled_turn_is_not_sent_again_while_a_turn_queue_holds_messages(
    dispatched, committed, queues
):
    # given: the answerer is busy with other turns; this one's message may be waiting there
    run = _run(committed)
    queues["answering"] = 2
    # when
    sweep = pipeline_sweep(now=run.started_at + timedelta(seconds=STALL_S + 1))
    # then
    assert (sweep.ended, sweep.redispatched) == ([], [])
    assert len(dispatched) == 1


def test_a_turn_with_a_stage_at_work_is_sent_again_only_past_the_stage_hard_limit(
    dispatched, committed, queues, settings
):
    # given
    run = _run(committed)
    PipelineStep.objects.create(run=run, stage="retrieval", status="running")
    hard = settings.CHATAPP_STAGE_HARD_LIMIT_S
    # when
    working = pipeline_sweep(now=run.started_at + timedelta(seconds=STALL_S + 1))
    lost = pipeline_sweep(now=run.started_at + timedelta(seconds=STALL_S + hard + 2))
    # then
    assert working.redispatched == []
    assert lost.redispatched == [run.pk]
