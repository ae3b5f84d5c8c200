"""The turn: one module owns its life, as a state machine over ``PipelineRun.Status``.

    RUNNING --answer posted--> COMPLETED
    RUNNING --reviewer escalated / nothing relevant / policy--> ESCALATED
    RUNNING --a stage failed or the deadline passed--> FAILED
    RUNNING --an agent took over--> SUPERSEDED

Every end goes through ``_turn_end``, which refuses any other transition, stores the reason as a
``TurnReason``, tells the visitor (``turn.completed``) and starts the next turn when messages
arrived meanwhile. A copilot turn (``PipelineRun.Kind.COPILOT``: a reply suggested to the agent
holding the conversation) runs the same stages, but its end only tells staff
(``chatapp.assistant.copilot``): no bot message, no hand-off, no next turn. The stages run in
the workers (``chatapp.assistant.stages``) and are sent by task name (``chatapp.core.tasks``), so
nothing here imports ``workers.tasks``.

Stage messages may arrive twice (a pool process lost mid-stage puts its message back; the sweeper
sends a stalled turn again), so every step of a turn is idempotent: a finished stage hands on its
stored output without running again, a turn ends once (``_turn_end`` under the row lock), a
revision is sent once, and a message for a turn that already ended does nothing
(``turn_is_running``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chatapp.assistant.copilot import copilot_announce, copilot_suggestion_data
from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.assistant.selectors import (
    pipeline_run_messages,
    pipeline_run_pending_messages,
    pipeline_runs_running,
)
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.selectors import conversation_history
from chatapp.conversations.services import bot_message_create, conversation_handoff
from chatapp.core.tasks import (
    GENERATE_ANSWER,
    RETRIEVE_CONTEXT,
    REVIEW_ANSWER,
    TURN_QUEUES,
    TURN_WATCHDOG,
    queue_lengths,
    task_signature,
)
from chatapp.observability import metrics
from chatapp.realtime.broadcast import broadcast_on_commit
from chatapp.realtime.events import TurnCompletedEvent
from chatapp.realtime.groups import conversation_group
from workers.inference.answerer import quote_for
from workers.messages import (
    DraftAnswer,
    HistoryTurn,
    RetrievalResult,
    ReviewVerdict,
    TurnReason,
    TurnRequest,
    Verdict,
)

logger = logging.getLogger(__name__)

Status = PipelineRun.Status
# The only moves a turn makes; a run that ended stays ended (a redelivered task finds it so).
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.RUNNING: frozenset(
        {Status.COMPLETED, Status.ESCALATED, Status.FAILED, Status.SUPERSEDED}
    ),
}
OUTCOMES: dict[str, str] = {
    Status.COMPLETED: "answered",
    Status.ESCALATED: "escalated",
    Status.FAILED: "failed",
    Status.SUPERSEDED: "superseded",
}
ERR_TRANSITION = "turn {run} cannot go from {old} to {new}"


class TurnTransitionError(Exception):
    """A turn was asked to move in a way the state machine does not allow (a code bug)."""


NOTICE_HANDOFF_REQUEST = (
    "I'm connecting you with a person from our support team. They'll reply here."
)
NOTICE_ESCALATED = (
    "I'm not confident I can answer that correctly, so I've asked a person from our support "
    "team to help. They'll reply here."
)
NOTICE_PARTLY_UNANSWERED = (
    "I couldn't find an answer to the rest of your question, so I've asked a person from our "
    "support team to help with it. They'll reply here."
)
NOTICE_FAILED = (
    "Sorry, something went wrong on our side while answering. A person from our support team "
    "will pick this up here; your message is saved."
)


def pipeline_start(
    *,
    conversation: Conversation,
    messages: Sequence[Message],
    kind: str = PipelineRun.Kind.VISITOR,
) -> PipelineRun | None:
    """Create a run answering ``messages`` together; on commit, send it down the three stages.

    The stages (retriever → answerer → reviewer) get the texts joined, one per line, as the
    question, and the conversation's other recent messages as history.

    Args:
        conversation: Caller must hold its row lock (select_for_update) and have checked that no
            turn is running in it (``pipeline_run_in_progress``).
        messages: The visitor messages to answer, oldest first; the last is the run's question.
        kind: A visitor turn, or a copilot turn (a suggestion for staff only).

    Returns:
        The run, or None when the database refused it: a turn of this kind is already running in
        the conversation, or the question already had a visitor turn (nothing starts; the
        messages stay stored).
    """
    question = messages[-1]
    try:
        with transaction.atomic():
            run = PipelineRun.objects.create(
                conversation=conversation, question=question, kind=kind
            )
    except IntegrityError:  # a caller without the lock, or with a stale check: keep one turn
        logger.warning("no run started for message %s in %s", question.pk, conversation.pk)
        return None
    request = _turn_request(run, conversation, messages)
    transaction.on_commit(lambda: _dispatch(request))
    logger.info("turn started", extra={"turn_id": run.pk, "conversation_id": str(conversation.pk)})
    return run


def _turn_request(
    run: PipelineRun, conversation: Conversation, messages: Sequence[Message]
) -> TurnRequest:
    return TurnRequest(
        run_id=run.pk,
        conversation_id=str(conversation.pk),
        message_id=messages[-1].pk,
        question="\n".join(m.text for m in messages),
        knowledge_base_ids=sorted(conversation.knowledge_bases.values_list("pk", flat=True)),
        history=[
            HistoryTurn(role=role, text=text)
            for role, text in conversation_history(conversation, exclude=[m.pk for m in messages])
        ],
    )


def pipeline_start_pending(*, conversation: Conversation, after: PipelineRun) -> PipelineRun | None:
    """Start the next turn when a turn ends: it answers what the visitor sent meanwhile, together.

    Nothing starts when the conversation left the bot (the turn handed off, or an agent took
    over): people answer those messages now.

    Args:
        conversation: ``after``'s conversation; caller must hold its row lock (select_for_update).
        after: The run that just ended (no longer running).

    Returns:
        The new run, or None when nothing was pending or the bot no longer answers.
    """
    if conversation.status != Conversation.Status.BOT:
        return None
    pending = pipeline_run_pending_messages(after)
    if not pending:
        return None
    return pipeline_start(conversation=conversation, messages=pending)


def _dispatch(request: TurnRequest, *, deadline_in_s: float | None = None) -> None:
    from celery import chain

    try:
        chain(
            task_signature(RETRIEVE_CONTEXT, request.model_dump(mode="json")),
            task_signature(GENERATE_ANSWER),
            task_signature(REVIEW_ANSWER),
        ).apply_async()
        task_signature(TURN_WATCHDOG, request.run_id).apply_async(
            countdown=settings.CHATAPP_TURN_DEADLINE_S if deadline_in_s is None else deadline_in_s
        )
    except Exception as exc:  # broker down: the message is stored; hand the turn to people
        logger.exception("could not dispatch run %s", request.run_id)
        pipeline_fail(run_id=request.run_id, stage="retrieval", error=f"dispatch failed: {exc}")


def turn_is_running(run_id: int) -> bool:
    """Tell whether a turn still runs; a stage message for an ended turn is dropped unread."""
    return PipelineRun.objects.filter(pk=run_id, status=PipelineRun.Status.RUNNING).exists()


def revision_dispatch(*, draft: DraftAnswer, critique: str) -> None:
    """Send a draft back to the answerer with the reviewer's critique (then to review again).

    A review delivered again (its worker was lost after deciding) sends nothing while the
    rewrite is being written; a finished rewrite is sent again harmlessly (it hands on its stored
    draft), which lets the sweeper resume a turn whose rewrite's review was lost.
    """
    from celery import chain

    fresh = timezone.now() - timedelta(seconds=settings.CHATAPP_STAGE_HARD_LIMIT_S)
    if PipelineStep.objects.filter(
        run_id=draft.run_id,
        stage=PipelineStep.Stage.ANSWERING,
        attempt=draft.attempt + 1,
        status=PipelineStep.Status.RUNNING,
        started_at__gt=fresh,
    ).exists():
        logger.info("rewrite %s of run %s is being written", draft.attempt + 1, draft.run_id)
        return
    retrieval = RetrievalResult(
        run_id=draft.run_id,
        conversation_id=draft.conversation_id,
        question=draft.question,
        passages=draft.passages,
        history=draft.history,
        parts=draft.parts,
    )
    chain(
        task_signature(
            GENERATE_ANSWER,
            retrieval.model_dump(mode="json"),
            critique=critique,
            attempt=draft.attempt + 1,
        ),
        task_signature(REVIEW_ANSWER),
    ).apply_async()


def _turn_end(
    run: PipelineRun,
    conversation: Conversation,
    *,
    status: str,
    verdict: str,
    reason: TurnReason,
    detail: str,
) -> None:
    """Move a running turn to its end state, tell the visitor, and start the next turn.

    Args:
        run: The turn; caller holds its row lock.
        conversation: Its conversation; caller holds its row lock.
        status: The end state (``TRANSITIONS``).
        verdict: The review label stored with the run ("approved", "revised", "escalated", "").
        reason: Why it ended so.
        detail: More for staff (the critique, the error).

    Raises:
        TurnTransitionError: ``status`` is not reachable from the run's state.
    """
    if status not in TRANSITIONS.get(run.status, frozenset()):
        raise TurnTransitionError(ERR_TRANSITION.format(run=run.pk, old=run.status, new=status))
    run.status = status
    run.verdict = verdict
    run.reason = TurnReason(reason)
    run.detail = detail
    run.finished_at = timezone.now()
    run.save(
        update_fields=[
            "status",
            "verdict",
            "reason",
            "detail",
            "finished_at",
            "answer",
            "suggestion",
        ]
    )
    if run.kind == PipelineRun.Kind.COPILOT:  # staff only; the visitor's turns are not its business
        copilot_announce(run)
        return
    metrics.turn_ended(OUTCOMES[status])
    if run.first_token_at is not None:  # observed at the end: no query on the streaming path
        metrics.first_token((run.first_token_at - run.started_at).total_seconds())
    broadcast_on_commit(
        conversation_group(run.conversation_id),
        TurnCompletedEvent(turn_id=run.pk, outcome=OUTCOMES[status]),
    )
    pipeline_start_pending(conversation=conversation, after=run)


def _citations(draft: DraftAnswer, verdict: ReviewVerdict) -> list[dict[str, object]]:
    """The draft's citations, plus any passage the reviewer found a claim resting on."""
    by_ref = {p.ref: p for p in draft.passages}
    cited = {c.ref for c in draft.citations}
    found = [
        ref
        for claim in verdict.claims
        if claim.released  # a refused sentence never reached the visitor: nothing to cite
        for ref in claim.refs
        if ref in by_ref and ref not in cited
    ]
    extra = [
        {
            "ref": ref,
            "document_id": by_ref[ref].document_id,
            "chunk_id": by_ref[ref].chunk_id,
            "title": by_ref[ref].title,
            "quote": quote_for(by_ref[ref].text, draft.released if draft.gated else draft.text),
        }
        for ref in dict.fromkeys(found)
    ]
    return [
        {
            "document_id": c["document_id"],
            "chunk_id": c["chunk_id"],
            "title": c["title"],
            "quote": c["quote"],
            "source_url": by_ref[c["ref"]].source_url if c["ref"] in by_ref else "",
        }
        for c in [c.model_dump() for c in draft.citations] + extra
    ]


