"""Curated answers (FAQ overrides): writes, and the match a question is checked against first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from pgvector.django import CosineDistance

from chatapp.core.errors import ApplicationError, NotFound
from chatapp.knowledge.models import CuratedAnswer, KnowledgeBase
from workers.inference.base import Embedder


@dataclass(frozen=True)
class CuratedMatch:
    id: int
    question: str
    answer: str
    similarity: float


@transaction.atomic
def curated_answer_create(
    *, knowledge_base: KnowledgeBase, question: str, answer: str, embedder: Embedder
) -> CuratedAnswer:
    """Store a curated answer with the embedding of its question.

    Raises:
        ApplicationError: ``invalid`` when the question or the answer is blank.
    """
    question, answer = question.strip(), answer.strip()
    if not question or not answer:
        raise ApplicationError("invalid", "Both the question and the answer are required.")
    item = CuratedAnswer(
        knowledge_base=knowledge_base,
        question=question,
        answer=answer,
        embedding=embedder.embed([question])[0].tolist(),
    )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def curated_answer_delete(*, curated_id: int) -> None:
    deleted, _ = CuratedAnswer.objects.filter(pk=curated_id).delete()
    if not deleted:
        raise NotFound("No such curated answer.")


def curated_answer_list(knowledge_base: KnowledgeBase) -> list[CuratedAnswer]:
    return list(knowledge_base.curated_answers.order_by("question").defer("embedding"))


def curated_answer_match(
    *,
    embedding: Sequence[float],
    knowledge_base_ids: Sequence[int],
    min_similarity: float | None = None,
) -> CuratedMatch | None:
    """The active curated answer closest to the question, if it is close enough.

    Args:
        embedding: The question's embedding.
        knowledge_base_ids: The conversation's knowledge bases.
        min_similarity: Cosine similarity a match needs; defaults to the setting.
    """
    threshold = (
        settings.CHATAPP_CURATED_MIN_SIMILARITY if min_similarity is None else min_similarity
    )
    best = (
        CuratedAnswer.objects.filter(knowledge_base_id__in=knowledge_base_ids, is_active=True)
        .annotate(distance=CosineDistance("embedding", list(embedding)))
        .order_by("distance")
        .only("id", "question", "answer")
        .first()
    )
    if best is None:
        return None
    similarity = 1.0 - float(best.distance)
    if similarity < threshold:
        return None
    return CuratedMatch(
        id=best.pk, question=best.question, answer=best.answer, similarity=round(similarity, 4)
    )
