"""Reads for knowledge bases: documents and hybrid (vector + full-text) chunk search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, QuerySet
from pgvector.django import CosineDistance

from chatapp.core.errors import NotFound
from chatapp.knowledge.models import FTS_CONFIG, Chunk, Document, KnowledgeBase

# Reciprocal rank fusion constant from Cormack et al. (2009); damps the top ranks' dominance.
RRF_K = 60
# Each retriever contributes this many candidates per requested result before fusion.
CANDIDATES_PER_RESULT = 4


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: int
    title: str
    text: str
    source_url: str
    score: float  # fused score (RRF), comparable within one search only
    similarity: float | None = None  # cosine similarity when the vector retriever found it
    found_by: tuple[str, ...] = field(default_factory=tuple)


def knowledge_base_get(kb_id: int) -> KnowledgeBase:
    kb = KnowledgeBase.objects.filter(pk=kb_id).first()
    if kb is None:
        raise NotFound("No such knowledge base.")
    return kb


def knowledge_base_list() -> QuerySet[KnowledgeBase]:
    return KnowledgeBase.objects.order_by("name")


def document_get(document_id: int) -> Document:
    doc = Document.objects.defer("raw").filter(pk=document_id).first()
    if doc is None:
        raise NotFound("No such document.")
    return doc


def _vector_candidates(
    embedding: Sequence[float], kb_ids: Sequence[int], limit: int
) -> list[tuple[Chunk, float]]:
    qs = (
        Chunk.objects.filter(knowledge_base_id__in=kb_ids)
        .annotate(distance=CosineDistance("embedding", list(embedding)))
        .select_related("document")
        .only("id", "text", "document_id", "document__title", "document__source_url")
        .order_by("distance")[:limit]
    )
    return [(c, 1.0 - float(c.distance)) for c in qs]


def _keyword_candidates(query: str, kb_ids: Sequence[int], limit: int) -> list[Chunk]:
    ts_query = SearchQuery(query, search_type="websearch", config=FTS_CONFIG)
    qs = (
        Chunk.objects.filter(knowledge_base_id__in=kb_ids, search_vector=ts_query)
        .annotate(rank=SearchRank(F("search_vector"), ts_query, normalization=32))
        .select_related("document")
        .only("id", "text", "document_id", "document__title", "document__source_url")
        .order_by("-rank", "id")[:limit]
    )
    return list(qs)


def chunk_search_hybrid(
    *, query: str, embedding: Sequence[float], knowledge_base_ids: Sequence[int], k: int
) -> list[SearchHit]:
    """Search chunks by meaning and by words, fused with reciprocal rank fusion.

    Args:
        query: The visitor's words (for full-text search).
        embedding: The query's embedding (for vector search).
        knowledge_base_ids: Where to search.
        k: How many hits to return.

    Returns:
        Up to ``k`` hits, best first.
    """
    if not knowledge_base_ids or k <= 0:
        return []
    limit = max(k * CANDIDATES_PER_RESULT, 20)
    fused: dict[int, float] = {}
    chunks: dict[int, Chunk] = {}
    similarity: dict[int, float] = {}
    found_by: dict[int, list[str]] = {}
    for rank, (chunk, sim) in enumerate(_vector_candidates(embedding, knowledge_base_ids, limit)):
        fused[chunk.pk] = fused.get(chunk.pk, 0.0) + 1.0 / (RRF_K + rank + 1)
        chunks[chunk.pk] = chunk
        similarity[chunk.pk] = sim
        found_by.setdefault(chunk.pk, []).append("vector")
    for rank, chunk in enumerate(_keyword_candidates(query, knowledge_base_ids, limit)):
        fused[chunk.pk] = fused.get(chunk.pk, 0.0) + 1.0 / (RRF_K + rank + 1)
        chunks.setdefault(chunk.pk, chunk)
        found_by.setdefault(chunk.pk, []).append("keyword")
    best = sorted(fused, key=lambda pk: (-fused[pk], pk))[:k]
    return [
        SearchHit(
            chunk_id=pk,
            document_id=chunks[pk].document_id,
            title=chunks[pk].document.title,
            text=chunks[pk].text,
            source_url=chunks[pk].document.source_url,
            score=round(fused[pk], 6),
            similarity=similarity.get(pk),
            found_by=tuple(found_by[pk]),
        )
        for pk in best
    ]
