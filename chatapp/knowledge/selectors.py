"""Reads for knowledge bases: documents and hybrid (vector + full-text) chunk search."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection, transaction
from django.db.models import F, FloatField, QuerySet, TextField, Value
from django.db.models.functions import Cast
from pgvector.django import CosineDistance

from chatapp.core.errors import NotFound
from chatapp.knowledge.models import EMBEDDING_DIM, FTS_CONFIG, Chunk, Document, KnowledgeBase
from chatapp.knowledge.rescoring import (
    Candidate,
    QueryStats,
    QueryTerm,
    relevance,
    rescore_candidates,
)

FusionMethod = Literal["rrf", "convex"]
FUSION_METHODS: Final = ("rrf", "convex")

# Reciprocal rank fusion constant from Cormack et al. (2009); damps the top ranks' dominance.
RRF_K: Final = 60
# A question longer than this is cut: MiniLM reads 256 word pieces (~1000 characters) anyway,
# and every extra term makes the tsquery slower without making it better.
MAX_QUERY_CHARS: Final = 1000
MAX_QUERY_TERMS: Final = 32
MAX_TERM_CHARS: Final = 60  # longer "words" are noise (hashes, base64); Postgres drops >2 KB ones
# pgvector refuses hnsw.ef_search above 1000.
MAX_EF_SEARCH: Final = 1000
# ts_rank_cd normalisation 1|32: divide by 1 + log(length) so long chunks do not win on
# length alone, then map into 0..1 with rank / (rank + 1).
TS_RANK_NORMALIZATION: Final = 1 | 32
ERR_EMBEDDING_DIM = "The query embedding has {got} dimensions; the index holds {want}."
ERR_FUSION = "Unknown fusion method {got!r}; use one of: rrf, convex."

_WORD_RE: Final = re.compile(r"\w+")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# websearch_to_tsquery reads these words as operators; as search terms they are stop words.
_OPERATOR_WORDS: Final = frozenset({"or", "and", "not"})


@dataclass(frozen=True)
class SearchHit:
    """One chunk found by a search.

    Attributes:
        score: The ranking score of this search (RRF, convex or re-scored); compare hits of one
            search only.
        similarity: Cosine similarity between the query and the chunk (every hit has it).
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


# --- Query sanitising -------------------------------------------------------------------------


def query_clean(query: str) -> str:
    """Normalise a visitor's query for search: NFC, no control characters, at most 1000 chars.

    Embed the cleaned text, so an absurdly long message costs no more than a normal one.
    """
    text = _CONTROL_RE.sub(" ", unicodedata.normalize("NFC", query or ""))
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    return text


def query_terms(query: str) -> list[str]:
    """The distinct words of a query, lower-cased, in order, at most ``MAX_QUERY_TERMS``.

    Punctuation-only or empty queries give ``[]``; operator words (or, and, not) are dropped so
    a visitor's text can never change the tsquery's logic.
    """
    seen: dict[str, None] = {}
    for match in _WORD_RE.finditer(query_clean(query).lower()):
        word = match.group()
        if len(word) <= MAX_TERM_CHARS and word not in _OPERATOR_WORDS and word.strip("_"):
            seen.setdefault(word, None)
            if len(seen) == MAX_QUERY_TERMS:
                break
    return list(seen)


def _ts_query(terms: Sequence[str]) -> SearchQuery | None:
    # Any of the words may match (OR): a question's words rarely all occur in one passage;
    # ts_rank_cd then favours the chunks that hold more of them, closer together.
    if not terms:
        return None
    return SearchQuery(" or ".join(terms), search_type="websearch", config=FTS_CONFIG)


# --- Candidates -------------------------------------------------------------------------------

# Document frequency is counted up to this many chunks: beyond it a word is common anyway, and
# the cap bounds the cost of counting a word like "python" in 100k chunks.
DF_CAP: Final = 2000
_CHUNK_TABLE: Final = Chunk._meta.db_table
_DOCUMENT_TABLE: Final = Document._meta.db_table
_TERM_STATS_SQL: Final = f"""
SELECT w.word,
       ARRAY(SELECT lexeme FROM unnest(to_tsvector(%(config)s::regconfig, w.word))),
       CASE WHEN numnode(websearch_to_tsquery(%(config)s::regconfig, w.word)) = 0 THEN 0
       ELSE (SELECT count(*) FROM (
                SELECT 1 FROM {_CHUNK_TABLE} c
                WHERE c.knowledge_base_id = ANY(%(kbs)s)
                  AND c.search_vector @@ websearch_to_tsquery(%(config)s::regconfig, w.word)
                LIMIT %(cap)s) s)
       END,
       (SELECT coalesce(sum(d.chunk_count), 0) FROM {_DOCUMENT_TABLE} d
         WHERE d.knowledge_base_id = ANY(%(kbs)s) AND d.status = 'ready')
FROM unnest(%(words)s::text[]) WITH ORDINALITY AS w(word, i)
ORDER BY w.i
"""  # noqa: S608  (table names are model constants; every value is a bound parameter)

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


