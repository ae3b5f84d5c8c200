"""Review queue: check a draft, then approve, send back, or escalate."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from workers.tasks.base import StageTask


@shared_task(base=StageTask, bind=True, stage="review")
def review_answer(self: StageTask, payload: dict[str, Any]) -> dict[str, Any]:
    """DraftAnswer → ReviewVerdict (and the turn's outcome)."""
    from chatapp.assistant.runtime import review_generator
    from chatapp.assistant.stages import review_run
    from workers.messages import DraftAnswer

    draft = DraftAnswer.model_validate(payload)  # refuse a bad hand-over before loading the model
    verdict = review_run(draft, generator=review_generator())
    return verdict.model_dump(mode="json")
