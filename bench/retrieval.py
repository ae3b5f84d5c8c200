"""Retrieval quality: Python FAQ over the Python docs (recall@k, MRR), and the demo threshold.

Every number comes from the real selectors on the real Postgres, so what is measured is what
the pipeline runs. The main table uses the recommended settings below (passed explicitly, so
the table does not depend on what settings/env say today) and adds a row for the current
settings when they differ.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.common import (
    BENCH_DB,
    Progress,
    Table,
    setup_django,
    vacuum_analyze,
    write_results,
)

DEPTH = 10  # recall@1/5/10 and MRR@10
# Recommended defaults (measured by this benchmark; see bench/results/retrieval.md):
RECOMMENDED: dict[str, Any] = {
    "fusion": "convex",
    "vector_weight": 0.8,
    "candidates": 40,
    "rescore": False,
    "ef_search": 100,
}
# The highest relevance threshold that lets every answerable demo question through.
RECOMMENDED_MIN_SCORE = 0.4
CONVEX_WEIGHTS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9)
CANDIDATE_SWEEP = (20, 40, 80)
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(2, 17))
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Scores:
    r1: float
    r5: float
    r10: float
    mrr: float
    anchor_r10: float
    anchor_mrr: float
    passing: float  # share of questions whose best hit passes RECOMMENDED_MIN_SCORE
    ms: float
    reciprocal_ranks: tuple[float, ...]

    def row(self, name: str) -> list[Any]:
        return [name, self.r1, self.r5, self.r10, self.mrr, self.anchor_r10, self.anchor_mrr,
                self.passing, self.ms]  # fmt: skip


COLUMNS = [
    "search", "R@1", "R@5", "R@10", "MRR@10", "anchor R@10", "anchor MRR",
    f"relevance ≥ {RECOMMENDED_MIN_SCORE}", "p50 ms",
]  # fmt: skip
Search = Callable[[str, list[float]], Sequence[Any]]


def _first_hit(keys: Sequence[Any], wanted: Callable[[Any], bool]) -> int | None:
    return next((i for i, key in enumerate(keys[:DEPTH]) if wanted(key)), None)


def evaluate(
    search: Search,
    questions: Sequence[Any],
    vectors: np.ndarray[Any, Any],
    doc_keys: dict[int, str],
    label: str,
) -> Scores:
    """Run ``search`` for every FAQ question; page hits and (page, anchor) hits."""
    page_ranks: list[int | None] = []
    anchor_ranks: list[int | None] = []
    best_relevance: list[float] = []
    times = []
    progress = Progress(label, len(questions), "questions", every_s=10.0)
    for q, v in zip(questions, vectors, strict=True):
        started = time.perf_counter()
        hits = search(q.question, v.tolist())
        times.append((time.perf_counter() - started) * 1000)
        best_relevance.append(max((h.relevance for h in hits), default=0.0))
        pages = [doc_keys.get(h.document_id, "") for h in hits]
        anchors = [(doc_keys.get(h.document_id, ""), h.anchor) for h in hits]
        page_ranks.append(_first_hit(pages, q.pages.__contains__))
        anchor_ranks.append(_first_hit(anchors, q.linked.__contains__))
        progress.advance()
    n = len(questions)

    def recall(ranks: list[int | None], k: int) -> float:
        return sum(1 for r in ranks if r is not None and r < k) / n

    def rr(ranks: list[int | None]) -> list[float]:
        return [0.0 if r is None else 1.0 / (r + 1) for r in ranks]

    return Scores(
        recall(page_ranks, 1),
        recall(page_ranks, 5),
        recall(page_ranks, 10),
        sum(rr(page_ranks)) / n,
        recall(anchor_ranks, 10),
        sum(rr(anchor_ranks)) / n,
        sum(r >= RECOMMENDED_MIN_SCORE for r in best_relevance) / n,
        float(np.median(times)),
        tuple(rr(page_ranks)),
    )


def paired_bootstrap(a: Sequence[float], b: Sequence[float]) -> float:
    """Share of question resamples in which ``a`` has the higher mean (MRR): P(a > b)."""
    rng = random.Random(7)
    n = len(a)
    wins = 0
    for _ in range(BOOTSTRAP):
        idx = [rng.randrange(n) for _ in range(n)]
        wins += sum(a[i] - b[i] for i in idx) > 0
    return wins / BOOTSTRAP


def _hybrid(kb: int, **options: Any) -> Search:
    from chatapp.knowledge import selectors as sel

    options.setdefault("ef_search", RECOMMENDED["ef_search"])
    return lambda q, v: sel.chunk_search_hybrid(
        query=q, embedding=v, knowledge_base_ids=[kb], k=DEPTH, **options
    )


def _searches(kb: int) -> dict[str, Search]:
    from django.conf import settings

    from chatapp.knowledge import selectors as sel

    rec = RECOMMENDED
    searches: dict[str, Search] = {
        "keyword only": lambda q, v: sel.chunk_search_keyword(
            query=q, knowledge_base_ids=[kb], k=DEPTH, embedding=v
        ),
        "vector only": lambda q, v: sel.chunk_search_vector(
            embedding=v, knowledge_base_ids=[kb], k=DEPTH, ef_search=rec["ef_search"]
        ),
        "hybrid rrf": _hybrid(kb, fusion="rrf", candidates=rec["candidates"], rescore=False),
        f"hybrid convex w={rec['vector_weight']}": _hybrid(
            kb,
            fusion="convex",
            vector_weight=rec["vector_weight"],
            candidates=rec["candidates"],
            rescore=False,
        ),
        f"hybrid {rec['fusion']} + rescore": _hybrid(
            kb,
            fusion=rec["fusion"],
            vector_weight=rec["vector_weight"],
            candidates=rec["candidates"],
            rescore=True,
        ),
    }
    current = (
        settings.CHATAPP_RETRIEVAL_FUSION,
        settings.CHATAPP_RETRIEVAL_VECTOR_WEIGHT,
        settings.CHATAPP_RETRIEVAL_CANDIDATES,
        settings.CHATAPP_RETRIEVAL_RESCORE,
        settings.CHATAPP_HNSW_EF_SEARCH,
    )
    wanted = tuple(
        rec[k] for k in ("fusion", "vector_weight", "candidates", "rescore", "ef_search")
    )
    if current != wanted:
        searches["hybrid, current settings"] = lambda q, v: sel.chunk_search_hybrid(
            query=q, embedding=v, knowledge_base_ids=[kb], k=DEPTH
        )
    return searches


def _sweeps(kb: int) -> dict[str, Search]:
    out: dict[str, Search] = {}
    for w in CONVEX_WEIGHTS:
        out[f"convex w={w}"] = _hybrid(kb, fusion="convex", vector_weight=w, rescore=False)
    for n in CANDIDATE_SWEEP:
        for fusion in ("rrf", "convex"):
            for rescore in (False, True):
                name = f"{fusion} candidates={n}" + (" + rescore" if rescore else "")
                out[name] = _hybrid(
                    kb, fusion=fusion, vector_weight=RECOMMENDED["vector_weight"],
                    candidates=n, rescore=rescore,
                )  # fmt: skip
    return out


def _demo(embedder: Any) -> tuple[list[list[Any]], list[list[Any]], list[dict[str, Any]]]:
    """Best-hit relevance of the 40 demo questions; the threshold sweep and the confusion."""
    from bench.corpus import demo_kb_ensure, demo_questions, documents_by_key
    from chatapp.knowledge.selectors import chunk_search_hybrid

    kb, _ = demo_kb_ensure(embedder)
    keys = documents_by_key(kb)
    questions = demo_questions()
    vectors = embedder.embed([q["question"] for q in questions])
    per_question = []
    for q, v in zip(questions, vectors, strict=True):
        hits = chunk_search_hybrid(
            query=q["question"], embedding=v.tolist(), knowledge_base_ids=[kb], k=4,
            fusion=RECOMMENDED["fusion"], vector_weight=RECOMMENDED["vector_weight"],
            candidates=RECOMMENDED["candidates"], rescore=RECOMMENDED["rescore"],
            ef_search=RECOMMENDED["ef_search"],
        )  # fmt: skip
        best = max(hits, key=lambda h: h.relevance) if hits else None
        per_question.append(
            {
                "question": q["question"],
                "kind": q["kind"],
                "page": q["page"],
                "relevance": best.relevance if best else 0.0,
                "similarity": best.similarity if best else 0.0,
                "top_page": keys.get(hits[0].document_id, "") if hits else "",
                "page_in_top4": q["page"] in {keys.get(h.document_id) for h in hits},
            }
        )
    answerable = [p for p in per_question if p["kind"] == "answerable"]
    oos = [p for p in per_question if p["kind"] != "answerable"]
    sweep = [
        [
            t,
            sum(p["relevance"] >= t for p in answerable),
            len(answerable),
            sum(p["relevance"] < t for p in oos),
            len(oos),
        ]
        for t in THRESHOLDS
    ]
    confusion = []
    for kind, group in (("answerable", answerable), ("out of scope", oos)):
        passing = sum(p["relevance"] >= RECOMMENDED_MIN_SCORE for p in group)
        confusion.append([kind, passing, len(group) - passing])
    found = sum(p["page_in_top4"] for p in answerable)
    confusion.append(["answerable with its page in the top 4", found, len(answerable) - found])
    return sweep, confusion, per_question


def _faq(kb: int, embedder: Any, quick: bool) -> tuple[list[Table], dict[str, Any]]:
    from bench.corpus import documents_by_key, faq_questions
    from chatapp.knowledge.models import Chunk

    doc_keys = documents_by_key(kb)
    questions = faq_questions()
    started = time.perf_counter()
    vectors = embedder.embed([q.question for q in questions], batch_size=64)
    embed_rate = len(questions) / (time.perf_counter() - started)
    scores = {name: evaluate(fn, questions, vectors, doc_keys, name)
              for name, fn in _searches(kb).items()}  # fmt: skip
    rows = [s.row(name) for name, s in scores.items()]
    chosen = next(s for name, s in scores.items() if name.startswith("hybrid convex"))
    odds = {
        single: paired_bootstrap(chosen.reciprocal_ranks, scores[single].reciprocal_ranks)
        for single in ("vector only", "keyword only")
    }
    chunks = Chunk.objects.filter(knowledge_base_id=kb).count()
    note = (
        f"{len(questions)} Python FAQ questions (of 87 with linked pages; 2 link only FAQ pages, "
        f"which stay out of the index), {chunks} chunks from {len(doc_keys)} pages. A hit is a "
        "chunk of a linked page; the anchor columns also need the chunk's section anchor to be "
        f"the linked one. Recommended: {RECOMMENDED}. Paired bootstrap over questions: "
        f"P(hybrid convex MRR > vector only) = {odds['vector only']:.2f}, "
        f"P(> keyword only) = {odds['keyword only']:.2f}. "
        f"Questions embedded at {embed_rate:.0f}/s (batch 64)."
    )
    tables = [Table("Retrieval quality, Python FAQ → Python docs", COLUMNS, rows, note)]
    data: dict[str, Any] = {"columns": COLUMNS, "rows": rows, "chunks": chunks, "odds": odds}
    if not quick:
        sweep_rows = [
            evaluate(fn, questions, vectors, doc_keys, name).row(name)
            for name, fn in _sweeps(kb).items()
        ]
        tables.append(Table("Tuning sweep (same questions)", COLUMNS, sweep_rows))
        data["sweep"] = sweep_rows
    return tables, data


def run(quick: bool = False) -> dict[str, Any]:
    from bench.common import embedder_load
    from bench.corpus import CorpusMissing, docs_kb_ensure

    setup_django(BENCH_DB)
    embedder = embedder_load()
    tables: list[Table] = []
    data: dict[str, Any] = {"recommended": RECOMMENDED, "min_score": RECOMMENDED_MIN_SCORE}
    try:
        kb, _ = docs_kb_ensure(embedder)
    except CorpusMissing as exc:
        print(f"retrieval: skipping the Python FAQ benchmark: {exc}", file=sys.stderr)
    else:
        vacuum_analyze()
        faq_tables, data["faq"] = _faq(kb, embedder, quick)
        tables += faq_tables
    sweep, confusion, per_question = _demo(embedder)
    tables.append(
        Table(
            "Demo help centre: relevance threshold sweep (best hit's relevance)",
            ["threshold", "answerable passing", "of", "out-of-scope below", "of"],
            sweep,
        )
    )
    tables.append(
        Table(
            f"Demo confusion at relevance threshold {RECOMMENDED_MIN_SCORE}",
            ["question kind", "passes (answered)", "below (hand-off)"],
            confusion,
            note=(
                "Relevance = the best hit's SearchHit.relevance. In-sample: the threshold and "
                "the relevance formula were set on these 40 questions."
            ),
        )
    )
    data["demo"] = {"sweep": sweep, "confusion": confusion, "questions": per_question}
    write_results("retrieval-quick" if quick else "retrieval", data, tables)
    return data