@transaction.atomic
def pipeline_complete(*, draft: DraftAnswer, verdict: ReviewVerdict) -> PipelineRun:
    """Act on the reviewer's final verdict: post the answer, or hand off with the reason."""
    run = PipelineRun.objects.select_for_update().get(pk=draft.run_id)
    if run.status != PipelineRun.Status.RUNNING:
        return run  # already failed by the watchdog, or finished by a redelivered task
    conversation = Conversation.objects.select_for_update().get(pk=run.conversation_id)
    if run.kind == PipelineRun.Kind.COPILOT:
        return _copilot_complete(run, conversation, draft=draft, verdict=verdict)
    if conversation.status != Conversation.Status.BOT:
        _turn_end(
            run,
            conversation,
            status=Status.SUPERSEDED,
            verdict=verdict.verdict,
            reason=TurnReason.AGENT_TOOK_OVER,
            detail="",
        )
        return run
    text = draft.released if draft.gated else draft.text
    if verdict.verdict == Verdict.APPROVED:
        review: dict[str, object] = {
            "verdict": "revised" if draft.attempt > 0 else "approved",
            "confidence": round(verdict.confidence, 3),
        }
        if draft.clarifying:  # a question back, not a checked answer: no review badge
            review = {}
        run.answer = bot_message_create(
            conversation=conversation,
            text=text,
            citations=_citations(draft, verdict),
            review=review,
            turn_id=run.pk,
        )
        if draft.unanswered:  # answered what the knowledge covers; people take the rest
            conversation_handoff(
                conversation=conversation,
                reason=TurnReason.PARTLY_UNANSWERED,
                detail="Nothing relevant was found for: " + " | ".join(draft.unanswered),
                notice=NOTICE_PARTLY_UNANSWERED,
            )
        _turn_end(
            run,
            conversation,
            status=Status.COMPLETED,
            verdict=str(review.get("verdict", Verdict.APPROVED)),
            reason=verdict.reason,
            detail="",
        )
        return run
    if draft.gated and any(c.claim and c.released for c in draft.checks):
        # The visitor already saw these approved sentences: the transcript keeps them, marked
        # as cut short, before the hand-off notice.
        run.answer = bot_message_create(
            conversation=conversation,
            text=text,
            citations=_citations(draft, verdict),
            review={"verdict": "escalated", "confidence": round(verdict.confidence, 3)},
            turn_id=run.pk,
        )
    reason = verdict.reason or TurnReason.UNSUPPORTED_ANSWER
    conversation_handoff(
        conversation=conversation,
        reason=reason,
        detail=verdict.critique or reason,
        notice=NOTICE_ESCALATED,
    )
    _turn_end(
        run,
        conversation,
        status=Status.ESCALATED,
        verdict=Verdict.ESCALATED,
        reason=reason,
        detail=verdict.critique,
    )
    return run


