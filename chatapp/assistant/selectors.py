"""Reads over turns: whether one is running, what waits for the next, and the admin dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Exists, F, Max, OuterRef, Q, Sum

from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.conversations.models import Conversation, Message
from chatapp.core.errors import NotFound

# The dashboard lists this many recent turns; the full history is in Django admin.
RECENT_TURNS_LIMIT = 50
# Questions are cut here in the table (the trace page shows the whole text).
QUESTION_PREVIEW_CHARS = 120

STAGES = (
    PipelineStep.Stage.RETRIEVAL,
    PipelineStep.Stage.ANSWERING,
    PipelineStep.Stage.REVIEW,
)


@dataclass(frozen=True)
class Tally:
    """One labelled count (a row of a breakdown table)."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class DashboardStats:
    """The dashboard's counters."""

    conversations_total: int
    conversations_by_status: list[Tally]
    messages_by_role: list[Tally]
    handoffs_by_reason: list[Tally]
    runs_by_status: list[Tally]
    # Share of reviewed turns whose answer reached the visitor; None before any such turn.
    approval_rate: float | None
    avg_first_token_ms: int | None


@dataclass(frozen=True)
class TurnRow:
    """One recent turn (PipelineRun) in the dashboard table. Durations are milliseconds."""

    id: int
    conversation_id: str
    question: str
    kind: str  # "visitor", or "copilot": a reply suggested to the agent
    status: str
    verdict: str
    reason: str  # e.g. "curated_answer", "unsupported_answer", "pipeline_failed"
    started_at: datetime
    first_token_ms: int | None
    retrieval_ms: int | None
    answering_ms: int | None
    review_ms: int | None
    total_ms: int | None


@dataclass(frozen=True)
class StepView:
    """One PipelineStep of a trace, with its stage messages pretty-printed."""

    stage: str
    attempt: int
    status: str
    model: str
    worker: str
    started_at: datetime
    duration_ms: int | None
    error: str
    input_json: str
    output_json: str | None


@dataclass(frozen=True)
class TurnTrace:
    """A turn's full trace: the run, its question and answer, and each step in order."""

    run: PipelineRun
    question: Message
    answer: Message | None
    conversation: Conversation
    first_token_ms: int | None
    total_ms: int | None
    steps: list[StepView]


def _ms(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds() * 1000)


def _between(start: datetime | None, end: datetime | None) -> int | None:
    return None if start is None or end is None else _ms(end - start)


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)


def _labelled(rows: dict[str, int], choices: list[tuple[str, str]]) -> list[Tally]:
    """Counts in the order of ``choices`` (zeros included), then any unknown keys."""
    known = [Tally(key=k, label=label, count=rows.get(k, 0)) for k, label in choices]
    names = {k for k, _ in choices}
    extra = [Tally(key=k, label=k, count=n) for k, n in sorted(rows.items()) if k not in names]
    return known + extra


