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
    RESCORE_DEPTH,
    Candidate,
    QueryStats,
    QueryTerm,
    fuse_convex,
    fuse_rrf,
    relevance,
    rescore_candidates,
)

FusionMethod = Literal["rrf", "convex"]
FUSION_METHODS: Final = ("rrf", "convex")

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
_PARTS_RE: Final = re.compile(r"[^\W\d_]+|\d+")  # letter runs and digit runs
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# websearch_to_tsquery reads these words as operators; as search terms they are stop words.
_OPERATOR_WORDS: Final = frozenset({"or", "and", "not"})


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
    if len(text) > MAX_QUERY_CHARS:  # cut before the word that crosses the limit
        text = text[: MAX_QUERY_CHARS + 1].rsplit(" ", 1)[0][:MAX_QUERY_CHARS]
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

# ts_rank_cd reads every matching row's tsvector (~10 µs a row on 2 busy cores), so the words
# that select rows are chosen to match about this many rows; every content word still ranks.
MATCH_BUDGET_ROWS: Final = 1000
MAX_AND_WORDS: Final = 3
_CHUNK_TABLE: Final = Chunk._meta.db_table
# Word frequencies come from the planner's statistics (ANALYZE keeps the 1000 commonest
# lexemes of the tsvector column with their frequencies): a catalog read, not a count.
_TERM_STATS_SQL: Final = f"""
WITH s AS (
    SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
    FROM pg_stats
    WHERE schemaname = current_schema() AND tablename = %(table)s AND attname = 'search_vector'
    LIMIT 1
)
SELECT w.word,
       lx.lexemes,
       f.freq,
       (SELECT s.freqs[array_length(s.elems, 1) + 1] FROM s),
       (SELECT reltuples FROM pg_class WHERE oid = %(table)s::regclass),
       CASE WHEN cardinality(lx.lexemes) = 0 THEN false
            WHEN f.freq IS NOT NULL THEN true
            ELSE (SELECT count(*) FROM {_CHUNK_TABLE} c
                  WHERE c.knowledge_base_id = ANY(%(kbs)s)
                    AND c.search_vector @@ websearch_to_tsquery(%(config)s::regconfig, w.word)) > 0
              OR (w.parts <> '' AND (SELECT count(*) FROM {_CHUNK_TABLE} c
                  WHERE c.knowledge_base_id = ANY(%(kbs)s)
                    AND c.search_vector @@ websearch_to_tsquery(%(config)s::regconfig, w.parts))
                  > 0)
       END
FROM unnest(%(words)s::text[], %(parts)s::text[]) WITH ORDINALITY AS w(word, parts, i)
CROSS JOIN LATERAL (
    SELECT ARRAY(SELECT lexeme FROM unnest(to_tsvector(%(config)s::regconfig, w.word))) AS lexemes
) AS lx
CROSS JOIN LATERAL (
    SELECT max(s.freqs[array_position(s.elems, l.lexeme)]) AS freq
    FROM s, unnest(lx.lexemes) AS l(lexeme)
) AS f
ORDER BY w.i
"""  # noqa: S608  (the table name is the model's; every value is a bound parameter)

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
    """Each query word's lexemes, estimated document frequency and presence, in one query.

    Frequencies come from the column statistics (table-wide, refreshed by ANALYZE; a catalog
    read, not a count); a word outside the most common elements counts as half the least
    common one, and without statistics (a table never analysed) as 0. A word among the common
    elements counts as present; whether the searched knowledge bases hold a rarer one is
    counted through the GIN index (a count, not EXISTS: EXISTS would make the planner scan the
    table for a word that is not there).

    Args:
        terms: Words from ``query_terms``.
        knowledge_base_ids: Where presence is checked.

    Returns:
        The terms in order, and the estimated number of chunks in the table.
    """
    if not terms:
        return QueryStats((), 0)
    params: dict[str, Any] = {
        "config": FTS_CONFIG,
        "table": _CHUNK_TABLE,
        "words": list(terms),
        # "5ghz" is present when a chunk says "5 GHz": the parts, AND-ed, count too.
        "parts": [" ".join(_PARTS_RE.findall(t)) if _PARTS_RE.fullmatch(t) is None else ""
                  for t in terms],
        "kbs": list(knowledge_base_ids),
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_TERM_STATS_SQL, params)
        rows = cursor.fetchall()
    total = max(int(rows[0][4] or 0), 0)
    out = []
    for word, lexemes, freq, floor, _, present in rows:
        estimate = freq if freq is not None else (floor or 0.0) / 2.0
        out.append(QueryTerm(word, tuple(lexemes or ()), round(estimate * total), bool(present)))
    return QueryStats(tuple(out), total)