def _copilot_complete(
    run: PipelineRun, conversation: Conversation, *, draft: DraftAnswer, verdict: ReviewVerdict
) -> PipelineRun:
    """Keep the reviewed suggestion on the run; an escalation only means "no confident reply"."""
    approved = verdict.verdict == Verdict.APPROVED
    label = ("revised" if draft.attempt > 0 else "approved") if approved else Verdict.ESCALATED
    reason = verdict.reason if approved else verdict.reason or TurnReason.UNSUPPORTED_ANSWER
    if approved and draft.unanswered and not verdict.reason:  # the agent answers the rest
        reason = TurnReason.PARTLY_UNANSWERED
    run.suggestion = copilot_suggestion_data(
        text=(draft.released if draft.gated else draft.text) if approved else "",
        citations=_citations(draft, verdict) if approved else [],
        verdict=label,
        reason=reason,
    )
    _turn_end(
        run,
        conversation,
        status=Status.COMPLETED if approved else Status.ESCALATED,
        verdict=label,
        reason=reason,
        detail="" if approved else verdict.critique,
    )
    return run


@transaction.atomic
def pipeline_fail(*, run_id: int, stage: str, error: str) -> PipelineRun | None:
    """End a run whose stage failed or timed out: trace it, tell the visitor, hand off to people."""
    run = PipelineRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.status != PipelineRun.Status.RUNNING:
        return run
    now = timezone.now()
    PipelineStep.objects.filter(run=run, status=PipelineStep.Status.RUNNING).update(
        status=PipelineStep.Status.FAILED, error=error[:2000], finished_at=now
    )
    if not PipelineStep.objects.filter(run=run, stage=stage).exists():
        PipelineStep.objects.create(
            run=run,
            stage=stage,
            status=PipelineStep.Status.FAILED,
            error=error[:2000],
            finished_at=now,
        )
    conversation = Conversation.objects.select_for_update().get(pk=run.conversation_id)
    if run.kind == PipelineRun.Kind.COPILOT:  # the agent already holds it: nothing to hand off
        run.suggestion = copilot_suggestion_data(
            text="", citations=[], verdict="failed", reason=TurnReason.PIPELINE_FAILED
        )
    elif conversation.status == Conversation.Status.BOT:
        conversation_handoff(
            conversation=conversation,
            reason=TurnReason.PIPELINE_FAILED,
            detail=f"The {stage} stage failed: {error[:300]}",
            notice=NOTICE_FAILED,
        )
    _turn_end(
        run,
        conversation,
        status=Status.FAILED,
        verdict="",
        reason=TurnReason.PIPELINE_FAILED,
        detail=f"{stage}: {error[:1000]}",
    )
    return run


