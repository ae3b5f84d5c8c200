from __future__ import annotations

import numpy as np
import pytest
from typing_extensions import override

from chatapp.knowledge.curated import curated_answer_create, curated_answer_match
from chatapp.knowledge.models import CuratedAnswer
from tests.factories.knowledge import KnowledgeBaseFactory, unit_vector
from workers.inference.base import Embedder

pytestmark = pytest.mark.django_db


class FixedEmbedder(Embedder):
    """Stands in for the embedding model: these tests check the matching, not the model."""

    name = "fixed"
    dim = 384

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    @override
    def embed(self, texts, *, batch_size=None):
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


def test_a_close_question_matches_and_a_far_one_does_not():
    # given
    kb = KnowledgeBaseFactory.create()
    base = np.array(unit_vector(1))
    near = base + 0.05 * np.array(unit_vector(2))
    near /= np.linalg.norm(near)
    embedder = FixedEmbedder({"Do you gift wrap?": base.tolist()})
    item = curated_answer_create(
        knowledge_base=kb, question="Do you gift wrap?", answer="No, we don't.", embedder=embedder
    )
    # when
    hit = curated_answer_match(
        embedding=near.tolist(), knowledge_base_ids=[kb.pk], min_similarity=0.9
    )
    miss = curated_answer_match(
        embedding=unit_vector(3), knowledge_base_ids=[kb.pk], min_similarity=0.9
    )
    other_kb = curated_answer_match(
        embedding=near.tolist(), knowledge_base_ids=[kb.pk + 1], min_similarity=0.9
    )
    # then
    assert hit is not None
    assert (hit.id, hit.answer) == (item.pk, "No, we don't.")
    assert hit.similarity > 0.99
    assert miss is None
    assert other_kb is None


def test_inactive_curated_answers_never_match():
    # given
    kb = KnowledgeBaseFactory.create()
    vector = unit_vector(5)
    CuratedAnswer.objects.create(
        knowledge_base=kb, question="q", answer="a", embedding=vector, is_active=False
    )
    # when
    match = curated_answer_match(embedding=vector, knowledge_base_ids=[kb.pk], min_similarity=0.5)
    # then
    assert match is None


def test_blank_curated_answers_are_refused():
    # given
    kb = KnowledgeBaseFactory.create()
    # when / then
    from chatapp.core.errors import ApplicationError

    with pytest.raises(ApplicationError):
        curated_answer_create(
            knowledge_base=kb, question="  ", answer="a", embedder=FixedEmbedder({})
        )
    assert CuratedAnswer.objects.count() == 0
