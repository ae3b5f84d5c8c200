"""Ranking of search candidates: fusion, a lexical second look (re-scoring), calibrated relevance.

Pure Python over candidates the selectors fetched (no queries here). No cross-encoder ships
as packaged weights (MODELS.md), so the re-scorer combines what the first stage already has:
the cosine similarity, BM25 over the candidate pool (Postgres has no IDF-aware rank), and
whether the query's rarer words appear in the chunk's title and headings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

# Reciprocal rank fusion constant from Cormack et al. (2009); damps the top ranks' dominance.
RRF_K: Final = 60
# BM25 constants (Robertson & Zaragoza, 2009): the usual values.
BM25_K1: Final = 1.2
BM25_B: Final = 0.75
# Re-scoring weights, picked on the Python FAQ (bench/results/retrieval.md): the cosine carries
# the meaning, BM25 (scaled to 0..1 over the re-scored top) the rare words, headings the topic.
# Measured: it helps section-level (anchor) recall and costs some page-level MRR, so
# CHATAPP_RETRIEVAL_RESCORE stays off by default.
RESCORE_DEPTH: Final = 30  # only the fused top is re-scored; deeper ranks rarely climb to top k
W_COSINE: Final = 1.0
W_BM25: Final = 0.1
W_HEADING: Final = 0.05
# Relevance: a logistic over the cosine, centred where MiniLM's question/passage similarities
# turn from unrelated to related on the demo help centre (bench/results/retrieval.md), minus a
# penalty for query words the knowledge base never uses.
REL_CENTER: Final = 0.4
REL_SLOPE: Final = 12.0
REL_UNKNOWN_PENALTY: Final = 0.3

_TSVECTOR_RE: Final = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")


@dataclass(frozen=True)
class QueryTerm:
    """A query word as the full-text index sees it.

    Attributes:
        word: The word as typed (lower-cased).
        lexemes: Its normalised forms (usually one stem); empty for a stop word.
        df: Estimated number of chunks holding it (table-wide column statistics).
        present: Whether any chunk of the searched knowledge bases holds it.
    """

    word: str
    lexemes: tuple[str, ...]
    df: int
    present: bool = True


@dataclass(frozen=True)
class QueryStats:
    """The query's terms and the size of the searched collection, for IDF."""

    terms: tuple[QueryTerm, ...]
    total: int

    def idf(self, term: QueryTerm) -> float:
        """BM25's IDF, always positive: log(1 + (N - df + 0.5) / (df + 0.5))."""
        n = max(self.total, term.df)
        return math.log(1.0 + (n - term.df + 0.5) / (term.df + 0.5))

    @property
    def content(self) -> tuple[QueryTerm, ...]:
        """Terms that are not stop words."""
        return tuple(t for t in self.terms if t.lexemes)

    @property
    def unknown_share(self) -> float:
        """Share of the content words that no chunk of the searched knowledge bases holds."""
        content = self.content
        return sum(not t.present for t in content) / len(content) if content else 0.0


@dataclass
class Candidate:
    """A chunk in the candidate pool, with the evidence both retrievers found for it."""

    chunk_id: int
    document_id: int
    title: str
    text: str
    source_url: str
    heading_path: str
    anchor: str
    similarity: float
    keyword_score: float
    vector_text: str = ""  # the chunk's tsvector as text: 'lexeme':1,4 ...
    heading_vector_text: str = ""  # tsvector of title + heading path
    vector_rank: int | None = None  # 0-based rank in the vector list
    keyword_rank: int | None = None  # 0-based rank in the keyword list
    score: float = 0.0
    _tf: dict[str, int] | None = field(default=None, repr=False)
    _length: int | None = field(default=None, repr=False)

    @property
    def term_frequencies(self) -> dict[str, int]:
        """Lexeme → occurrences in the chunk (parsed once from ``vector_text``).

        After ``set_counts``, only the query's lexemes are there.
        """
        if self._tf is None:
            self._tf = parse_tsvector(self.vector_text)
        return self._tf

    @property
    def length(self) -> int:
        """How many distinct lexemes the chunk indexes: BM25's length (``length(tsvector)``)."""
        if self._length is None:
            self._length = len(self.term_frequencies)
        return self._length

    def set_counts(self, query_lexemes: dict[str, int], length: int) -> None:
        """Take the query lexemes' counts and the length from the database, not the tsvector."""
        self._tf, self._length = query_lexemes, length


