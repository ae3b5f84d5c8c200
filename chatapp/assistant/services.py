"""The turn pipeline on the web side: receive a visitor message, start a run, finish or fail it.

The worker side of each stage lives in ``chatapp.assistant.stages``; both record the trace here.
"""

from __future__ import annotations

import logging
import re
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.selectors import conversation_get, conversation_history
from chatapp.conversations.services import (
    bot_message_create,
    conversation_handoff,
    visitor_message_create,
)
from chatapp.realtime.broadcast import broadcast_now, broadcast_on_commit
from chatapp.realtime.events import AnswerDeltaEvent, AnswerDraftEvent, TurnCompletedEvent
from chatapp.realtime.groups import conversation_group, conversation_staff_group
from workers.inference.answerer import quote_for
from workers.messages import DraftAnswer, HistoryTurn, ReviewVerdict, StageMessage, TurnRequest

logger = logging.getLogger(__name__)

# "talk to a person", "speak with a human agent", "real person please", "representative"...
_HUMAN_REQUEST = re.compile(
    r"\b(talk|speak|chat|connect|transfer|put)\b.{0,30}\b(human|person|agent|someone|somebody|"
    r"representative|operator|people|staff)\b|\b(human|real person|live agent|representative|"
    r"operator)\b\s*(please|pls|now)?\s*[.!?]*\s*$",
    re.IGNORECASE,
)

NOTICE_HANDOFF_REQUEST = (
    "I'm connecting you with a person from our support team. They'll reply here."
)
NOTICE_ESCALATED = (
    "I'm not confident I can answer that correctly, so I've asked a person from our support "
    "team to help. They'll reply here."
)
NOTICE_FAILED = (
    "Sorry, something went wrong on our side while answering. A person from our support team "
    "will pick this up here; your message is saved."
)


def wants_human(text: str) -> bool:
    """Tell whether the visitor asks for a person rather than the bot."""
    return bool(_HUMAN_REQUEST.search(text))


def visitor_message_receive(
    *, conversation_id: str, text: str, client_msg_id: uuid.UUID | None
) -> tuple[Message, bool]:
    """Store a visitor's message first, then route it: hand-off, the bot pipeline, or agents only.

    Returns:
        The stored message and whether it is new (a resend returns the original, does nothing).
    """
    with transaction.atomic():
        conversation = conversation_get(conversation_id)
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        message, created = visitor_message_create(
            conversation=conversation, text=text, client_msg_id=client_msg_id
        )
        if not created or conversation.status != Conversation.Status.BOT:
            return message, created
        if wants_human(text):
            conversation_handoff(
                conversation=conversation,
                reason="visitor_request",
                detail="The visitor asked for a person.",
                notice=NOTICE_HANDOFF_REQUEST,
            )
        else:
            pipeline_start(conversation=conversation, message=message)
    return message, created


def pipeline_start(*, conversation: Conversation, message: Message) -> PipelineRun:
    """Create a run for ``message`` and, on commit, send it down retriever → answerer → reviewer."""
    run = PipelineRun.objects.create(conversation=conversation, question=message)
    request = TurnRequest(
        run_id=run.pk,
        conversation_id=str(conversation.pk),
        message_id=message.pk,
        question=message.text,
        knowledge_base_ids=sorted(conversation.knowledge_bases.values_list("pk", flat=True)),
        history=[HistoryTurn(role=role, text=text) for role, text in conversation_history(message)],
    )
    transaction.on_commit(lambda: _dispatch(request))
    return run


def _dispatch(request: TurnRequest) -> None:
    from celery import chain

    from workers.tasks.answering import generate_answer as generate_answer_task
    from workers.tasks.retrieval import retrieve_context as retrieve_context_task
    from workers.tasks.retrieval import turn_watchdog as turn_watchdog_task
    from workers.tasks.review import review_answer as review_answer_task

    try:
        chain(
            retrieve_context_task.s(request.model_dump(mode="json")),
            generate_answer_task.s(),
            review_answer_task.s(),
        ).apply_async()
        turn_watchdog_task.apply_async(
            (request.run_id,), countdown=settings.CHATAPP_TURN_DEADLINE_S
        )
    except Exception as exc:  # broker down: the message is stored; hand the turn to people
        logger.exception("could not dispatch run %s", request.run_id)
        pipeline_fail(run_id=request.run_id, stage="retrieval", error=f"dispatch failed: {exc}")


def revision_dispatch(*, draft: DraftAnswer, critique: str) -> None:
    """Send a draft back to the answerer with the reviewer's critique (then to review again)."""
    from celery import chain

    from workers.messages import RetrievalResult
    from workers.tasks.answering import generate_answer as generate_answer_task
    from workers.tasks.review import review_answer as review_answer_task

    retrieval = RetrievalResult(
        run_id=draft.run_id,
        conversation_id=draft.conversation_id,
        question=draft.question,
        passages=draft.passages,
        history=draft.history,
    )
    chain(
        generate_answer_task.s(
            retrieval.model_dump(mode="json"), critique=critique, attempt=draft.attempt + 1
        ),
        review_answer_task.s(),
    ).apply_async()


