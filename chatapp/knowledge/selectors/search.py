"""Hybrid chunk search: pgvector HNSW + Postgres full text, fused and scored for relevance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import F, FloatField, QuerySet, Value
from pgvector.django import CosineDistance

from chatapp.knowledge.models import EMBEDDING_DIM, FTS_CONFIG, Chunk
from chatapp.knowledge.selectors.evidence import LexicalFields, add_evidence, similarity_of
from chatapp.knowledge.selectors.fusion import (
    FUSION_METHODS,
    LEXICAL_METHODS,
    FusionMethod,
    fuse_pool,
)
from chatapp.knowledge.selectors.hnsw import hnsw_ef, hnsw_session_ef
from chatapp.knowledge.selectors.query import (
    build_ts_query,
    match_words,
    query_stats,
    query_terms,
)
from chatapp.knowledge.selectors.rescoring import (
    Candidate,
    QueryStats,
    relevance,
    rescore_candidates,
)

# ts_rank_cd normalisation 1|32: divide by 1 + log(length) so long chunks do not win on
# length alone, then map into 0..1 with rank / (rank + 1).
TS_RANK_NORMALIZATION: Final = 1 | 32
ERR_EMBEDDING_DIM = "The query embedding has {got} dimensions; the index holds {want}."
# The query's vector, or a function giving it: a search calls it once, after the queries that do
# not need the vector (word statistics, keyword candidates), so a caller can compute it meanwhile.
EmbeddingSource = Sequence[float] | Callable[[], Sequence[float]]
ERR_FUSION = "Unknown fusion method {got!r}; use one of: " + ", ".join(FUSION_METHODS) + "."


@dataclass(frozen=True)
class SearchHit:
    """One chunk found by a search.

    Attributes:
        score: The ranking score of this search (RRF, convex or re-scored); compare hits of one
            search only.
        similarity: Cosine similarity between the query and the chunk (None only from
            ``chunk_search_keyword`` called without an embedding).
        keyword_score: Full-text rank in 0..1 (``ts_rank_cd``); 0 when no query word matched.
        relevance: Calibrated 0..1 estimate that the chunk answers the query, comparable across
            searches; ``CHATAPP_RETRIEVAL_MIN_SCORE`` applies to the best hit's relevance.
        found_by: Which retrievers returned the chunk: ``"vector"``, ``"keyword"``.
    """

    chunk_id: int
    document_id: int
    title: str
    text: str
    source_url: str
    score: float
    similarity: float | None = None
    found_by: tuple[str, ...] = field(default_factory=tuple)
    keyword_score: float = 0.0
    relevance: float = 0.0
    heading_path: str = ""
    anchor: str = ""


_FIELDS: Final = (
    "id",
    "document_id",
    "document__title",
    "text",
    "document__source_url",
    "heading_path",
    "anchor",
    "distance",
    "kw",
)


def _rows(qs: QuerySet[Chunk]) -> list[Candidate]:
    return [
        Candidate(
            chunk_id=row[0],
            document_id=row[1],
            title=row[2],
            text=row[3],
            source_url=row[4],
            heading_path=row[5],
            anchor=row[6],
            similarity=similarity_of(row[7]),
            keyword_score=float(row[8] or 0.0),
        )
        for row in qs.values_list(*_FIELDS)
    ]


def _annotated(
    embedding: Sequence[float] | None,
    ts_query: SearchQuery | None,
    kb_ids: Sequence[int],
) -> QuerySet[Chunk]:
    kw: Any = (
        SearchRank(
            F("search_vector"),
            ts_query,
            cover_density=True,
            normalization=Value(TS_RANK_NORMALIZATION),
        )
        if ts_query is not None
        else Value(0.0, output_field=FloatField())
    )
    distance: Any = (
        CosineDistance("embedding", list(embedding))
        if embedding is not None
        else Value(None, output_field=FloatField())
    )
    return Chunk.objects.filter(knowledge_base_id__in=list(kb_ids)).annotate(
        distance=distance, kw=kw
    )


def _vector_candidates(
    embedding: Sequence[float],
    ts_query: SearchQuery | None,
    kb_ids: Sequence[int],
    limit: int,
    ef_search: int,
) -> list[Candidate]:
    qs = _annotated(embedding, ts_query, kb_ids).order_by(F("distance").asc())[:limit]
    ef = hnsw_ef(ef_search, limit)
    # Inside a caller's transaction a local setting of an earlier search may still hold: set it.
    outer = connection.in_atomic_block
    if not outer and hnsw_session_ef(connection) == ef:  # the session's default: one statement
        found = _rows(qs)
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef)])
            found = _rows(qs)
    if len(found) < limit // 2:
        # Few rows survived the filter (a small knowledge base in a big table: pgvector 0.6
        # filters after the index scan), or the knowledge bases hold few chunks: search them
        # exactly, which is cheap for few rows and right for a filtered big table.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
            found = _rows(qs)
            if outer:  # a local setting lasts until the caller's transaction ends
                cursor.execute("SET LOCAL enable_indexscan TO DEFAULT")
    return found


def _keyword_candidates(
    embedding: Sequence[float] | None,
    stats: QueryStats,
    kb_ids: Sequence[int],
    limit: int,
) -> list[Candidate]:
    rank_query = build_ts_query([t.word for t in stats.content])
    match = match_words(stats)
    if rank_query is None or not match:
        return []
    match_query = SearchQuery(match, search_type="websearch", config=FTS_CONFIG)
    qs = (
        _annotated(embedding, rank_query, kb_ids)
        .filter(search_vector=match_query)
        .order_by(F("kw").desc(), "id")[:limit]
    )
    return _rows(qs)


def _check_embedding(embedding: Sequence[float]) -> None:
    if len(embedding) != EMBEDDING_DIM:
        raise ValueError(ERR_EMBEDDING_DIM.format(got=len(embedding), want=EMBEDDING_DIM))


def _vector_of(embedding: EmbeddingSource) -> list[float]:
    """The query vector from an ``EmbeddingSource`` (calling it), checked."""
    vector = list(embedding() if callable(embedding) else embedding)
    _check_embedding(vector)
    return vector


def _hit(c: Candidate, relevance_value: float, *, with_similarity: bool = True) -> SearchHit:
    return SearchHit(
        chunk_id=c.chunk_id,
        document_id=c.document_id,
        title=c.title,
        text=c.text,
        source_url=c.source_url,
        score=round(c.score, 6),
        similarity=round(c.similarity, 6) if with_similarity else None,
        found_by=tuple(
            name
            for name, rank in (("vector", c.vector_rank), ("keyword", c.keyword_rank))
            if rank is not None
        ),
        keyword_score=round(c.keyword_score, 6),
        relevance=round(relevance_value, 6),
        heading_path=c.heading_path,
        anchor=c.anchor,
    )


# --- Public searches --------------------------------------------------------------------------


def chunk_search_vector(
    *,
    embedding: Sequence[float],
    knowledge_base_ids: Sequence[int],
    k: int,
    ef_search: int | None = None,
) -> list[SearchHit]:
    """Nearest chunks by cosine similarity (HNSW; exact when the filter leaves too few).

    Args:
        embedding: The query's unit-length embedding (384 floats).
        knowledge_base_ids: Where to search.
        k: How many hits to return.
        ef_search: HNSW candidate list size; ``CHATAPP_HNSW_EF_SEARCH`` when None.

    Returns:
        Up to ``k`` hits, most similar first; ``score`` is the cosine similarity.

    Raises:
        ValueError: The embedding does not have the index's dimension.
    """
    _check_embedding(embedding)
    if not knowledge_base_ids or k <= 0:
        return []
    ef = ef_search or settings.CHATAPP_HNSW_EF_SEARCH
    found = _vector_candidates(embedding, None, knowledge_base_ids, k, ef)
    for rank, c in enumerate(found):
        c.vector_rank, c.score = rank, c.similarity
    return [_hit(c, relevance(c.similarity)) for c in found]


def chunk_search_keyword(
    *,
    query: str,
    knowledge_base_ids: Sequence[int],
    k: int,
    embedding: Sequence[float] | None = None,
) -> list[SearchHit]:
    """Chunks holding any of the query's words, best ``ts_rank_cd`` first.

    Args:
        query: The visitor's words; empty or punctuation-only queries find nothing.
        knowledge_base_ids: Where to search.
        k: How many hits to return.
        embedding: When given, hits also carry their cosine similarity and relevance.

    Returns:
        Up to ``k`` hits; ``score`` is the full-text rank.

    Raises:
        ValueError: An embedding of the wrong dimension.
    """
    terms = query_terms(query)
    if not terms or not knowledge_base_ids or k <= 0:
        return []
    if embedding is not None:
        _check_embedding(embedding)
    stats = query_stats(terms, knowledge_base_ids)
    found = _keyword_candidates(embedding, stats, knowledge_base_ids, k)
    for rank, c in enumerate(found):
        c.keyword_rank, c.score = rank, c.keyword_score
    if embedding is None:
        return [_hit(c, 0.0, with_similarity=False) for c in found]
    return [_hit(c, relevance(c.similarity, stats.unknown_share)) for c in found]


@dataclass
class Pool:
    """Both retrievers' candidates for one query, each with both scores, and the query's terms."""

    candidates: list[Candidate]
    stats: QueryStats


def chunk_search_pool(
    *,
    query: str,
    embedding: EmbeddingSource,
    knowledge_base_ids: Sequence[int],
    candidates: int,
    ef_search: int,
    lexical: LexicalFields,
) -> Pool:
    """The candidate pool of a hybrid search, before fusion (``chunk_search_hybrid`` ranks it).

    The word statistics and the keyword candidates are fetched first; only then is the query
    vector asked for, so an embedding computed in another thread is ready by then or soon after.

    Args:
        query: The visitor's words.
        embedding: The query's embedding, or a function giving it (called once).
        knowledge_base_ids: Where to search.
        candidates: Chunks per retriever.
        ef_search: HNSW candidate list size.
        lexical: What the lexical methods need besides the scores: ``"counts"`` of the
            query's lexemes (BM25 fusion), ``"tsvectors"`` (re-scoring, the benchmark), or
            ``"none"`` (``evidence.py``).

    Returns:
        The pool, vector candidates first (in their order), then the keyword-only ones.

    Raises:
        ValueError: The embedding does not have the index's dimension.
    """
    terms = query_terms(query)
    if not terms or not knowledge_base_ids:
        return Pool([], QueryStats((), 0))
    stats = query_stats(terms, knowledge_base_ids)
    ts_query = build_ts_query([t.word for t in stats.content])
    kbs = knowledge_base_ids
    keyword = _keyword_candidates(None, stats, kbs, candidates)
    vector = _vector_of(embedding)
    pool: dict[int, Candidate] = {}
    for rank, c in enumerate(_vector_candidates(vector, ts_query, kbs, candidates, ef_search)):
        c.vector_rank = rank
        pool[c.chunk_id] = c
    keyword_only = []
    for rank, c in enumerate(keyword):
        held = pool.setdefault(c.chunk_id, c)
        held.keyword_rank = rank
        if held is c:
            keyword_only.append(c)
    found = list(pool.values())
    add_evidence(found, keyword_only, vector, stats, lexical)
    return Pool(found, stats)


def pool_rank(
    pool: Pool,
    *,
    fusion: FusionMethod,
    vector_weight: float,
    rrf_k: int,
    rescore: bool,
) -> list[Candidate]:
    """Fuse a pool and sort it, best first (re-scored on top when ``rescore``).

    The pool must hold counts or tsvectors for the BM25-based methods, tsvectors for
    re-scoring (``chunk_search_pool``'s ``lexical``).
    """
    found = list(pool.candidates)
    fuse_pool(found, pool.stats, fusion, vector_weight=vector_weight, rrf_k=rrf_k)
    found.sort(key=lambda c: (-c.score, c.chunk_id))
    if rescore:
        found = rescore_candidates(found, pool.stats)
    return found


def chunk_search_hybrid(
    *,
    query: str,
    embedding: EmbeddingSource,
    knowledge_base_ids: Sequence[int],
    k: int,
    fusion: FusionMethod | None = None,
    vector_weight: float | None = None,
    rescore: bool | None = None,
    candidates: int | None = None,
    ef_search: int | None = None,
    rrf_k: int | None = None,
) -> list[SearchHit]:
    """Search chunks by meaning and by words, fused, optionally re-scored.

    Each retriever returns ``candidates`` chunks and computes the other's score for them, so
    fusion and re-scoring see complete evidence for the whole pool.

    Args:
        query: The visitor's words (for full-text search); cleaned with ``query_clean``.
        embedding: The query's embedding (for vector search) of ``query_clean(query)``, or a
            function giving it, called once after the queries that do not need it.
        knowledge_base_ids: Where to search.
        k: How many hits to return.
        fusion: One of ``FUSION_METHODS`` (``fusion.py``); ``CHATAPP_RETRIEVAL_FUSION`` when
            None.
        vector_weight: Vector share of the convex methods; ``CHATAPP_RETRIEVAL_VECTOR_WEIGHT``
            when None.
        rescore: Re-score the fused top (``rescoring.py``); ``CHATAPP_RETRIEVAL_RESCORE`` when
            None.
        candidates: Chunks per retriever; ``CHATAPP_RETRIEVAL_CANDIDATES`` when None.
        ef_search: HNSW candidate list size; ``CHATAPP_HNSW_EF_SEARCH`` when None.
        rrf_k: The RRF constant; ``CHATAPP_RETRIEVAL_RRF_K`` when None.

    Returns:
        Up to ``k`` hits, best first. A query without words (empty, punctuation) gives ``[]``.

    Raises:
        ValueError: Unknown fusion method, or an embedding of the wrong dimension.
    """
    method = fusion or settings.CHATAPP_RETRIEVAL_FUSION
    if method not in FUSION_METHODS:
        raise ValueError(ERR_FUSION.format(got=method))
    if not callable(embedding):
        _check_embedding(embedding)
    if not query_terms(query) or not knowledge_base_ids or k <= 0:
        return []
    weight = settings.CHATAPP_RETRIEVAL_VECTOR_WEIGHT if vector_weight is None else vector_weight
    use_rescore = settings.CHATAPP_RETRIEVAL_RESCORE if rescore is None else rescore
    pool = chunk_search_pool(
        query=query,
        embedding=embedding,
        knowledge_base_ids=knowledge_base_ids,
        candidates=max(candidates or settings.CHATAPP_RETRIEVAL_CANDIDATES, k),
        ef_search=ef_search or settings.CHATAPP_HNSW_EF_SEARCH,
        lexical=("tsvectors" if use_rescore else "counts" if method in LEXICAL_METHODS else "none"),
    )
    found = pool_rank(
        pool,
        fusion=method,
        vector_weight=weight,
        rrf_k=rrf_k or settings.CHATAPP_RETRIEVAL_RRF_K,
        rescore=use_rescore,
    )
    unknown = pool.stats.unknown_share
    return [_hit(c, relevance(c.similarity, unknown)) for c in found[:k]]