def match_words(stats: QueryStats) -> str:
    """The websearch text that selects rows: cheap enough to rank, as inclusive as that allows.

    The rarest content words whose estimated matches fit ``MATCH_BUDGET_ROWS`` are OR-ed; when
    even the rarest word is common, the rarest few are AND-ed until the estimate fits.

    Returns:
        ``"w1 or w2 ..."``, ``"w1 w2"`` (AND), or ``""`` when the query has no content words.
    """
    content = sorted(stats.content, key=lambda t: (t.df, t.word))
    chosen: list[str] = []
    rows = 0
    for term in content:
        if chosen and rows + term.df > MATCH_BUDGET_ROWS:
            break
        chosen.append(term.word)
        rows += term.df
    if rows <= MATCH_BUDGET_ROWS or len(content) == 1:
        return " or ".join(chosen)
    estimate = float(stats.total)
    words: list[str] = []
    for term in content[:MAX_AND_WORDS]:
        words.append(term.word)
        estimate *= term.df / stats.total  # words taken as independent
        if estimate <= MATCH_BUDGET_ROWS:
            break
    return " ".join(words)


def _rows(qs: QuerySet[Chunk]) -> list[Candidate]:
    out = []
    for row in qs.values_list(*_FIELDS):
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
            )
        )
    return out


def _annotated(
    embedding: Sequence[float],
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
    return Chunk.objects.filter(knowledge_base_id__in=list(kb_ids)).annotate(
        distance=CosineDistance("embedding", list(embedding)), kw=kw
    )


def _add_lexical_fields(candidates: Sequence[Candidate]) -> None:
    """Fetch the tsvectors the re-scorer reads, for these candidates only.

    A separate query: in the candidate queries Postgres would cast every matching row's
    tsvector to text before sorting, not just the rows kept.
    """
    by_id = {c.chunk_id: c for c in candidates}
    rows = (
        Chunk.objects.filter(pk__in=list(by_id))
        .annotate(
            sv=Cast("search_vector", TextField()),
            hv=Cast(
                SearchVector("document__title", "heading_path", config=FTS_CONFIG), TextField()
            ),
        )
        .values_list("id", "sv", "hv")
    )
    for chunk_id, sv, hv in rows:
        by_id[chunk_id].vector_text = sv or ""
        by_id[chunk_id].heading_vector_text = hv or ""


def _vector_candidates(
    embedding: Sequence[float],
    ts_query: SearchQuery | None,
    kb_ids: Sequence[int],
    limit: int,
    ef_search: int,
) -> list[Candidate]:
    qs = _annotated(embedding, ts_query, kb_ids).order_by(F("distance").asc())[:limit]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true)", [str(hnsw_ef(ef_search, limit))]
        )
        found = _rows(qs)
        if len(found) < limit // 2:
            # Few rows survived the filter (a small knowledge base in a big table: pgvector 0.6
            # filters after the index scan), or the knowledge bases hold few chunks: search them
            # exactly, which is cheap for few rows and right for a filtered big table.
            cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
            found = _rows(qs)
    return found


def hnsw_ef(ef_search: int, limit: int) -> int:
    """The ``hnsw.ef_search`` a search runs with: at least twice the rows it wants.

    HNSW yields at most ef_search rows and the knowledge-base filter runs after it, so the
    margin keeps a dominant knowledge base from coming up a few rows short.
    """
    return min(max(ef_search, 2 * limit), MAX_EF_SEARCH)


def _keyword_candidates(
    embedding: Sequence[float],
    stats: QueryStats,
    kb_ids: Sequence[int],
    limit: int,
) -> list[Candidate]:
    rank_query = _ts_query([t.word for t in stats.content])
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
    vec = list(embedding) if embedding is not None else [1.0] + [0.0] * (EMBEDDING_DIM - 1)
    stats = query_stats(terms, knowledge_base_ids)
    found = _keyword_candidates(vec, stats, knowledge_base_ids, k)
    for rank, c in enumerate(found):
        c.keyword_rank, c.score = rank, c.keyword_score
    if embedding is None:
        return [_hit(c, 0.0, with_similarity=False) for c in found]
    return [_hit(c, relevance(c.similarity, stats.unknown_share)) for c in found]


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
    stats = query_stats(terms, knowledge_base_ids)
    ts_query = _ts_query([t.word for t in stats.content])
    kbs = knowledge_base_ids
    pool: dict[int, Candidate] = {}
    for rank, c in enumerate(_vector_candidates(embedding, ts_query, kbs, limit, ef)):
        c.vector_rank = rank
        pool[c.chunk_id] = c
    for rank, c in enumerate(_keyword_candidates(embedding, stats, kbs, limit)):
        pool.setdefault(c.chunk_id, c).keyword_rank = rank
    found = list(pool.values())
    if method == "rrf":
        fuse_rrf(found)
    else:
        fuse_convex(found, weight)
    found.sort(key=lambda c: (-c.score, c.chunk_id))
    if use_rescore:
        _add_lexical_fields(found[:RESCORE_DEPTH])
        found = rescore_candidates(found, stats)
    unknown = stats.unknown_share
    return [_hit(c, relevance(c.similarity, unknown)) for c in found[:k]]
