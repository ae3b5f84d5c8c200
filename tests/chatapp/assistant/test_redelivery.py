"""Stage messages delivered twice (a lost worker, a resent turn) store nothing twice."""

from __future__ import annotations

from typing import Any

import pytest

from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.assistant.services import visitor_message_receive
from chatapp.assistant.stages import review_run
from chatapp.assistant.turn import pipeline_fail, revision_dispatch
from chatapp.conversations.models import Message
from tests.factories.conversations import make_conversation
from workers.messages import DraftAnswer
from workers.tasks.retrieval import retrieve_context
from workers.tasks.review import review_answer

pytestmark = pytest.mark.django_db


class NoCallsGenerator:
    """Fails the test if the stage asks the model anything."""

    name = "no-calls"

    def stream_chat(self, *args, **kwargs):
        raise AssertionError("the model was asked to write")

    def yes_probability(self, *args, **kwargs):
        raise AssertionError("the model was asked to review")


def _run(committed) -> PipelineRun:
    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="Do you ship to Norway?", client_msg_id=None
        )
    return PipelineRun.objects.get()


def _draft(run: PipelineRun, attempt: int = 0) -> DraftAnswer:
    # A question back: approved without a model call, so the test needs none.
    return DraftAnswer(
        run_id=run.pk,
        conversation_id=str(run.conversation_id),
        attempt=attempt,
        question="Do you ship to Norway?",
        passages=[],
        text="Do you mean shipping zones or delivery times?",
        citations=[],
        clarifying=True,
    )


def test_a_review_delivered_twice_posts_one_answer(dispatched, broadcasts, committed):
    # given
    run = _run(committed)
    draft = _draft(run)
    # when
    with committed():
        first = review_run(draft, generator=NoCallsGenerator())  # type: ignore[arg-type]
        again = review_run(draft, generator=NoCallsGenerator())  # type: ignore[arg-type]
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.COMPLETED
    assert again == first
    assert list(Message.objects.order_by("id").values_list("role", "text")) == [
        ("visitor", "Do you ship to Norway?"),
        ("bot", "Do you mean shipping zones or delivery times?"),
    ]
    assert PipelineStep.objects.filter(run=run, stage="review").count() == 1
    assert [m["outcome"] for _, m in broadcasts if m["type"] == "turn.completed"] == ["answered"]


def test_a_stage_message_of_an_ended_turn_runs_nothing_and_hands_nothing_on(
    dispatched, broadcasts, committed
):
    # given: the turn was handed off (its watchdog fired) while its messages were redelivered
    run = _run(committed)
    with committed():
        pipeline_fail(run_id=run.pk, stage="deadline", error="the turn took too long")
    steps_before = PipelineStep.objects.filter(run=run).count()
    messages_before = Message.objects.count()
    # when
    retrieved = retrieve_context.apply(args=(dispatched[0].model_dump(mode="json"),))
    reviewed = review_answer.apply(args=(_draft(run).model_dump(mode="json"),))
    # then
    assert (retrieved.state, reviewed.state) == ("IGNORED", "IGNORED")
    assert PipelineStep.objects.filter(run=run).count() == steps_before
    assert Message.objects.count() == messages_before


def test_a_rewrite_is_sent_once_while_it_is_being_written(
    dispatched, committed, monkeypatch: pytest.MonkeyPatch
):
    # given
    run = _run(committed)
    sent: list[Any] = []

    class Chain:
        def __init__(self, *signatures: Any) -> None:
            self.signatures = signatures

        def apply_async(self) -> None:
            sent.append(self.signatures)

    monkeypatch.setattr("celery.chain", Chain)
    draft = _draft(run).model_copy(update={"clarifying": False, "text": "It ships."})
    # when: the review is delivered again after the rewrite started
    revision_dispatch(draft=draft, critique="Say where.")
    PipelineStep.objects.create(run=run, stage="answering", attempt=1, status="running")
    revision_dispatch(draft=draft, critique="Say where.")
    # then
    assert len(sent) == 1
    first = sent[0][0]
    assert (first.kwargs["attempt"], first.kwargs["critique"]) == (1, "Say where.")