# --- The sweeper -------------------------------------------------------------------------------

# The watchdog ends a turn at its deadline; the sweeper ends what is left this much later (the
# watchdog's message was lost: a Redis restart, a worker lost holding it).
SWEEP_GRACE_S = 30
ERR_LOST_DEADLINE = "the turn outlived its deadline and its watchdog was lost"


@dataclass
class TurnSweep:
    """What one sweep did: runs ended past their deadline and stalled runs sent again."""

    ended: list[int] = field(default_factory=list)
    redispatched: list[int] = field(default_factory=list)


def pipeline_sweep(*, now: datetime | None = None) -> TurnSweep:
    """End the turns stuck past their deadline; send again those whose messages were lost.

    A running turn is stalled when no stage started or finished for ``CHATAPP_TURN_STALL_S``
    (plus the stage hard limit while a step is marked running: its worker may still write) and
    no turn queue holds a message: its chain was lost between commit and broker, or with a
    Redis restart. Sent again, its finished stages hand on their stored output and the first
    unfinished one runs; the watchdog keeps the original deadline.

    Args:
        now: The time to judge by (tests); the current time by default.

    Returns:
        The runs ended and the runs sent again.
    """
    now = now or timezone.now()
    deadline = timedelta(seconds=settings.CHATAPP_TURN_DEADLINE_S)
    stall = timedelta(seconds=settings.CHATAPP_TURN_STALL_S)
    hard_limit = timedelta(seconds=settings.CHATAPP_STAGE_HARD_LIMIT_S)
    sweep = TurnSweep()
    stalled = []
    for progress in pipeline_runs_running(started_before=now - stall):
        if progress.started_at < now - deadline - timedelta(seconds=SWEEP_GRACE_S):
            logger.warning("sweeper ends run %s: past its deadline", progress.run_id)
            pipeline_fail(run_id=progress.run_id, stage="deadline", error=ERR_LOST_DEADLINE)
            sweep.ended.append(progress.run_id)
        elif progress.last_progress_at < now - stall - (
            hard_limit if progress.step_running else timedelta(0)
        ):
            stalled.append(progress)
    if stalled and _turn_queues_idle():
        for progress in stalled:
            remaining = (progress.started_at + deadline - now).total_seconds()
            if _redispatch(progress.run_id, deadline_in_s=max(1.0, remaining)):
                sweep.redispatched.append(progress.run_id)
    return sweep


def _turn_queues_idle() -> bool:
    """No turn queue holds a message (a stalled run's message is not merely waiting its turn)."""
    try:
        return not any(queue_lengths(TURN_QUEUES).values())
    except Exception:  # broker unreachable: send nothing now; the next sweep looks again
        logger.exception("sweeper could not read the queue lengths")
        return False


def _redispatch(run_id: int, *, deadline_in_s: float) -> bool:
    """Send a stalled run down the stages again, with the request its first dispatch had."""
    run = PipelineRun.objects.select_related("conversation").filter(pk=run_id).first()
    if run is None or run.status != PipelineRun.Status.RUNNING:
        return False
    first = (
        PipelineStep.objects.filter(run=run, stage=PipelineStep.Stage.RETRIEVAL, attempt=0)
        .values_list("input", flat=True)
        .first()
    )
    if first:
        request = TurnRequest.model_validate(first)
    else:
        messages = pipeline_run_messages(run)
        if not messages:  # its question was deleted with the conversation's history
            return False
        request = _turn_request(run, run.conversation, messages)
    logger.warning("sweeper sends stalled run %s again", run_id)
    _dispatch(request, deadline_in_s=deadline_in_s)
    return True
