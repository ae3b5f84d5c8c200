"""Evidence fetched for a candidate pool after the candidate queries: one query by primary key.

The candidate queries return each chunk's text and both retrievers' scores. What fusion needs
beyond that is fetched here, for the pool's few dozen chunks only:
- the cosine similarity of keyword-only candidates, found before the query vector was known;
- for BM25 (``convex-bm25``, ``adaptive``): how often each query lexeme occurs in the chunk and
  how many lexemes it indexes, from Postgres (``counts``), so Python parses no whole tsvector;
- for re-scoring and the benchmark: the whole tsvectors as text (``tsvectors``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Literal

from django.contrib.postgres.search import SearchVector
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast
from pgvector.django import CosineDistance

from chatapp.knowledge.models import FTS_CONFIG, Chunk
from chatapp.knowledge.selectors.rescoring import Candidate, QueryStats, parse_tsvector

# What a pool fetches for the lexical methods: nothing, the query lexemes' counts, or tsvectors.
LexicalFields = Literal["none", "counts", "tsvectors"]
_CHUNK_TABLE: Final = Chunk._meta.db_table
# The chunk's tsvector cut to the query's lexemes (marked with weight A, then kept; the column has
# no weights of its own), and its number of lexemes: all in C, where unnesting every lexeme
# cost the query twice as much.
_COUNTS_SQL: Final = f"""
SELECT c.id,
       CASE WHEN c.id = ANY(%(unscored)s) THEN c.embedding <=> %(vector)s::vector END,
       length(c.search_vector),
       ts_filter(setweight(c.search_vector, 'A', %(lexemes)s::text[]), '{{a}}')::text
FROM {_CHUNK_TABLE} AS c
WHERE c.id = ANY(%(ids)s)
"""  # noqa: S608  (the table name is the model's; every value is a bound parameter)


def similarity_of(distance: float | None) -> float:
    """Cosine similarity from pgvector's distance; NaN while unknown (see ``add_similarity``)."""
    if distance is None:  # fetched before the query vector was known
        return math.nan
    # A zero vector has no direction: pgvector answers NaN; treat it as unrelated.
    return 0.0 if math.isnan(float(distance)) else 1.0 - float(distance)


def add_similarity(candidates: Sequence[Candidate], embedding: Sequence[float]) -> None:
    """Cosine similarity for candidates fetched before the query vector was known."""
    by_id = {c.chunk_id: c for c in candidates}
    rows = (
        Chunk.objects.filter(pk__in=list(by_id))
        .annotate(distance=CosineDistance("embedding", list(embedding)))
        .values_list("id", "distance")
    )
    for chunk_id, distance in rows:
        by_id[chunk_id].similarity = similarity_of(distance)


def add_counts(
    candidates: Sequence[Candidate],
    unscored: Sequence[Candidate],
    embedding: Sequence[float],
    stats: QueryStats,
) -> None:
    """The query lexemes' counts and lexeme totals of every candidate; similarity of ``unscored``.

    One query: the keyword-only candidates' similarity rides along, so BM25 fusion costs no
    more round trips than convex fusion.
    """
    by_id = {c.chunk_id: c for c in candidates}
    unscored_ids = {c.chunk_id for c in unscored}
    params: dict[str, Any] = {
        "ids": list(by_id),
        "unscored": list(unscored_ids),
        "vector": "[" + ",".join(repr(float(x)) for x in embedding) + "]",
        "lexemes": sorted({lx for t in stats.content for lx in t.lexemes}),
    }
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS_SQL, params)
        rows = cursor.fetchall()
    for chunk_id, distance, length, held in rows:
        c = by_id[chunk_id]
        if chunk_id in unscored_ids:
            c.similarity = similarity_of(distance)
        c.set_counts(parse_tsvector(held), int(length or 0))


def add_tsvectors(candidates: Sequence[Candidate]) -> None:
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


def add_evidence(
    found: Sequence[Candidate],
    keyword_only: Sequence[Candidate],
    embedding: Sequence[float],
    stats: QueryStats,
    lexical: LexicalFields,
) -> None:
    """Complete a pool's evidence (see the module docstring) in as few queries as it needs."""
    if lexical == "counts" and found:
        add_counts(found, keyword_only, embedding, stats)
        return
    if keyword_only:
        add_similarity(keyword_only, embedding)
    if lexical == "tsvectors" and found:
        add_tsvectors(found)
