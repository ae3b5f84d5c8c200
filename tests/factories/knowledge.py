from __future__ import annotations

import hashlib

import numpy as np
from factory.declarations import LazyAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory

from chatapp.knowledge.models import EMBEDDING_DIM, Chunk, Document, KnowledgeBase


def unit_vector(seed: int) -> list[float]:
    """A deterministic unit vector (tests that do not need a real embedding)."""
    v = np.random.default_rng(seed).standard_normal(EMBEDDING_DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


class KnowledgeBaseFactory(DjangoModelFactory[KnowledgeBase]):
    class Meta:
        model = KnowledgeBase

    name = Sequence(lambda n: f"KB {n}")
    is_default = True
    # Most tests stand for the visitor-facing help centre; internal ones say so.
    visibility = KnowledgeBase.Visibility.PUBLIC


class DocumentFactory(DjangoModelFactory[Document]):
    class Meta:
        model = Document

    knowledge_base = SubFactory(KnowledgeBaseFactory)
    title = Sequence(lambda n: f"Document {n}")
    status = Document.Status.READY
    content_hash = LazyAttribute(lambda o: hashlib.sha256(o.title.encode()).hexdigest())


class ChunkFactory(DjangoModelFactory[Chunk]):
    class Meta:
        model = Chunk

    document = SubFactory(DocumentFactory)
    knowledge_base = LazyAttribute(lambda o: o.document.knowledge_base)
    ordinal = Sequence(lambda n: n)
    text = "Some passage."
    embedding = Sequence(unit_vector)
