"""The web side of the bot: receive a visitor message, and the trace the stages write.

The turn's life (start, revise, complete, fail) is ``chatapp.assistant.turn``; the worker side of
each stage lives in ``chatapp.assistant.stages``.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chatapp.accounts import permissions
from chatapp.accounts.models import User
from chatapp.assistant.copilot import copilot_delta, run_is_copilot
from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.assistant.selectors import copilot_messages, pipeline_run_in_progress
from chatapp.assistant.turn import NOTICE_HANDOFF_REQUEST, pipeline_fail, pipeline_start
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.selectors import conversation_get
from chatapp.conversations.services import conversation_handoff, visitor_message_create
from chatapp.core.errors import ApplicationError, Conflict
from chatapp.observability import metrics
from chatapp.realtime.broadcast import broadcast_now
from chatapp.realtime.events import AnswerDeltaEvent, AnswerDraftEvent
from chatapp.realtime.groups import conversation_group, conversation_staff_group
from workers.messages import StageMessage, TurnReason

logger = logging.getLogger(__name__)

# The watchdog normally ends a turn at its deadline; past this much more, it was lost too.
STALE_GRACE_S = 60
ERR_STALE_TURN = "the turn outlived its deadline: its worker and its watchdog were lost"

# "talk to a person", "speak with a human agent", "real person please", "representative"...
_HUMAN_REQUEST = re.compile(
    r"\b(talk|speak|chat|connect|transfer|put)\b.{0,30}\b(human|person|agent|someone|somebody|"
    r"representative|operator|people|staff)\b|\b(human|real person|live agent|representative|"
    r"operator)\b\s*(please|pls|now)?\s*[.!?]*\s*$",
    re.IGNORECASE,
)


def wants_human(text: str) -> bool:
    """Tell whether the visitor asks for a person rather than the bot."""
    return bool(_HUMAN_REQUEST.search(text))


def visitor_message_receive(
    *, conversation_id: str, text: str, client_msg_id: uuid.UUID | None
) -> tuple[Message, bool]:
    """Store a visitor's message first, then route it: hand-off, the bot pipeline, or agents only.

    One turn at a time: a message that arrives while a turn runs starts none; the running turn's
    end starts the next one with it (``pipeline_start_pending``).

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
                reason=TurnReason.VISITOR_REQUEST,
                detail="The visitor asked for a person.",
                notice=NOTICE_HANDOFF_REQUEST,
            )
        elif not pipeline_run_in_progress(conversation):
            pipeline_start(conversation=conversation, messages=[message])
            return message, created
    _end_stale_turns(conversation_id=str(conversation.pk))
    return message, created


def _end_stale_turns(*, conversation_id: str) -> None:
    """End a turn still running long past its deadline (its chain and watchdog were both lost).

    Without this, one lost turn would keep every later message of the conversation waiting for
    a turn that never ends. Run after the message is stored, in its own transaction, so the
    locks are taken in the order every turn end takes them (run, then conversation).
    """
    limit = timezone.now() - timedelta(seconds=settings.CHATAPP_TURN_DEADLINE_S + STALE_GRACE_S)
    stale = PipelineRun.objects.filter(
        conversation_id=conversation_id, status=PipelineRun.Status.RUNNING, started_at__lt=limit
    ).values_list("pk", flat=True)
    for run_id in list(stale):
        logger.warning("ending run %s: it outlived its deadline", run_id)
        pipeline_fail(run_id=run_id, stage="deadline", error=ERR_STALE_TURN)


# --- Copilot -----------------------------------------------------------------------------------

ERR_NOT_HELD = "Suggested replies are for a conversation an agent holds."
ERR_NOTHING_TO_ANSWER = "The visitor has not written anything to answer yet."
ERR_COPILOT_REFUSED = "A suggestion could not be started; try again."


def copilot_request(*, conversation_id: str, by: User) -> PipelineRun:
    """Start a copilot turn: the stages draft a reply to the visitor's latest messages for staff.

    Nothing of it reaches the visitor, and it neither waits for nor blocks the visitor's turns
    (the conversation is with an agent, so there are none). Asking while one is being drafted
    returns that one.

    Raises:
        PermissionDenied: ``by`` neither holds the conversation nor is an admin.
        Conflict: ``closed`` or ``not_assigned`` (no agent holds it).
        ApplicationError: ``nothing_to_answer`` (400): the visitor has written nothing.
    """
    with transaction.atomic():
        conversation = conversation_get(conversation_id)
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        permissions.require(
            permissions.Action.COPILOT_SUGGEST, by, holder_id=conversation.assignee_id
        )
        if conversation.status == Conversation.Status.CLOSED:
            raise Conflict("closed", "The conversation is closed.")
        if conversation.status != Conversation.Status.ASSIGNED:
            raise Conflict("not_assigned", ERR_NOT_HELD)
        running = PipelineRun.objects.filter(
            conversation=conversation,
            kind=PipelineRun.Kind.COPILOT,
            status=PipelineRun.Status.RUNNING,
        ).first()
        if running is not None:
            return running
        messages = copilot_messages(conversation)
        if not messages:
            raise ApplicationError("nothing_to_answer", ERR_NOTHING_TO_ANSWER)
        run = pipeline_start(
            conversation=conversation, messages=messages, kind=PipelineRun.Kind.COPILOT
        )
        if run is None:  # a concurrent request started one between our check and insert
            raise Conflict("copilot_busy", ERR_COPILOT_REFUSED)
        return run


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
    metrics.stage_finished(step.stage, step.duration_ms / 1000)


def run_is_live(run_id: int) -> bool:
    """A run may still talk: running, and the bot still owns the conversation (a visitor turn).

    A copilot turn drafts for the agent holding the conversation, so it only has to be running.
    """
    return PipelineRun.objects.filter(
        Q(kind=PipelineRun.Kind.COPILOT) | Q(conversation__status=Conversation.Status.BOT),
        pk=run_id,
        status=PipelineRun.Status.RUNNING,
    ).exists()


def answer_delta(
    *, run_id: int, conversation_id: str, text: str, attempt: int, stream: str = ""
) -> None:
    """Stream an approved sentence to the visitor (not stored here: the finished answer is).

    Callers pass only text the reviewer approved; ``first_token_at`` is thus the time the
    visitor first saw something of the answer.
    """
    PipelineRun.objects.filter(pk=run_id, first_token_at=None).update(first_token_at=timezone.now())
    if run_is_copilot(run_id):  # a suggestion: to staff, never to the visitor
        copilot_delta(
            run_id=run_id,
            conversation_id=conversation_id,
            text=text,
            attempt=attempt,
            stream=stream,
        )
        return
    broadcast_now(
        conversation_group(conversation_id),
        AnswerDeltaEvent(turn_id=run_id, text=text, attempt=attempt, stream=stream),
    )


def answer_draft(
    *, run_id: int, conversation_id: str, text: str, attempt: int, stream: str = ""
) -> None:
    """Stream a piece of the raw, unreviewed draft to the conversation's staff sockets only.

    Not for a copilot turn: the console shows a suggestion's reviewed sentences, not its draft.
    """
    if run_is_copilot(run_id):
        return
    broadcast_now(
        conversation_staff_group(conversation_id),
        AnswerDraftEvent(turn_id=run_id, text=text, attempt=attempt, stream=stream),
    )
