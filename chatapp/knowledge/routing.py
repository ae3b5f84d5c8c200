"""Routing a question to the knowledge bases that matter (the retriever's task allocation).

A conversation may search several knowledge bases: a help centre, an internal handbook, a
product's API docs. One search runs over all of them with a deeper pool than the answer needs;
each knowledge base is then judged by its best hit, and a base whose best hit is well below the
best base's is dropped, so its near-miss passages do not crowd the answerer's short context. The
decision, with every base's evidence, goes into the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from chatapp.knowledge.models import Document, KnowledgeBase
from chatapp.knowledge.selectors import SearchHit, chunk_search_hybrid

__all__ = ["Route", "choose_routes", "routed_search"]


@dataclass(frozen=True)
class Route:
    """One knowledge base's evidence for a question, and whether the question went to it."""

    knowledge_base_id: int
    name: str
    relevance: float  # the calibrated relevance of its best hit in the pool (0 with none)
    hits: int  # its chunks in the pool
    chosen: bool


def choose_routes(
    best: dict[int, float], names: dict[int, str], counts: dict[int, int], *, margin: float
) -> list[Route]:
    """Keep the knowledge bases whose best hit is within ``margin`` of the best one's.

    Args:
        best: Knowledge base id → its best hit's relevance (absent: no hit in the pool).
        names: Knowledge base id → name, for every base searched.
        counts: Knowledge base id → its hits in the pool.
        margin: How far below the best base's relevance a base may be and still be searched.

    Returns:
        One route per searched base, best first; with no hit anywhere none is chosen.
    """
    top = max(best.values(), default=0.0)
    routes = [
        Route(
            knowledge_base_id=kb_id,
            name=names[kb_id],
            relevance=round(best.get(kb_id, 0.0), 4),
            hits=counts.get(kb_id, 0),
            chosen=kb_id in best and best[kb_id] >= top - margin,
        )
        for kb_id in names
    ]
    return sorted(routes, key=lambda r: (-r.relevance, r.knowledge_base_id))


def routed_search(
    *, query: str, embedding: Sequence[float], knowledge_base_ids: Sequence[int], k: int
) -> tuple[list[SearchHit], list[Route]]:
    """Search the conversation's knowledge bases, keeping the hits of the bases that matter.

    With one knowledge base this is the plain hybrid search and no route is recorded.

    Args:
        query: The (part of the) question.
        embedding: Its embedding.
        knowledge_base_ids: The conversation's knowledge bases.
        k: How many hits to return.

    Returns:
        The top ``k`` hits from the chosen bases, and the routes (empty with a single base).
    """
    if len(knowledge_base_ids) < 2 or settings.CHATAPP_ROUTE_MARGIN >= 1.0:
        hits = chunk_search_hybrid(
            query=query, embedding=embedding, knowledge_base_ids=knowledge_base_ids, k=k
        )
        return hits, []
    pool = chunk_search_hybrid(
        query=query,
        embedding=embedding,
        knowledge_base_ids=knowledge_base_ids,
        k=max(k, settings.CHATAPP_ROUTE_POOL),
    )
    kb_of = dict(
        Document.objects.filter(pk__in={h.document_id for h in pool}).values_list(
            "id", "knowledge_base_id"
        )
    )
    names = dict(
        KnowledgeBase.objects.filter(pk__in=knowledge_base_ids)
        .order_by("pk")
        .values_list("id", "name")
    )
    best: dict[int, float] = {}
    counts: dict[int, int] = {}
    for hit in pool:
        kb_id = kb_of[hit.document_id]
        best[kb_id] = max(best.get(kb_id, 0.0), hit.relevance)
        counts[kb_id] = counts.get(kb_id, 0) + 1
    routes = choose_routes(best, names, counts, margin=settings.CHATAPP_ROUTE_MARGIN)
    chosen = {r.knowledge_base_id for r in routes if r.chosen}
    return [h for h in pool if kb_of[h.document_id] in chosen][:k], routes