def query_stats(terms: Sequence[str], knowledge_base_ids: Sequence[int]) -> QueryStats:
    """Each query word's lexemes and document frequency (capped at ``DF_CAP``), in one query.

    Args:
        terms: Words from ``query_terms``.
        knowledge_base_ids: The collection the frequencies are counted in.

    Returns:
        The terms in order, and the number of chunks in the knowledge bases.
    """
    if not terms:
        return QueryStats((), 0)
    with connection.cursor() as cursor:
        cursor.execute(
            _TERM_STATS_SQL,
            {"config": FTS_CONFIG, "kbs": list(knowledge_base_ids), "cap": DF_CAP,
             "words": list(terms)},
        )  # fmt: skip
        rows = cursor.fetchall()
    total = int(rows[0][3]) if rows else 0
    return QueryStats(tuple(QueryTerm(r[0], tuple(r[1] or ()), int(r[2])) for r in rows), total)


def _rows(qs: QuerySet[Chunk], lexical: bool) -> list[Candidate]:
    fields = (*_FIELDS, "sv", "hv") if lexical else _FIELDS
    out = []
    for row in qs.values_list(*fields):
        distance = float(row[7])
        out.append(
            Candidate(
                chunk_id=row[0],
                document_id=row[1],
                title=row[2],
                text=row[3],
                source_url=row[4],
                heading_path=row[5],
                anchor=row[6],
                # A zero vector has no direction: pgvector answers NaN; treat it as unrelated.
                similarity=0.0 if math.isnan(distance) else 1.0 - distance,
                keyword_score=float(row[8] or 0.0),
                vector_text=row[9] if lexical else "",
                heading_vector_text=row[10] if lexical else "",
            )
        )
    return out


def _annotated(
    embedding: Sequence[float],
    ts_query: SearchQuery | None,
    kb_ids: Sequence[int],
    lexical: bool,
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
    qs = Chunk.objects.filter(knowledge_base_id__in=list(kb_ids)).annotate(
        distance=CosineDistance("embedding", list(embedding)), kw=kw
    )
    if lexical:  # the re-scorer reads term frequencies and heading words
        qs = qs.annotate(
            sv=Cast("search_vector", TextField()),
            hv=Cast(
                SearchVector("document__title", "heading_path", config=FTS_CONFIG), TextField()
            ),
        )
    return qs


def _vector_candidates(
    embedding: Sequence[float],
    ts_query: SearchQuery | None,
    kb_ids: Sequence[int],
    limit: int,
    ef_search: int,
    lexical: bool = False,
) -> list[Candidate]:
    qs = _annotated(embedding, ts_query, kb_ids, lexical).order_by("distance")[:limit]
    with transaction.atomic(), connection.cursor() as cursor:
        # HNSW yields at most ef_search rows, and the knowledge-base filter runs after it.
        ef = min(max(ef_search, limit), MAX_EF_SEARCH)
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef)])
        found = _rows(qs, lexical)
        if len(found) < limit:
            # Too few rows survived the filter (a small knowledge base in a big table: pgvector
            # 0.6 filters after the index scan), or the knowledge bases are small: search them
            # exactly, which is cheap for few rows and right for a filtered big table.
            cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
            found = _rows(qs, lexical)
    return found


def _keyword_candidates(
    embedding: Sequence[float],
    ts_query: SearchQuery,
    kb_ids: Sequence[int],
    limit: int,
    lexical: bool = False,
) -> list[Candidate]:
    qs = (
        _annotated(embedding, ts_query, kb_ids, lexical)
        .filter(search_vector=ts_query)
        .order_by("-kw", "id")[:limit]
    )
    return _rows(qs, lexical)


def _check_embedding(embedding: Sequence[float]) -> None:
    if len(embedding) != EMBEDDING_DIM:
        raise ValueError(ERR_EMBEDDING_DIM.format(got=len(embedding), want=EMBEDDING_DIM))


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


# --- Fusion -----------------------------------------------------------------------------------


def fuse_rrf(candidates: Sequence[Candidate]) -> None:
    """Set each score to the reciprocal rank fusion sum of 1 / (RRF_K + rank), ranks from 1."""
    for c in candidates:
        c.score = sum(
            1.0 / (RRF_K + rank + 1) for rank in (c.vector_rank, c.keyword_rank) if rank is not None
        )


