"""Copilot turns: what reaches staff, and only staff, while the stages draft a suggested reply.

A copilot turn is a ``PipelineRun`` of kind ``copilot``. It runs the visitor turn's stages
(``chatapp.assistant.turn``) unchanged; the few places where a turn speaks call in here instead
when the run is a copilot one, so everything it says goes to the conversation's staff group.
"""

from __future__ import annotations

from typing import Any

from chatapp.assistant.models import PipelineRun
from chatapp.realtime.broadcast import broadcast_now, broadcast_on_commit
from chatapp.realtime.events import CopilotDeltaEvent, CopilotSuggestionEvent
from chatapp.realtime.groups import conversation_staff_group


def run_is_copilot(run_id: int) -> bool:
    """Tell whether a run drafts a suggestion for staff (its stream must not reach visitors)."""
    return PipelineRun.objects.filter(pk=run_id, kind=PipelineRun.Kind.COPILOT).exists()


def copilot_suggestion_data(
    *, text: str, citations: list[dict[str, Any]], verdict: str, reason: str
) -> dict[str, Any]:
    """The suggestion as stored on the run and sent in ``copilot.suggestion`` (less turn_id)."""
    return {"text": text, "citations": citations, "verdict": verdict, "reason": str(reason)}


def copilot_event(run: PipelineRun) -> CopilotSuggestionEvent:
    """The ``copilot.suggestion`` event of an ended copilot run."""
    data = run.suggestion or copilot_suggestion_data(
        text="", citations=[], verdict="failed", reason=run.reason
    )
    return CopilotSuggestionEvent(turn_id=run.pk, **data)


def copilot_announce(run: PipelineRun) -> None:
    """Tell the conversation's staff sockets that a copilot run ended (on commit)."""
    broadcast_on_commit(conversation_staff_group(run.conversation_id), copilot_event(run))


def copilot_delta(
    *, run_id: int, conversation_id: str, text: str, attempt: int, stream: str = ""
) -> None:
    """Stream a reviewed sentence of a suggestion to the conversation's staff sockets."""
    broadcast_now(
        conversation_staff_group(conversation_id),
        CopilotDeltaEvent(turn_id=run_id, text=text, attempt=attempt, stream=stream),
    )
