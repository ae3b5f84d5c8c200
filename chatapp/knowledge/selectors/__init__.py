"""Reads for knowledge bases: knowledge bases, documents, and hybrid chunk search.

The search lives in ``search.py`` (candidates, relevance), ``fusion.py`` (how the two
retrievers' scores are combined), ``query.py`` (sanitising, terms, word statistics) and
``normalise.py`` (chat fillers and false starts); ``rescoring.py`` holds the pure scoring
maths; ``admin.py`` the reads of the knowledge-base admin pages.
"""

from __future__ import annotations

from django.db.models import QuerySet

from chatapp.core.errors import NotFound
from chatapp.knowledge.models import Document, KnowledgeBase
from chatapp.knowledge.selectors.fusion import FUSION_METHODS
from chatapp.knowledge.selectors.hnsw import hnsw_ef
from chatapp.knowledge.selectors.query import match_words, query_clean, query_stats, query_terms
from chatapp.knowledge.selectors.search import (
    Pool,
    SearchHit,
    chunk_search_hybrid,
    chunk_search_keyword,
    chunk_search_pool,
    chunk_search_vector,
    pool_rank,
)

__all__ = [
    "FUSION_METHODS",
    "Pool",
    "SearchHit",
    "chunk_search_hybrid",
    "chunk_search_keyword",
    "chunk_search_pool",
    "chunk_search_vector",
    "document_get",
    "hnsw_ef",
    "knowledge_base_get",
    "knowledge_base_list",
    "match_words",
    "pool_rank",
    "query_clean",
    "query_stats",
    "query_terms",
]


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
