"""Fusion of the two retrievers' evidence into one ranking, including query-adaptive weighting.

Pure Python over the candidate pool (no queries). Every candidate carries both retrievers'
scores (cosine, and the full-text rank), and BM25 over the pool where the method needs it
(``bm25_scores``); the methods differ in how they normalise and weigh them. How each was
measured, and why the default is what it is: bench/results/retrieval.md,
docs/notes/issue-7-fusion.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from chatapp.knowledge.selectors.rescoring import (
    Candidate,
    QueryStats,
    bm25,
    fuse_convex,
    fuse_rrf,
)

FusionMethod = Literal["rrf", "convex", "convex-bm25", "adaptive"]
FUSION_METHODS: Final = ("rrf", "convex", "convex-bm25", "adaptive")
# Methods that read the candidates' tsvectors (BM25 over the pool): one more query.
LEXICAL_METHODS: Final = frozenset({"convex-bm25", "adaptive"})

# Adaptive fusion: the keyword leg's share grows with how much of the query's rare-word mass
# (IDF-weighted) its best chunk holds. A query whose rare words all sit in one chunk is the
# case keyword search wins ("error E1042", a product name); one whose words are everywhere or
# nowhere (paraphrase, chat) is the case the embedding wins.
# The default since session 20: of every method and grid point, 0.7-0.95 had the largest smallest
# margin over the better single retriever on the seven sets the rule reads (0.6-0.9 within noise
# of it), and it beat the old default (convex 0.9) on both sets made after the rule
# (bench/results/retrieval.md, docs/notes/issue-7-fusion.md).
ADAPTIVE_VECTOR_WEIGHT_LOW: Final = 0.7  # vector share when the top chunk holds every rare word
ADAPTIVE_VECTOR_WEIGHT_HIGH: Final = 0.95  # vector share when it holds none


def pool_bm25(candidates: Sequence[Candidate], stats: QueryStats) -> list[float]:
    """BM25 of each candidate (IDF from the table statistics, lengths over the pool).

    The candidates need their tsvectors (``vector_text``) or the query lexemes' counts
    (``Candidate.set_counts``); 0 for a candidate with neither.
    """
    if not candidates:
        return []
    lengths = [c.length for c in candidates]
    avg = sum(lengths) / len(lengths)
    return [bm25(c, stats, avg) for c in candidates]


def _minmax(values: Sequence[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [(v - lo) / (hi - lo) if hi > lo else 1.0 for v in values]


def _max_scaled(values: Sequence[float]) -> list[float]:
    hi = max(values)
    return [v / hi if hi > 0 else 0.0 for v in values]


def fuse_weighted(
    candidates: Sequence[Candidate], lexical: Sequence[float], vector_weight: float
) -> None:
    """Set each score to ``w * minmax(cosine) + (1 - w) * lexical / max(lexical)``.

    Args:
        candidates: The pool.
        lexical: One lexical score per candidate (full-text rank or BM25), 0 when unmatched.
        vector_weight: The vector share ``w`` in 0..1.
    """
    if not candidates:
        return
    v = _minmax([c.similarity for c in candidates])
    t = _max_scaled(lexical)
    for c, vs, ts in zip(candidates, v, t, strict=True):
        c.score = vector_weight * vs + (1.0 - vector_weight) * ts


def keyword_confidence(candidates: Sequence[Candidate], lexical: Sequence[float],
                       stats: QueryStats) -> float:  # fmt: skip
    """IDF-weighted share of the query's content words held by the best lexical candidate.

    0 when nothing matched; 1 when the chunk the keyword leg ranks first holds every content
    word. Needs the candidates' ``vector_text``.
    """
    if not candidates or max(lexical, default=0.0) <= 0:
        return 0.0
    best = max(range(len(candidates)), key=lambda i: (lexical[i], -candidates[i].chunk_id))
    tf = candidates[best].term_frequencies
    terms = stats.content
    total = sum(stats.idf(t) for t in terms)
    if total <= 0:
        return 0.0
    held = sum(stats.idf(t) for t in terms if any(tf.get(lx, 0) for lx in t.lexemes))
    return held / total


def adaptive_vector_weight(
    confidence: float,
    low: float = ADAPTIVE_VECTOR_WEIGHT_LOW,
    high: float = ADAPTIVE_VECTOR_WEIGHT_HIGH,
) -> float:
    """The vector share for a keyword confidence in 0..1: ``high`` at 0, down to ``low`` at 1."""
    c = min(max(confidence, 0.0), 1.0)
    return high - (high - low) * c


def fuse_adaptive(
    candidates: Sequence[Candidate],
    stats: QueryStats,
    low: float = ADAPTIVE_VECTOR_WEIGHT_LOW,
    high: float = ADAPTIVE_VECTOR_WEIGHT_HIGH,
) -> float:
    """Convex fusion of cosine and pool BM25 with a per-query vector weight.

    Args:
        candidates: The pool, with ``vector_text`` fetched.
        stats: The query's terms and document frequencies.
        low: Vector weight when the keyword leg's best chunk holds all the query's words.
        high: Vector weight when it holds none.

    Returns:
        The vector weight used (for the trace and the benchmark).
    """
    lexical = pool_bm25(candidates, stats)
    weight = adaptive_vector_weight(keyword_confidence(candidates, lexical, stats), low, high)
    fuse_weighted(candidates, lexical, weight)
    return weight


def fuse_pool(
    candidates: Sequence[Candidate],
    stats: QueryStats,
    method: str,
    *,
    vector_weight: float,
    rrf_k: int,
) -> None:
    """Set every candidate's ``score`` by ``method`` (one of ``FUSION_METHODS``).

    - ``rrf``: reciprocal rank fusion with constant ``rrf_k``.
    - ``convex``: ``vector_weight`` x min-max cosine + the rest x ``ts_rank_cd`` (scaled).
    - ``convex-bm25``: the same with pool BM25 instead of ``ts_rank_cd``.
    - ``adaptive``: ``convex-bm25`` with a per-query weight (``fuse_adaptive``);
      ``vector_weight`` is ignored.

    Raises:
        ValueError: An unknown method.
    """
    if method == "rrf":
        fuse_rrf(candidates, rrf_k)
    elif method == "convex":
        fuse_convex(candidates, vector_weight)
    elif method == "convex-bm25":
        fuse_weighted(candidates, pool_bm25(candidates, stats), vector_weight)
    elif method == "adaptive":
        fuse_adaptive(candidates, stats)
    else:
        raise ValueError(method)
