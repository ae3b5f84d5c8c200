"""One turn at a time per conversation: messages sent meanwhile are answered by the next turn."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Literal

import pytest
from django.db import IntegrityError, connection, transaction

from chatapp.assistant.models import PipelineRun
from chatapp.assistant.selectors import pipeline_run_in_progress, pipeline_run_pending_messages
from chatapp.assistant.services import visitor_message_receive
from chatapp.assistant.turn import pipeline_complete, pipeline_fail, pipeline_start
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.services import conversation_assign
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation
from workers.messages import DraftAnswer, ReviewVerdict

pytestmark = pytest.mark.django_db


def _say(conversation: Conversation, text: str, client_msg_id: uuid.UUID | None = None) -> Message:
    message, _ = visitor_message_receive(
        conversation_id=str(conversation.pk), text=text, client_msg_id=client_msg_id
    )
    return message


def _end(
    run: PipelineRun, verdict: Literal["approved", "escalated"] = "approved", reason: str = ""
) -> None:
    """The reviewer's final verdict on ``run``'s draft reaches the web side."""
    draft = DraftAnswer(
        run_id=run.pk,
        conversation_id=str(run.conversation_id),
        attempt=0,
        question=run.question.text,
        passages=[],
        text=f"Answer to run {run.pk}.",
        citations=[],
    )
    pipeline_complete(
        draft=draft,
        verdict=ReviewVerdict(
            run_id=run.pk,
            conversation_id=draft.conversation_id,
            attempt=0,
            verdict=verdict,
            confidence=0.9 if verdict == "approved" else 0.1,
            reason=reason,
        ),
    )


def test_a_message_sent_while_a_turn_runs_is_stored_and_broadcast_but_starts_no_run(
    dispatched, broadcasts, events_of, committed
):
    with committed():
        # given
        conversation, _ = make_conversation()
        first = _say(conversation, "How long do refunds take?")
        # when
        second, created = visitor_message_receive(
            conversation_id=str(conversation.pk), text="And for furniture?", client_msg_id=None
        )
    # then
    assert created is True
    assert Message.objects.get(pk=second.pk).text == "And for furniture?"
    assert [e["message"]["id"] for e in events_of("message.created")] == [first.pk, second.pk]
    assert len(dispatched) == 1
    run = PipelineRun.objects.get()
    assert (run.question_id, run.status) == (first.pk, PipelineRun.Status.RUNNING)


def test_when_the_turn_is_answered_one_run_answers_both_pending_messages(
    dispatched, broadcasts, events_of, committed
):
    with committed():
        # given: a turn running on the first message, two more sent meanwhile
        conversation, _ = make_conversation()
        first = _say(conversation, "How long do refunds take?")
        _say(conversation, "I paid by card.")
        third = _say(conversation, "And for furniture?")
        running = PipelineRun.objects.get()
        # when
        _end(running)
    # then
    assert PipelineRun.objects.filter(status=PipelineRun.Status.RUNNING).count() == 1
    following = PipelineRun.objects.get(status=PipelineRun.Status.RUNNING)
    assert following.question_id == third.pk
    assert len(dispatched) == 2
    request = dispatched[1]
    assert request.run_id == following.pk
    assert request.message_id == third.pk
    assert request.question == "I paid by card.\nAnd for furniture?"
    assert [(t.role, t.text) for t in request.history] == [
        ("user", first.text),
        ("assistant", f"Answer to run {running.pk}."),
    ]
    assert events_of("turn.completed") == [
        {"type": "turn.completed", "turn_id": running.pk, "outcome": "answered"}
    ]


def test_three_pending_messages_start_one_run_with_their_texts_in_order(
    dispatched, broadcasts, committed
):
    with committed():
        # given
        conversation, _ = make_conversation()
        _say(conversation, "Hi")
        _say(conversation, "one")
        _say(conversation, "two")
        last = _say(conversation, "three")
        # when
        _end(PipelineRun.objects.get())
    # then
    assert PipelineRun.objects.count() == 2
    assert [r.question for r in dispatched] == ["Hi", "one\ntwo\nthree"]
    assert PipelineRun.objects.get(status=PipelineRun.Status.RUNNING).question_id == last.pk


def test_a_turn_ending_with_nothing_pending_starts_nothing(dispatched, broadcasts, committed):
    with committed():
        # given
        conversation, _ = make_conversation()
        _say(conversation, "How long do refunds take?")
        # when
        _end(PipelineRun.objects.get())
    # then
    assert len(dispatched) == 1
    assert list(PipelineRun.objects.values_list("status", flat=True)) == ["completed"]


def test_the_next_turn_answers_only_what_came_after_the_previous_one(
    dispatched, broadcasts, committed
):
    with committed():
        # given: the second turn answers "two" and "three"; "four" arrives while it runs
        conversation, _ = make_conversation()
        _say(conversation, "one")
        _say(conversation, "two")
        _say(conversation, "three")
        _end(PipelineRun.objects.get())
        four = _say(conversation, "four")
        # when
        _end(PipelineRun.objects.get(status=PipelineRun.Status.RUNNING))
    # then
    assert [r.question for r in dispatched] == ["one", "two\nthree", "four"]
    assert PipelineRun.objects.get(status=PipelineRun.Status.RUNNING).question_id == four.pk


def _escalate(run: PipelineRun) -> None:
    _end(run, verdict="escalated", reason="unsupported_answer")


def _fail(run: PipelineRun) -> None:
    pipeline_fail(run_id=run.pk, stage="deadline", error="the turn took too long")


def _take_over_then_answer(run: PipelineRun) -> None:
    agent = AgentFactory.create()
    conversation_assign(conversation=run.conversation, agent=agent, by=agent)
    _end(run)


@pytest.mark.parametrize(
    ("end", "status", "conversation_status"),
    [
        (_escalate, "escalated", "waiting"),
        (_fail, "failed", "waiting"),
        (_take_over_then_answer, "superseded", "assigned"),
    ],
    ids=["escalated", "failed", "superseded"],
)
def test_pending_messages_start_no_run_when_the_turn_ends_with_people_in_charge(
    dispatched,
    broadcasts,
    events_of,
    committed,
    end: Callable[[PipelineRun], None],
    status: str,
    conversation_status: str,
):
    with committed():
        # given
        conversation, _ = make_conversation()
        _say(conversation, "How long do refunds take?")
        pending = _say(conversation, "And for furniture?")
        run = PipelineRun.objects.get()
        # when
        end(run)
    # then
    assert len(dispatched) == 1
    assert list(PipelineRun.objects.values_list("status", flat=True)) == [status]
    conversation.refresh_from_db()
    assert conversation.status == conversation_status
    assert Message.objects.filter(pk=pending.pk).exists()
    assert [e["outcome"] for e in events_of("turn.completed")] == [status]


def test_a_resent_message_during_a_turn_is_answered_once(dispatched, broadcasts, committed):
    with committed():
        # given
        conversation, _ = make_conversation()
        _say(conversation, "How long do refunds take?")
        msg_id = uuid.uuid4()
        _say(conversation, "And for furniture?", client_msg_id=msg_id)
        # when: the client resends the frame, then the turn ends
        _, created = visitor_message_receive(
            conversation_id=str(conversation.pk), text="And for furniture?", client_msg_id=msg_id
        )
        _end(PipelineRun.objects.get())
    # then
    assert created is False
    assert Message.objects.filter(role=Message.Role.VISITOR).count() == 2
    assert [r.question for r in dispatched] == ["How long do refunds take?", "And for furniture?"]
    assert PipelineRun.objects.count() == 2


def test_the_database_refuses_a_second_running_run_in_a_conversation(
    dispatched, broadcasts, committed
):
    # given
    with committed():
        conversation, _ = make_conversation()
        _say(conversation, "How long do refunds take?")
        later = _say(conversation, "And for furniture?")
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        PipelineRun.objects.create(conversation=conversation, question=later)
    assert PipelineRun.objects.count() == 1


def test_pipeline_start_without_the_check_starts_nothing_while_a_turn_runs(
    dispatched, broadcasts, committed
):
    with committed():
        # given
        conversation, _ = make_conversation()
        _say(conversation, "How long do refunds take?")
        later = _say(conversation, "And for furniture?")
        # when
        run = pipeline_start(conversation=conversation, messages=[later])
    # then
    assert run is None
    assert len(dispatched) == 1
    assert PipelineRun.objects.count() == 1


def test_a_finished_turn_frees_the_conversation_for_a_new_run(dispatched, broadcasts, committed):
    with committed():
        # given
        conversation, _ = make_conversation()
        _say(conversation, "How long do refunds take?")
        _end(PipelineRun.objects.get())
        # when
        later = _say(conversation, "And for furniture?")
    # then
    assert [r.question for r in dispatched] == ["How long do refunds take?", "And for furniture?"]
    assert PipelineRun.objects.get(status=PipelineRun.Status.RUNNING).question_id == later.pk


@pytest.mark.django_db(transaction=True)
def test_messages_racing_in_on_two_connections_start_one_run(dispatched, broadcasts):
    # given: a conversation with the bot and two visitor frames arriving at the same moment
    conversation, _ = make_conversation()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def send(text: str) -> None:
        try:
            barrier.wait(timeout=10)
            _say(conversation, text)
        except BaseException as exc:  # surfaced in the main thread's assertions
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(t,)) for t in ("one", "two")]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then
    assert errors == []
    assert Message.objects.filter(conversation=conversation, role="visitor").count() == 2
    assert PipelineRun.objects.filter(conversation=conversation).count() == 1
    assert len(dispatched) == 1


@pytest.mark.django_db(transaction=True)
def test_a_turn_ending_as_a_message_arrives_leaves_exactly_one_turn_for_it(dispatched, broadcasts):
    # given: a turn running; its verdict and a new visitor message arrive at the same moment
    conversation, _ = make_conversation()
    _say(conversation, "How long do refunds take?")
    running = PipelineRun.objects.get()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def act(action: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            action()
        except BaseException as exc:  # surfaced in the main thread's assertions
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=act, args=(lambda: _end(running),)),
        threading.Thread(target=act, args=(lambda: _say(conversation, "And for furniture?"),)),
    ]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then: whichever came first, the new message has one turn of its own
    assert errors == []
    assert [r.question for r in dispatched] == ["How long do refunds take?", "And for furniture?"]
    following = PipelineRun.objects.get(status=PipelineRun.Status.RUNNING)
    assert following.question.text == "And for furniture?"
    assert PipelineRun.objects.count() == 2


def _visitor(conversation: Conversation, text: str) -> Message:
    return Message.objects.create(conversation=conversation, role=Message.Role.VISITOR, text=text)


def test_pending_messages_are_the_visitor_messages_no_run_took_up(django_assert_num_queries):
    # given: run 1 answered "one"; run 2 took up "two" (and the bot answer, a notice came between)
    conversation, _ = make_conversation()
    first = PipelineRun.objects.create(
        conversation=conversation,
        question=_visitor(conversation, "one"),
        status=PipelineRun.Status.COMPLETED,
    )
    _visitor(conversation, "two")
    Message.objects.create(conversation=conversation, role=Message.Role.BOT, text="answer")
    PipelineRun.objects.create(
        conversation=conversation,
        question=_visitor(conversation, "two, again"),
        status=PipelineRun.Status.COMPLETED,
    )
    Message.objects.create(conversation=conversation, role=Message.Role.SYSTEM, text="notice")
    three = _visitor(conversation, "three")
    four = _visitor(conversation, "four")
    other, _ = make_conversation()
    _visitor(other, "elsewhere")
    # when
    with django_assert_num_queries(1):
        pending = pipeline_run_pending_messages(first)
    # then
    assert [m.pk for m in pending] == [three.pk, four.pk]


def test_pipeline_run_in_progress_sees_only_a_running_run_of_that_conversation(
    django_assert_num_queries,
):
    # given
    conversation, _ = make_conversation()
    other, _ = make_conversation()
    PipelineRun.objects.create(
        conversation=conversation,
        question=_visitor(conversation, "one"),
        status=PipelineRun.Status.COMPLETED,
    )
    PipelineRun.objects.create(conversation=other, question=_visitor(other, "elsewhere"))
    # when
    with django_assert_num_queries(1):
        running = pipeline_run_in_progress(conversation)
    # then
    assert running is False
    assert pipeline_run_in_progress(other) is True


@pytest.fixture
def migrator():
    """A migration executor; the schema is migrated back to the latest state afterwards."""
    from django.db.migrations.executor import MigrationExecutor

    yield MigrationExecutor(connection)
    latest = MigrationExecutor(connection)
    latest.migrate(latest.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_the_newest_of_concurrent_running_runs(migrator):
    # given: the schema before the constraint, with a conversation running two turns at once
    before = [("assistant", "0001_initial")]
    after = [("assistant", "0002_pipeline_run_one_running_per_conversation")]
    migrator.migrate(before)
    apps = migrator.loader.project_state(before).apps
    run_model = apps.get_model("assistant", "PipelineRun")
    message_model = apps.get_model("conversations", "Message")
    conversation, _ = make_conversation()
    runs = [
        run_model.objects.create(
            conversation_id=conversation.pk,
            question=message_model.objects.create(
                conversation_id=conversation.pk, role="visitor", text=text
            ),
        )
        for text in ("one", "two")
    ]
    # when
    migrator.loader.build_graph()
    migrator.migrate(after)
    # then
    assert list(PipelineRun.objects.order_by("pk").values_list("pk", "status", "reason")) == [
        (runs[0].pk, "superseded", "concurrent_turn"),
        (runs[1].pk, "running", ""),
    ]


def test_a_turn_lost_past_its_deadline_is_ended_by_the_next_message(
    dispatched, broadcasts, committed
):
    # given: a turn whose chain and watchdog were both lost, long ago
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from chatapp.assistant.services import STALE_GRACE_S

    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="first?", client_msg_id=None
        )
    long_ago = timezone.now() - timedelta(
        seconds=settings.CHATAPP_TURN_DEADLINE_S + STALE_GRACE_S + 1
    )
    PipelineRun.objects.update(started_at=long_ago)

    # when
    with committed():
        message, created = visitor_message_receive(
            conversation_id=str(conversation.pk), text="hello again?", client_msg_id=None
        )

    # then: the message is kept, the lost turn ended, people take over
    assert created
    run = PipelineRun.objects.get()
    assert (run.status, run.reason) == ("failed", "pipeline_failed")
    conversation.refresh_from_db()
    assert conversation.status == "waiting"
    assert Message.objects.filter(pk=message.pk).exists()
