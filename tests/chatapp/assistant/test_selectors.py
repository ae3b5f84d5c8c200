from __future__ import annotations

from datetime import timedelta

import pytest

from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.assistant.selectors import (
    Tally,
    dashboard_stats,
    pipeline_run_list,
    pipeline_run_trace,
)
from chatapp.conversations.models import Conversation, Message
from chatapp.core.errors import NotFound
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db


def _run(
    status: str,
    *,
    question: str = "Q?",
    verdict: str = "",
    ttft_ms: int | None = None,
    total_ms: int | None = None,
) -> PipelineRun:
    conversation, _ = make_conversation()
    asked = Message.objects.create(
        conversation=conversation, role=Message.Role.VISITOR, text=question
    )
    run = PipelineRun.objects.create(
        conversation=conversation, question=asked, status=status, verdict=verdict
    )
    start = run.started_at
    PipelineRun.objects.filter(pk=run.pk).update(
        first_token_at=None if ttft_ms is None else start + timedelta(milliseconds=ttft_ms),
        finished_at=None if total_ms is None else start + timedelta(milliseconds=total_ms),
    )
    run.refresh_from_db()
    return run


def _step(run: PipelineRun, stage: str, attempt: int, ms: int | None, **fields) -> PipelineStep:
    return PipelineStep.objects.create(
        run=run,
        stage=stage,
        attempt=attempt,
        duration_ms=ms,
        status=PipelineStep.Status.DONE if ms is not None else PipelineStep.Status.RUNNING,
        **fields,
    )


def test_dashboard_stats_counts_everything_in_five_queries(django_assert_num_queries):
    # given
    answered = _run(PipelineRun.Status.COMPLETED, verdict="approved", ttft_ms=400)
    _run(PipelineRun.Status.COMPLETED, verdict="revised", ttft_ms=800)
    escalated = _run(PipelineRun.Status.ESCALATED, verdict="escalated", ttft_ms=600)
    _run(PipelineRun.Status.FAILED)
    Message.objects.create(conversation=answered.conversation, role=Message.Role.BOT, text="A")
    Conversation.objects.filter(pk=escalated.conversation_id).update(
        status=Conversation.Status.WAITING, handoff_reason="unsupported_answer"
    )
    # when
    with django_assert_num_queries(5):
        stats = dashboard_stats()
    # then
    assert stats.conversations_total == 4
    assert stats.conversations_by_status == [
        Tally("bot", "With the bot", 3),
        Tally("waiting", "Waiting for an agent", 1),
        Tally("assigned", "With an agent", 0),
        Tally("closed", "Closed", 0),
    ]
    assert [(t.key, t.count) for t in stats.messages_by_role] == [
        ("visitor", 4),
        ("bot", 1),
        ("agent", 0),
        ("system", 0),
    ]
    assert stats.handoffs_by_reason == [Tally("unsupported_answer", "unsupported_answer", 1)]
    assert [(t.key, t.count) for t in stats.runs_by_status] == [
        ("running", 0),
        ("completed", 2),
        ("escalated", 1),
        ("failed", 1),
        ("superseded", 0),
    ]
    assert stats.approval_rate == pytest.approx(2 / 3)
    assert stats.avg_first_token_ms == 600


def test_dashboard_stats_on_an_empty_database():
    # given / when
    stats = dashboard_stats()
    # then
    assert stats.conversations_total == 0
    assert stats.approval_rate is None
    assert stats.avg_first_token_ms is None
    assert stats.handoffs_by_reason == []


def test_pipeline_run_list_sums_stage_durations_over_attempts_in_one_query(
    django_assert_num_queries,
):
    # given: a revision ran answering and review twice
    older = _run(PipelineRun.Status.COMPLETED, question="Older?", ttft_ms=500, total_ms=5000)
    PipelineRun.objects.filter(pk=older.pk).update(reason="curated_answer")
    _step(older, "retrieval", 0, 100)
    _step(older, "answering", 0, 1000)
    _step(older, "review", 0, 400)
    _step(older, "answering", 1, 1200)
    _step(older, "review", 1, 350)
    newer = _run(PipelineRun.Status.RUNNING, question="x" * 300)
    _step(newer, "retrieval", 0, 90)
    _step(newer, "answering", 0, None)
    # when
    with django_assert_num_queries(1):
        rows = pipeline_run_list()
    # then
    assert [r.id for r in rows] == [newer.pk, older.pk]
    assert (rows[1].retrieval_ms, rows[1].answering_ms, rows[1].review_ms) == (100, 2200, 750)
    assert (rows[1].first_token_ms, rows[1].total_ms) == (500, 5000)
    assert rows[1].question == "Older?"
    assert rows[1].reason == "curated_answer"
    assert (rows[0].retrieval_ms, rows[0].answering_ms, rows[0].review_ms) == (90, None, None)
    assert (rows[0].first_token_ms, rows[0].total_ms) == (None, None)
    assert rows[0].question == "x" * 120


def test_pipeline_run_list_respects_the_limit():
    # given
    for _ in range(3):
        _run(PipelineRun.Status.COMPLETED)
    # when
    rows = pipeline_run_list(limit=2)
    # then
    assert len(rows) == 2


def test_pipeline_run_trace_lists_steps_in_order_with_pretty_json(django_assert_num_queries):
    # given
    run = _run(PipelineRun.Status.FAILED, question="Why?", total_ms=900)
    _step(
        run,
        "retrieval",
        0,
        80,
        model="minilm",
        worker="w1",
        input={"kind": "turn_request", "question": "Why?"},
        output={"kind": "retrieval_result", "passages": []},
    )
    PipelineStep.objects.create(
        run=run,
        stage="answering",
        attempt=0,
        status=PipelineStep.Status.FAILED,
        error="timed out",
        input={"kind": "retrieval_result"},
    )
    # when
    with django_assert_num_queries(2):
        trace = pipeline_run_trace(run.pk)
    # then
    assert trace.question.text == "Why?"
    assert trace.answer is None
    assert trace.total_ms == 900
    assert [(s.stage, s.attempt, s.status) for s in trace.steps] == [
        ("retrieval", 0, "done"),
        ("answering", 0, "failed"),
    ]
    assert trace.steps[0].input_json == '{\n  "kind": "turn_request",\n  "question": "Why?"\n}'
    assert trace.steps[0].model == "minilm"
    assert trace.steps[1].output_json is None
    assert trace.steps[1].error == "timed out"


def test_pipeline_run_trace_raises_not_found_for_an_unknown_run():
    # given / when / then
    with pytest.raises(NotFound):
        pipeline_run_trace(123456789)
