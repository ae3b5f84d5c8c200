"""Answering queue: write a grounded draft, streamed to the visitor."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from workers.tasks.base import StageTask


@shared_task(base=StageTask, bind=True, stage="answering")
def generate_answer(
    self: StageTask, payload: dict[str, Any], critique: str | None = None, attempt: int = 0
) -> dict[str, Any]:
    """RetrievalResult (+ critique) → DraftAnswer."""
    from chatapp.assistant.runtime import answer_generator, review_generator
    from chatapp.assistant.stages import answer_run
    from workers.messages import RetrievalResult

    retrieval = RetrievalResult.model_validate(payload)  # refuse a bad hand-over before loading
    draft = answer_run(
        retrieval,
        generator=answer_generator(),
        judge=review_generator(),  # reviews each sentence before the visitor sees it
        attempt=attempt,
        critique=critique,
    )
    return draft.model_dump(mode="json")
