"""Retrieval in numpy: documents scored by their best chunk, BM25, the app's convex fusion, metrics.

Pure functions over score matrices of shape (queries, chunks); ``bench.embedders`` feeds them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

K = 10
POOL = 40  # chunks per retriever before fusion, as CHATAPP_RETRIEVAL_CANDIDATES
BM25_K1, BM25_B = 1.2, 0.75
STOPWORDS = frozenset(  # English function words and chat fillers; no stemming but plural "s"
    "a an and are as at be but by can do does for from has have how i if in is it its me my of on "  # noqa: SIM905
    "or so that the their then there this to was what when where which who why will with you "
    "your um uh erm hi hey like just please thanks ok".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def doc_scores(
    chunk_scores: npt.NDArray[Any], chunk_doc: npt.NDArray[np.int64], n_docs: int
) -> npt.NDArray[np.float64]:
    """Each document's best chunk score, per query: (queries, chunks) -> (queries, docs)."""
    out = np.full((chunk_scores.shape[0], n_docs), -np.inf)
    np.maximum.at(out.T, chunk_doc, chunk_scores.T)
    return out


def gold_ranks(scores: npt.NDArray[Any], gold: Sequence[int]) -> list[int]:
    """1-based rank of each query's gold document (ties count against it)."""
    g = scores[np.arange(len(gold)), np.asarray(gold)]
    return [int(r) for r in (scores >= g[:, None]).sum(axis=1)]


def metrics(ranks: Sequence[int]) -> dict[str, float]:
    """R@1, R@10 and MRR@10 of 1-based gold ranks."""
    if not ranks:
        return {"r1": math.nan, "r10": math.nan, "mrr": math.nan, "n": 0}
    return {
        "r1": sum(r == 1 for r in ranks) / len(ranks),
        "r10": sum(r <= K for r in ranks) / len(ranks),
        "mrr": sum(1.0 / r for r in ranks if r <= K) / len(ranks),
        "n": len(ranks),
    }


def words(text: str) -> list[str]:
    """BM25 terms: lower-case alphanumeric words, no stop words, a plural "s" stripped."""
    out = []
    for w in _WORD.findall(text.lower()):
        if w in STOPWORDS:
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def bm25_matrix(queries: Sequence[str], docs: Sequence[str]) -> npt.NDArray[np.float64]:
    """Okapi BM25 of every (query, doc) pair, IDF and lengths over ``docs``."""
    vocab: dict[str, int] = {}
    rows = [[vocab.setdefault(w, len(vocab)) for w in words(d)] for d in docs]
    tf = np.zeros((len(docs), len(vocab)))
    for i, row in enumerate(rows):
        np.add.at(tf[i], row, 1.0)
    lengths, df = tf.sum(axis=1), (tf > 0).sum(axis=0)
    idf = np.log(1.0 + (len(docs) - df + 0.5) / (df + 0.5))
    norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / max(lengths.mean(), 1.0))
    weight = tf * (BM25_K1 + 1) / (tf + norm[:, None]) * idf[None, :]
    query_terms = np.zeros((len(queries), len(vocab)))
    for qi, q in enumerate(queries):
        query_terms[qi, [vocab[w] for w in set(words(q)) if w in vocab]] = 1.0
    out: npt.NDArray[np.float64] = query_terms @ weight.T
    return out


def fuse(vector: npt.NDArray[Any], lexical: npt.NDArray[Any], w: float) -> npt.NDArray[Any]:
    """The app's convex fusion per query over a pool (top ``POOL`` of each retriever).

    Vector scores are min-max scaled over the pool, BM25 divided by its pool maximum; chunks
    outside the pool score -inf.
    """
    out = np.full(vector.shape, -np.inf)
    for q in range(vector.shape[0]):
        lex_top = np.argsort(-lexical[q])[:POOL]
        pool = np.union1d(np.argsort(-vector[q])[:POOL], lex_top[lexical[q, lex_top] > 0])
        v, t = vector[q, pool], lexical[q, pool]
        v = (v - v.min()) / (v.max() - v.min()) if v.max() > v.min() else np.ones_like(v)
        t = t / t.max() if t.max() > 0 else np.zeros_like(t)
        out[q, pool] = w * v + (1 - w) * t
    return out


def sentence_max(
    scores: npt.NDArray[Any], sentence_chunk: npt.NDArray[np.int64], fallback: npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """Each chunk's best sentence score; a chunk without a sentence keeps ``fallback``."""
    out = np.full(fallback.shape, -np.inf, dtype=np.float32)
    np.maximum.at(out.T, sentence_chunk, scores.T)
    return np.where(np.isfinite(out), out, fallback)


def rerank(
    first: npt.NDArray[Any], second: npt.NDArray[Any], chunk_doc: npt.NDArray[np.int64], depth: int
) -> npt.NDArray[Any]:
    """Chunk scores ranking documents as ``first`` does, its top ones re-ordered by ``second``."""
    n_docs = int(chunk_doc.max()) + 1
    d1 = doc_scores(first, chunk_doc, n_docs)
    d2 = doc_scores(second, chunk_doc, n_docs)
    top = np.argsort(-d1, axis=1)[:, :depth]
    out = d1 - 10.0  # below every re-ranked document (cosines lie in [-1, 1])
    np.put_along_axis(out, top, np.take_along_axis(d2, top, axis=1), axis=1)
    return out[:, chunk_doc]  # one chunk per document carries its document's score