# --- The trace ---------------------------------------------------------------------------------


def step_begin(
    *, run_id: int, stage: str, attempt: int, payload: StageMessage, model: str, worker: str = ""
) -> tuple[PipelineStep, bool]:
    """Record that a stage started on ``payload``.

    Returns:
        The step and whether it must run (False: it already finished, e.g. a redelivered task).
    """
    step, _ = PipelineStep.objects.get_or_create(
        run_id=run_id,
        stage=stage,
        attempt=attempt,
        defaults={"input": payload.model_dump(mode="json"), "model": model, "worker": worker},
    )
    return step, step.status != PipelineStep.Status.DONE


def step_finish(*, step: PipelineStep, output: StageMessage) -> None:
    """Store a stage's output before it is handed on."""
    now = timezone.now()
    step.output = output.model_dump(mode="json")
    step.status = PipelineStep.Status.DONE
    step.finished_at = now
    step.duration_ms = int((now - step.started_at).total_seconds() * 1000)
    step.save(update_fields=["output", "status", "finished_at", "duration_ms"])


def run_is_live(run_id: int) -> bool:
    """A run may still talk to the visitor: running, and the bot still owns the conversation."""
    return PipelineRun.objects.filter(
        pk=run_id,
        status=PipelineRun.Status.RUNNING,
        conversation__status=Conversation.Status.BOT,
    ).exists()


def answer_delta(*, run_id: int, conversation_id: str, text: str, attempt: int) -> None:
    """Stream an approved sentence to the visitor (not stored here: the finished answer is).

    Callers pass only text the reviewer approved; ``first_token_at`` is thus the time the
    visitor first saw something of the answer.
    """
    PipelineRun.objects.filter(pk=run_id, first_token_at=None).update(first_token_at=timezone.now())
    broadcast_now(
        conversation_group(conversation_id),
        AnswerDeltaEvent(turn_id=run_id, text=text, attempt=attempt),
    )


def answer_draft(*, run_id: int, conversation_id: str, text: str, attempt: int) -> None:
    """Stream a piece of the raw, unreviewed draft to the conversation's staff sockets only."""
    broadcast_now(
        conversation_staff_group(conversation_id),
        AnswerDraftEvent(turn_id=run_id, text=text, attempt=attempt),
    )


def _finish_run(run: PipelineRun, *, status: str, verdict: str, reason: str, detail: str) -> None:
    run.status = status
    run.verdict = verdict
    run.reason = reason
    run.detail = detail
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "verdict", "reason", "detail", "finished_at", "answer"])


def _outcome(run: PipelineRun, outcome: str) -> None:
    broadcast_on_commit(
        conversation_group(run.conversation_id),
        TurnCompletedEvent(turn_id=run.pk, outcome=outcome),
    )


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
    if conversation.status != Conversation.Status.BOT:
        _finish_run(
            run,
            status=PipelineRun.Status.SUPERSEDED,
            verdict=verdict.verdict,
            reason="agent_took_over",
            detail="",
        )
        _outcome(run, "superseded")
        return run
    text = draft.released if draft.gated else draft.text
    if verdict.verdict == "approved":
        review: dict[str, object] = {
            "verdict": "revised" if draft.attempt > 0 else "approved",
            "confidence": round(verdict.confidence, 3),
        }
        run.answer = bot_message_create(
            conversation=conversation,
            text=text,
            citations=_citations(draft, verdict),
            review=review,
            turn_id=run.pk,
        )
        _finish_run(
            run,
            status=PipelineRun.Status.COMPLETED,
            verdict=str(review["verdict"]),
            reason=verdict.reason,
            detail="",
        )
        _outcome(run, "answered")
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
    conversation_handoff(
        conversation=conversation,
        reason=verdict.reason or "escalated",
        detail=verdict.critique or verdict.reason,
        notice=NOTICE_ESCALATED,
    )
    _finish_run(
        run,
        status=PipelineRun.Status.ESCALATED,
        verdict="escalated",
        reason=verdict.reason,
        detail=verdict.critique,
    )
    _outcome(run, "escalated")
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
    if conversation.status == Conversation.Status.BOT:
        conversation_handoff(
            conversation=conversation,
            reason="pipeline_failed",
            detail=f"The {stage} stage failed: {error[:300]}",
            notice=NOTICE_FAILED,
        )
    _finish_run(
        run,
        status=PipelineRun.Status.FAILED,
        verdict="",
        reason="pipeline_failed",
        detail=f"{stage}: {error[:1000]}",
    )
    _outcome(run, "failed")
    return run
