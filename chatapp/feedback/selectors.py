"""Reads for feedback: the down-voted answers admins review, and the CSAT summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Avg, Count, OuterRef, Subquery

from chatapp.assistant.models import PipelineRun
from chatapp.conversations.models import Conversation, Message
from chatapp.feedback.models import AnswerFeedback, ConversationRating

DOWNVOTES_LIMIT = 100  # a page an admin reads through; older ones stay in /admin/


@dataclass(frozen=True)
class DownvotedAnswer:
    feedback_id: int
    message_id: int
    conversation_id: str
    answer: str
    question: str
    comment: str
    rated_at: datetime
    run_id: int | None  # the turn whose trace explains the answer (None: no stored turn)
    knowledge_base_id: int | None  # where a curated answer for the question would go


@dataclass(frozen=True)
class CsatSummary:
    count: int
    average: float | None
    by_score: dict[int, int]  # 1..5 -> how many


def downvoted_answer_list(*, limit: int = DOWNVOTES_LIMIT) -> list[DownvotedAnswer]:
    """The latest thumbs-down ratings with their answer, question and turn (one query).

    The question is the visitor message the answer's turn started from; an answer without a
    stored turn falls back to the visitor's last message before it.

    Args:
        limit: How many rows at most.

    Returns:
        Rows, most recently rated first.
    """
    run = PipelineRun.objects.filter(answer=OuterRef("message_id")).order_by("-id")
    before = Message.objects.filter(
        conversation=OuterRef("conversation_id"),
        role=Message.Role.VISITOR,
        id__lt=OuterRef("message_id"),
    ).order_by("-id")
    kb = Conversation.knowledge_bases.through.objects.filter(
        conversation_id=OuterRef("conversation_id")
    ).order_by("knowledgebase_id")
    rows = (
        AnswerFeedback.objects.filter(rating=AnswerFeedback.Rating.DOWN)
        .select_related("message")
        .annotate(
            run_id=Subquery(run.values("id")[:1]),
            run_question=Subquery(run.values("question__text")[:1]),
            previous_question=Subquery(before.values("text")[:1]),
            kb_id=Subquery(kb.values("knowledgebase_id")[:1]),
        )
        .order_by("-updated_at", "-id")[:limit]
    )
    return [
        DownvotedAnswer(
            feedback_id=row.pk,
            message_id=row.message_id,
            conversation_id=str(row.conversation_id),
            answer=row.message.text,
            question=getattr(row, "run_question", None)
            or getattr(row, "previous_question", "")
            or "",
            comment=row.comment,
            rated_at=row.updated_at,
            run_id=getattr(row, "run_id", None),
            knowledge_base_id=getattr(row, "kb_id", None),
        )
        for row in rows
    ]


def csat_summary() -> CsatSummary:
    """How many CSAT scores there are, their average and how many of each (two queries)."""
    totals = ConversationRating.objects.aggregate(count=Count("id"), average=Avg("score"))
    by_score = dict.fromkeys(range(1, 6), 0)
    for score, n in ConversationRating.objects.values_list("score").annotate(n=Count("id")):
        by_score[score] = n
    average = totals["average"]
    return CsatSummary(
        count=totals["count"],
        average=round(float(average), 2) if average is not None else None,
        by_score=by_score,
    )