# --- Fusion -----------------------------------------------------------------------------------


def fuse_rrf(candidates: Sequence[Candidate], k: int = RRF_K) -> None:
    """Set each score to the reciprocal rank fusion sum of 1 / (k + rank), ranks from 1."""
    for c in candidates:
        c.score = sum(
            1.0 / (k + rank + 1) for rank in (c.vector_rank, c.keyword_rank) if rank is not None
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


# --- Re-scoring and relevance ---------------------------------------------------------------


def parse_tsvector(text: str) -> dict[str, int]:
    """Parse a tsvector's text form into lexeme → number of positions (1 when unpositioned)."""
    out: dict[str, int] = {}
    for match in _TSVECTOR_RE.finditer(text or ""):
        positions = match.group(2)
        out[match.group(1).replace("''", "'")] = len(positions.split(",")) if positions else 1
    return out


def _tf(term: QueryTerm, tf: dict[str, int]) -> int:
    return sum(tf.get(lexeme, 0) for lexeme in term.lexemes)


def bm25(candidate: Candidate, stats: QueryStats, avg_length: float) -> float:
    """BM25 of a chunk for the query; lengths count distinct lexemes (as Postgres' ``length``).

    Distinct lexemes rather than words: Postgres gives that count without reading every lexeme's
    positions, and it orders chunks by length much as the word count does.
    """
    tf = candidate.term_frequencies
    length = candidate.length
    norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / max(avg_length, 1.0))
    score = 0.0
    for term in stats.content:
        f = _tf(term, tf)
        if f:
            score += stats.idf(term) * f * (BM25_K1 + 1.0) / (f + norm)
    return score


def coverage(tfs: Sequence[dict[str, int]], stats: QueryStats) -> float:
    """IDF-weighted share of the query's content words found in any of ``tfs`` (0..1)."""
    terms = stats.content
    total = sum(stats.idf(t) for t in terms)
    if total <= 0:
        return 0.0
    found = sum(stats.idf(t) for t in terms if any(_tf(t, tf) for tf in tfs))
    return found / total


def rescore_candidates(candidates: list[Candidate], stats: QueryStats) -> list[Candidate]:
    """Re-rank the fused top ``RESCORE_DEPTH`` by cosine, pool BM25 and heading matches.

    Args:
        candidates: The fused pool, best first (the order to keep below the depth).
        stats: The query's terms with document frequencies.

    Returns:
        The same candidates, the top re-ordered by the new ``score`` (the rest keep their
        fused order and sit below).
    """
    top, rest = candidates[:RESCORE_DEPTH], candidates[RESCORE_DEPTH:]
    if not top:
        return candidates
    avg = sum(c.length for c in top) / len(top)
    lexical = [bm25(c, stats, avg) for c in top]
    best = max(lexical) or 1.0
    for c, bm in zip(top, lexical, strict=True):
        heading = coverage([parse_tsvector(c.heading_vector_text)], stats)
        c.score = W_COSINE * c.similarity + W_BM25 * bm / best + W_HEADING * heading
    top.sort(key=lambda c: (-c.score, c.chunk_id))
    floor = min(c.score for c in top)
    for i, c in enumerate(rest):  # keep them below the re-scored ones, in fused order
        c.score = floor - 1.0 - i * 1e-6
    return top + rest


def relevance(similarity: float, unknown_share: float = 0.0) -> float:
    """Calibrated 0..1 relevance of a hit, comparable across searches.

    A logistic over the cosine similarity, lowered when the query holds words the knowledge
    base has never seen (a question about something it does not cover: "thermostats").

    Args:
        similarity: The hit's cosine similarity with the query.
        unknown_share: ``QueryStats.unknown_share`` of the query.
    """
    x = similarity - REL_CENTER - REL_UNKNOWN_PENALTY * unknown_share
    return 1.0 / (1.0 + math.exp(-REL_SLOPE * x))
