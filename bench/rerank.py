"""A second-stage rerank by the local LLM: P(relevant) over the default's top 10, per question.

The packaged option MODELS.md names (no cross-encoder ships with its weights): the answering
model reads "passage + question" and its probability of "Yes" as the next token re-orders the
default search's top ``RERANK_DEPTH``, all passages of a question in one batched call. It is
measured on a small sample of held-out questions because on 2 CPU cores each question costs
seconds; the table gives its latency beside the default's, and its MRR on the same questions.
``CHATAPP_BENCH_RERANK_QUESTIONS`` (default 12) sets the sample per set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import BENCH_DB, Progress, Table, setup_django, write_results

RERANK_DEPTH = 10
SETS = ("handbook", "conversational", "northwind")
PROMPT = (
    "Passage:\n{passage}\n\nQuestion: {question}\n\n"
    "Does the passage answer the question? Answer with a single word: Yes or No."
)


def _generator() -> Any:
    from django.conf import settings

    from workers.inference.convert_ct2 import ct2_folder_for
    from workers.inference.generator_ct2 import CT2Generator

    return CT2Generator(ct2_folder_for(Path(settings.CHATAPP_LLM_MODEL)))


def run(quick: bool = False) -> dict[str, Any]:
    from bench.common import embedder_load
    from bench.machine import cpu_features
    from bench.retrieval import DEPTH, _rank_of
    from bench.retrieval_sets import load_sets

    setup_django(BENCH_DB)
    from chatapp.knowledge import selectors as sel

    embedder = embedder_load()
    per_set = int(os.environ.get("CHATAPP_BENCH_RERANK_QUESTIONS", "4" if quick else "12"))
    generator = _generator()
    rows: list[list[Any]] = []
    for rset in load_sets(embedder, print):
        if rset.name not in SETS:
            continue
        held = [q for q in rset.questions if q.split != "tune"][:per_set]
        progress = Progress(f"rerank {rset.name}", len(held), "questions")
        base_rr, rerank_rr, base_ms, rerank_ms = [], [], [], []
        for q in held:
            v = embedder.embed([sel.query_clean(q.text)])[0].tolist()
            started = time.perf_counter()
            hits = sel.chunk_search_hybrid(
                query=q.text, embedding=v, knowledge_base_ids=[q.kb], k=DEPTH
            )
            base_ms.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            question = sel.query_clean(q.text)
            probs = generator.yes_probabilities(
                [
                    [{"role": "user", "content": PROMPT.format(passage=h.text, question=question)}]
                    for h in hits[:RERANK_DEPTH]
                ]
            )
            rerank_ms.append(1000 * (time.perf_counter() - started))
            order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
            reranked = [hits[i].document_id for i in order] + [
                h.document_id for h in hits[RERANK_DEPTH:]
            ]
            for ranks, ids in ((base_rr, [h.document_id for h in hits]), (rerank_rr, reranked)):
                r = _rank_of(ids, rset.doc_keys, q.gold)
                ranks.append(0.0 if r is None else 1.0 / (r + 1))
            progress.advance()
        if held:
            rows.append([rset.name, len(held), float(np.mean(base_rr)), float(np.mean(rerank_rr)),
                         float(np.median(base_ms)), float(np.median(rerank_ms))])  # fmt: skip
    cpu = cpu_features()
    table = Table(
        f"LLM rerank of the default's top {RERANK_DEPTH} (held-out questions, small sample)",
        ["set", "questions", "MRR default", "MRR + rerank", "default p50 ms", "rerank p50 ms"],
        rows,
        note=(
            f"Reranker: {Path(os.environ.get('CHATAPP_LLM_MODEL', 'the default LLM')).name}, "
            f"CTranslate2 int8 on {cpu['cores']} cores ({cpu['model']}, "
            f"{' '.join(cpu['flags'])}); rerank ms is the batched P(Yes) call alone. A sample "
            "this small shows the cost, not a reliable quality difference."
        ),
    )
    data = {"rows": rows, "cpu": cpu, "depth": RERANK_DEPTH}
    write_results("rerank-quick" if quick else "rerank", data, [table])
    return data
