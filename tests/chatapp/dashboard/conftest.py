"""Fixtures for the dashboard views: users by role and a finished turn with its trace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatapp.assistant.models import PipelineRun, PipelineStep
from chatapp.conversations.models import Message
from tests.factories.conversations import make_conversation


@pytest.fixture
def make_turn(db):
    """A completed turn: question, answer, and one step per stage (durations in ms)."""

    def make(question: str = "How long do refunds take?", answering_ms: int = 900) -> PipelineRun:
        conversation, _ = make_conversation()
        asked = Message.objects.create(
            conversation=conversation, role=Message.Role.VISITOR, text=question
        )
        answer = Message.objects.create(
            conversation=conversation,
            role=Message.Role.BOT,
            text="Within 5 days [1].",
            citations=[
                {
                    "document_id": 1,
                    "chunk_id": 1,
                    "title": "Refund timing",
                    "quote": "within 5 working days",
                    "source_url": "",
                }
            ],
            review={"verdict": "approved", "confidence": 0.91},
        )
        run = PipelineRun.objects.create(
            conversation=conversation,
            question=asked,
            answer=answer,
            status=PipelineRun.Status.COMPLETED,
            verdict="approved",
        )
        PipelineRun.objects.filter(pk=run.pk).update(
            first_token_at=run.started_at + timedelta(milliseconds=700),
            finished_at=run.started_at + timedelta(milliseconds=2500),
        )
        for stage, ms, output in (
            ("retrieval", 120, {"kind": "retrieval_result", "passages": []}),
            ("answering", answering_ms, {"kind": "draft_answer", "text": "Within 5 days [1]."}),
            ("review", 300, {"kind": "review_verdict", "verdict": "approved"}),
        ):
            PipelineStep.objects.create(
                run=run,
                stage=stage,
                status=PipelineStep.Status.DONE,
                duration_ms=ms,
                model=f"{stage}-model",
                worker="w1",
                input={"run_id": run.pk},
                output=output,
            )
        run.refresh_from_db()
        return run

    return make