def fuse_convex(candidates: Sequence[Candidate], vector_weight: float) -> None:
    """Set each score to a convex combination of min-max scaled cosine and full-text rank.

    Both scores are scaled to 0..1 over the pool (Bruch et al., 2023, "An Analysis of Fusion
    Functions for Hybrid Retrieval"); every candidate has both, since each retriever's query
    computes the other's score too. A chunk no query word matched has full-text score 0.
    """
    if not candidates:
        return
    sims = [c.similarity for c in candidates]
    lo, hi = min(sims), max(sims)
    kw_hi = max(c.keyword_score for c in candidates)
    for c in candidates:
        v = (c.similarity - lo) / (hi - lo) if hi > lo else 1.0
        t = c.keyword_score / kw_hi if kw_hi > 0 else 0.0
        c.score = vector_weight * v + (1.0 - vector_weight) * t


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
    ts_query = _ts_query(query_terms(query))
    if ts_query is None or not knowledge_base_ids or k <= 0:
        return []
    if embedding is not None:
        _check_embedding(embedding)
    vec = list(embedding) if embedding is not None else [1.0] + [0.0] * (EMBEDDING_DIM - 1)
    found = _keyword_candidates(vec, ts_query, knowledge_base_ids, k)
    for rank, c in enumerate(found):
        c.keyword_rank, c.score = rank, c.keyword_score
    with_sim = embedding is not None
    return [_hit(c, relevance(c.similarity) if with_sim else 0.0, with_similarity=with_sim)
            for c in found]  # fmt: skip


def chunk_search_hybrid(
    *,
    query: str,
    embedding: Sequence[float],
    knowledge_base_ids: Sequence[int],
    k: int,
    fusion: FusionMethod | None = None,
    vector_weight: float | None = None,
    rescore: bool | None = None,
    candidates: int | None = None,
    ef_search: int | None = None,
) -> list[SearchHit]:
    """Search chunks by meaning and by words, fused, optionally re-scored.

    Each retriever returns ``candidates`` chunks and computes the other's score for them, so
    fusion and re-scoring see complete evidence for the whole pool.

    Args:
        query: The visitor's words (for full-text search); cleaned with ``query_clean``.
        embedding: The query's embedding (for vector search); embed ``query_clean(query)``.
        knowledge_base_ids: Where to search.
        k: How many hits to return.
        fusion: ``"rrf"`` or ``"convex"``; ``CHATAPP_RETRIEVAL_FUSION`` when None.
        vector_weight: Vector share of a convex combination; ``CHATAPP_RETRIEVAL_VECTOR_WEIGHT``
            when None.
        rescore: Re-score the fused top (``rescoring.py``); ``CHATAPP_RETRIEVAL_RESCORE`` when
            None.
        candidates: Chunks per retriever; ``CHATAPP_RETRIEVAL_CANDIDATES`` when None.
        ef_search: HNSW candidate list size; ``CHATAPP_HNSW_EF_SEARCH`` when None.

    Returns:
        Up to ``k`` hits, best first. A query without words (empty, punctuation) gives ``[]``.

    Raises:
        ValueError: Unknown fusion method, or an embedding of the wrong dimension.
    """
    method = fusion or settings.CHATAPP_RETRIEVAL_FUSION
    if method not in FUSION_METHODS:
        raise ValueError(ERR_FUSION.format(got=method))
    _check_embedding(embedding)
    terms = query_terms(query)
    if not terms or not knowledge_base_ids or k <= 0:
        return []
    weight = settings.CHATAPP_RETRIEVAL_VECTOR_WEIGHT if vector_weight is None else vector_weight
    limit = max(candidates or settings.CHATAPP_RETRIEVAL_CANDIDATES, k)
    ef = ef_search or settings.CHATAPP_HNSW_EF_SEARCH
    use_rescore = settings.CHATAPP_RETRIEVAL_RESCORE if rescore is None else rescore
    ts_query = _ts_query(terms)
    kbs = knowledge_base_ids
    pool: dict[int, Candidate] = {}
    for rank, c in enumerate(_vector_candidates(embedding, ts_query, kbs, limit, ef, use_rescore)):
        c.vector_rank = rank
        pool[c.chunk_id] = c
    for rank, c in enumerate(_keyword_candidates(embedding, ts_query, kbs, limit, use_rescore)):
        pool.setdefault(c.chunk_id, c).keyword_rank = rank
    found = list(pool.values())
    if method == "rrf":
        fuse_rrf(found)
    else:
        fuse_convex(found, weight)
    found.sort(key=lambda c: (-c.score, c.chunk_id))
    if use_rescore:
        found = rescore_candidates(found, query_stats(terms, kbs))
    return [_hit(c, relevance(c.similarity)) for c in found[:k]]