def dashboard_stats() -> DashboardStats:
    """Count conversations, messages, hand-offs and pipeline runs (five aggregate queries).

    Hand-offs are counted by each conversation's current ``handoff_reason`` (a conversation
    handed back to the bot no longer counts).

    Returns:
        The counters, breakdowns in the models' choice order.
    """
    by_status = {
        row["status"]: row["n"]
        for row in Conversation.objects.values("status").annotate(n=Count("pk")).order_by()
    }
    by_role = {
        row["role"]: row["n"]
        for row in Message.objects.values("role").annotate(n=Count("pk")).order_by()
    }
    handoffs = (
        Conversation.objects.exclude(handoff_reason="")
        .values("handoff_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "handoff_reason")
    )
    # The bot's own turns: copilot suggestions are for agents and would skew the approval rate.
    visitor_runs = PipelineRun.objects.filter(kind=PipelineRun.Kind.VISITOR)
    runs = {
        row["status"]: row["n"]
        for row in visitor_runs.values("status").annotate(n=Count("pk")).order_by()
    }
    ttft = visitor_runs.filter(first_token_at__isnull=False).aggregate(
        avg=Avg(F("first_token_at") - F("started_at"))
    )["avg"]
    answered = runs.get(PipelineRun.Status.COMPLETED, 0)
    reviewed = answered + runs.get(PipelineRun.Status.ESCALATED, 0)
    return DashboardStats(
        conversations_total=sum(by_status.values()),
        conversations_by_status=_labelled(by_status, Conversation.Status.choices),
        messages_by_role=_labelled(by_role, Message.Role.choices),
        handoffs_by_reason=[
            Tally(key=row["handoff_reason"], label=row["handoff_reason"], count=row["n"])
            for row in handoffs
        ],
        runs_by_status=_labelled(runs, PipelineRun.Status.choices),
        approval_rate=(answered / reviewed) if reviewed else None,
        avg_first_token_ms=_ms(ttft),
    )


def pipeline_run_list(*, limit: int = RECENT_TURNS_LIMIT) -> list[TurnRow]:
    """The most recent turns with per-stage durations summed over attempts (one query).

    Args:
        limit: How many turns at most.

    Returns:
        Rows, newest first.
    """
    sums = {
        f"{stage}_ms": Sum("steps__duration_ms", filter=Q(steps__stage=stage)) for stage in STAGES
    }
    runs = (
        PipelineRun.objects.select_related("question")
        .annotate(**sums)
        .order_by("-started_at", "-id")[:limit]
    )
    rows = []
    for run in runs:
        # Annotations are not on the model type; getattr keeps mypy honest without an ignore.
        stage_ms: dict[str, int | None] = {key: getattr(run, key) for key in sums}
        rows.append(
            TurnRow(
                id=run.pk,
                conversation_id=str(run.conversation_id),
                question=run.question.text[:QUESTION_PREVIEW_CHARS],
                kind=run.kind,
                status=run.status,
                verdict=run.verdict,
                reason=run.reason,
                started_at=run.started_at,
                first_token_ms=_between(run.started_at, run.first_token_at),
                retrieval_ms=stage_ms["retrieval_ms"],
                answering_ms=stage_ms["answering_ms"],
                review_ms=stage_ms["review_ms"],
                total_ms=_between(run.started_at, run.finished_at),
            )
        )
    return rows


def pipeline_run_trace(run_id: int) -> TurnTrace:
    """One turn's trace: the run with question, answer and conversation, and its steps in order.

    Args:
        run_id: The PipelineRun's id (the ``turn_id`` of websocket events).

    Returns:
        The trace (two queries).

    Raises:
        NotFound: No such run.
    """
    run = (
        PipelineRun.objects.select_related("question", "answer", "conversation")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise NotFound("No such turn.")
    steps = [
        StepView(
            stage=step.stage,
            attempt=step.attempt,
            status=step.status,
            model=step.model,
            worker=step.worker,
            started_at=step.started_at,
            duration_ms=step.duration_ms,
            error=step.error,
            input_json=_pretty(step.input),
            output_json=None if step.output is None else _pretty(step.output),
        )
        for step in run.steps.order_by("started_at", "id")
    ]
    return TurnTrace(
        run=run,
        question=run.question,
        answer=run.answer,
        conversation=run.conversation,
        first_token_ms=_between(run.started_at, run.first_token_at),
        total_ms=_between(run.started_at, run.finished_at),
        steps=steps,
    )


def pipeline_step_output(*, run_id: int, stage: str, attempt: int) -> dict[str, Any] | None:
    """The stored output message of one finished step, or None."""
    output: dict[str, Any] | None = (
        PipelineStep.objects.filter(run_id=run_id, stage=stage, attempt=attempt, status="done")
        .values_list("output", flat=True)
        .first()
    )
    return output


def pipeline_run_in_progress(conversation: Conversation) -> bool:
    """Tell whether a turn is running in ``conversation`` (then a new message waits for the next).

    Args:
        conversation: The caller should hold its row lock (select_for_update) when it acts on the
            answer, so that no turn starts or ends in between.
    """
    return PipelineRun.objects.filter(
        conversation=conversation, status=PipelineRun.Status.RUNNING, kind=PipelineRun.Kind.VISITOR
    ).exists()


def pipeline_run_pending_messages(run: PipelineRun) -> list[Message]:
    """The visitor messages sent after ``run``'s question that no turn has taken up yet.

    A turn answers its question and every visitor message before it since the previous turn,
    so a message is pending while no run's question is at or after it.

    Args:
        run: A run of the conversation, normally the one that just ended.

    Returns:
        The messages, oldest first (one query).
    """
    taken_up = PipelineRun.objects.filter(
        conversation_id=run.conversation_id,
        kind=PipelineRun.Kind.VISITOR,  # a suggestion for the agent answers nothing
        question_id__gte=OuterRef("pk"),
    )
    return list(
        Message.objects.filter(
            conversation_id=run.conversation_id,
            role=Message.Role.VISITOR,
            pk__gt=run.question_id,
        )
        .exclude(Exists(taken_up))
        .order_by("id")
    )


def pipeline_run_messages(run: PipelineRun) -> list[Message]:
    """The visitor messages ``run`` answers: its question and those since the previous turn's.

    What ``pipeline_start`` was given, for sending a run again whose dispatch was lost.

    Args:
        run: A run of the conversation.

    Returns:
        The messages, oldest first, the last being the run's question (two queries).
    """
    previous = (
        PipelineRun.objects.filter(
            conversation_id=run.conversation_id, kind=run.kind, question_id__lt=run.question_id
        )
        .order_by("-question_id")
        .values_list("question_id", flat=True)
        .first()
    )
    return list(
        Message.objects.filter(
            conversation_id=run.conversation_id,
            role=Message.Role.VISITOR,
            pk__gt=previous or 0,
            pk__lte=run.question_id,
        ).order_by("id")
    )


# A suggestion answers at most this many of the visitor's latest messages together.
COPILOT_MESSAGES_MAX = 5
# How far back to look for them (staff and system messages in between included).
COPILOT_LOOKBACK = 50


def copilot_messages(conversation: Conversation) -> list[Message]:
    """The visitor's latest messages, which a suggested reply answers: oldest first.

    The last visitor message and those right before it that no bot or agent reply separates
    (system notices do not separate them), at most ``COPILOT_MESSAGES_MAX``. Empty when the
    visitor wrote nothing (one query).
    """
    recent = Message.objects.filter(conversation=conversation).order_by("-id")[:COPILOT_LOOKBACK]
    block: list[Message] = []
    for message in recent:
        if message.role == Message.Role.VISITOR:
            block.append(message)
        elif block and message.role != Message.Role.SYSTEM:
            break
    return block[:COPILOT_MESSAGES_MAX][::-1]


def copilot_latest(conversation: Conversation) -> dict[str, Any]:
    """The conversation's latest copilot turn, for a console that (re)opens it (one query).

    Returns:
        ``{"turn_id", "status", "suggestion"}``; the suggestion is None while it is drafted, and
        everything is None when none was asked for.
    """
    run = (
        PipelineRun.objects.filter(conversation=conversation, kind=PipelineRun.Kind.COPILOT)
        .order_by("-started_at", "-id")
        .first()
    )
    if run is None:
        return {"turn_id": None, "status": None, "suggestion": None}
    return {"turn_id": run.pk, "status": run.status, "suggestion": run.suggestion}


@dataclass(frozen=True)
class RunProgress:
    """Where a running turn stands, for the sweeper."""

    run_id: int
    started_at: datetime
    # The last time a stage started or finished (the run's start when none has).
    last_progress_at: datetime
    step_running: bool


def pipeline_runs_running(*, started_before: datetime) -> list[RunProgress]:
    """Runs still running that started before ``started_before``, with their progress (one query).

    Args:
        started_before: Younger runs are left out (nothing can be stuck yet).
    """
    steps = PipelineStep.objects.filter(run_id=OuterRef("pk"))
    rows = (
        PipelineRun.objects.filter(status=PipelineRun.Status.RUNNING, started_at__lt=started_before)
        .annotate(
            last_started=Max("steps__started_at"),
            last_finished=Max("steps__finished_at"),
            step_running=Exists(steps.filter(status=PipelineStep.Status.RUNNING)),
        )
        .order_by("id")
    )
    return [
        RunProgress(
            run_id=r.pk,
            started_at=r.started_at,
            last_progress_at=max(
                t for t in (r.started_at, r.last_started, r.last_finished) if t is not None
            ),
            step_running=r.step_running,
        )
        for r in rows
    ]


def pipeline_run_conversation_id(run_id: int) -> str | None:
    """The conversation of a run (for the log lines of its watchdog), or None."""
    found = PipelineRun.objects.filter(pk=run_id).values_list("conversation_id", flat=True).first()
    return None if found is None else str(found)
