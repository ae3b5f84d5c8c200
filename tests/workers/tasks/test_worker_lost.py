"""A lost pool process requeues its task once; lost again, or at the hard limit, the work ends."""

from __future__ import annotations

from unittest.mock import Mock

import pytest
from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery.contrib.testing.mocks import TaskMessage
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure

from chatapp.assistant.models import PipelineRun
from chatapp.assistant.services import visitor_message_receive
from chatapp.assistant.turn import NOTICE_FAILED
from chatapp.config.celery import app
from chatapp.conversations.models import Conversation, Message
from chatapp.knowledge.models import Document
from tests.factories.conversations import make_conversation
from tests.factories.knowledge import DocumentFactory
from workers.tasks.answering import generate_answer
from workers.tasks.base import LossAwareRequest, WorkerLostAgainError, end_work_of_a_lost_task
from workers.tasks.retrieval import index_document

LOST = "Worker exited prematurely: signal 9 (SIGKILL)."


def _run(committed) -> PipelineRun:
    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="Where is my parcel?", client_msg_id=None
        )
    return PipelineRun.objects.get()


def _lost_request(*, redelivered: bool) -> tuple[LossAwareRequest, Mock, Mock]:
    """A request whose pool process died, with what it tells the broker (reject, acknowledge)."""
    message = TaskMessage(generate_answer.name, args=({"run_id": 10**9},))
    message.delivery_info = {"redelivered": redelivered}
    request = LossAwareRequest(message, app=app, task=generate_answer)
    reject, acknowledge = Mock(), Mock()
    request.reject = reject  # type: ignore[method-assign]
    request.acknowledge = acknowledge  # type: ignore[method-assign]
    return request, reject, acknowledge


def _worker_lost() -> ExceptionInfo:
    try:
        raise WorkerLostError(LOST)
    except WorkerLostError:
        return ExceptionInfo()


@pytest.fixture
def failures():
    sent: list[BaseException] = []

    def record(sender=None, exception=None, **kwargs):
        sent.append(exception)

    task_failure.connect(record, weak=False)
    yield sent
    task_failure.disconnect(record)


def test_a_task_that_lost_its_worker_goes_back_to_its_queue_once(failures, monkeypatch):
    # given
    ended = []
    monkeypatch.setattr("workers.tasks.base.stage_failed", lambda *args: ended.append(args))
    request, reject, acknowledge = _lost_request(redelivered=False)
    # when
    request.on_failure(_worker_lost())
    # then
    reject.assert_called_once_with(requeue=True)
    acknowledge.assert_not_called()
    assert failures == []
    assert ended == []


@pytest.mark.django_db  # the failure receiver checks its database connection
def test_a_redelivered_task_that_lost_its_worker_again_is_failed_not_requeued(
    failures, monkeypatch
):
    # given
    ended = []
    monkeypatch.setattr("workers.tasks.base.stage_failed", lambda *args: ended.append(args))
    request, reject, acknowledge = _lost_request(redelivered=True)
    # when
    request.on_failure(_worker_lost())
    # then
    reject.assert_not_called()
    acknowledge.assert_called_once_with()
    assert [type(e) for e in failures] == [WorkerLostAgainError]
    assert str(failures[0]) == LOST
    assert [args[0] for args in ended] == ["answering"]


@pytest.mark.django_db
def test_a_stage_lost_for_good_ends_the_turn_with_a_handoff_at_once(
    dispatched, committed, broadcasts
):
    # given
    run = _run(committed)
    # when
    with committed():
        end_work_of_a_lost_task(
            sender=generate_answer,
            exception=WorkerLostAgainError(LOST),
            args=({"run_id": run.pk, "kind": "retrieval_result"},),
            kwargs={},
        )
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert run.reason == "pipeline_failed"
    assert run.detail == f"answering: WorkerLostAgainError: {LOST}"
    assert run.conversation.status == Conversation.Status.WAITING
    assert list(Message.objects.order_by("id").values_list("role", "text")) == [
        ("visitor", "Where is my parcel?"),
        ("system", NOTICE_FAILED),
    ]
    assert [m["outcome"] for _, m in broadcasts if m["type"] == "turn.completed"] == ["failed"]


@pytest.mark.django_db
def test_a_hard_time_limit_seen_twice_ends_the_turn_once(dispatched, committed):
    # given: Celery >= 5.7 calls on_failure and sends task_failure for a hard limit
    run = _run(committed)
    payload = {"run_id": run.pk}
    # when
    with committed():
        generate_answer.on_failure(TimeLimitExceeded(90), "t1", (payload,), {}, None)
        end_work_of_a_lost_task(
            sender=generate_answer, exception=TimeLimitExceeded(90), args=(payload,), kwargs={}
        )
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert run.detail == "answering: TimeLimitExceeded: TimeLimitExceeded(90,)"
    assert Message.objects.filter(role=Message.Role.SYSTEM).count() == 1


@pytest.mark.django_db
def test_an_ordinary_failure_signal_is_left_to_the_task_own_handler(dispatched, committed):
    # given: a stage that raised in its pool process (on_failure there handles it)
    run = _run(committed)
    # when
    end_work_of_a_lost_task(
        sender=generate_answer, exception=ValueError("bad"), args=({"run_id": run.pk},), kwargs={}
    )
    # then
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.RUNNING
    assert Message.objects.filter(role=Message.Role.SYSTEM).count() == 0


@pytest.mark.django_db
def test_an_indexing_task_lost_for_good_marks_its_document_failed_and_leaves_a_ready_one():
    # given
    indexing = DocumentFactory.create(status=Document.Status.INDEXING)
    ready = DocumentFactory.create(status=Document.Status.READY)
    # when
    for doc in (indexing, ready):
        end_work_of_a_lost_task(
            sender=index_document, exception=WorkerLostAgainError(LOST), args=(doc.pk,), kwargs={}
        )
    # then
    indexing.refresh_from_db()
    ready.refresh_from_db()
    assert indexing.status == Document.Status.FAILED
    assert indexing.error == f"indexing_failed: WorkerLostAgainError: {LOST}"
    assert ready.status == Document.Status.READY
    assert ready.error == ""
