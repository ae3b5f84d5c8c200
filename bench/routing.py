"""Routing questions across several knowledge bases (``chatapp/knowledge/routing.py``).

Three help centres of different companies (the demo's Lumen & Oak, Northwind telecom, Ledgerly
SaaS) are attached to one conversation. Each answerable question of every set is searched over
all three: without routing (one joint search, the top 4), with routing at several margins, and
over its own help centre alone (the oracle a perfect router would reach). A hit is a chunk of the
question's gold page. The margin is chosen on the demo's tune split; every other row is held out.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.common import BENCH_DB, Progress, Table, setup_django, write_results

K = 4  # passages the answerer reads (CHATAPP_RETRIEVAL_K)
MARGINS = (0.05, 0.1, 0.15, 0.2, 0.3)


def _page_of(eval_set: Any, kb_id: int) -> dict[int, str]:
    """Document id → the page file name the questions name."""
    from bench.corpus import SETS_DIR, documents_by_key
    from chatapp.knowledge.demo import front_matter
    from chatapp.knowledge.models import Document

    if eval_set.name == "demo":
        return documents_by_key(kb_id)
    by_url = {}
    for path in sorted((SETS_DIR / eval_set.name / "pages").glob("*.md")):
        url = front_matter(path.read_text()).get("source_url", "")
        by_url[url or path.name] = path.name
    out = {}
    for doc_id, url, title in Document.objects.filter(knowledge_base_id=kb_id).values_list(
        "id", "source_url", "title"
    ):
        out[doc_id] = by_url.get(url, "") or next(
            (by_url.get(s.key, "") for s in eval_set.sources if s.title == title), ""
        )
    return out


def _score(hits: list[Any], gold: str, page_of: dict[int, str], own: set[int]) -> list[float]:
    pages = [page_of.get(h.document_id, "") for h in hits]
    rank = next((i + 1 for i, p in enumerate(pages) if p == gold), None)
    on_kb = sum(1 for h in hits if h.document_id in own) / len(hits) if hits else 0.0
    return [1.0 if rank else 0.0, 1.0 / rank if rank else 0.0, on_kb]


def run(quick: bool = False) -> dict[str, Any]:
    from bench.common import embedder_load
    from bench.corpus import eval_set_kb_ensure, eval_sets

    setup_django(BENCH_DB)
    from django.test import override_settings

    from chatapp.knowledge.routing import routed_search
    from chatapp.knowledge.selectors import chunk_search_hybrid, query_clean

    embedder = embedder_load()
    sets = eval_sets()
    kbs = {s.name: eval_set_kb_ensure(s, embedder)[0] for s in sets}
    all_ids = list(kbs.values())
    page_of: dict[int, str] = {}
    own_docs: dict[str, set[int]] = {}
    for s in sets:
        pages = _page_of(s, kbs[s.name])
        page_of.update(pages)
        own_docs[s.name] = set(pages)
    conditions = ["joint search (no routing)"]
    conditions += [f"routed, margin {m}" for m in MARGINS]
    conditions += ["own help centre only (oracle)"]
    # (set, split, condition) → [hit@4, mrr@4, on-KB share, top route right, bases chosen]
    sums: dict[tuple[str, str, str], list[float]] = {}
    counts: dict[tuple[str, str], int] = {}
    questions = [
        (s.name, q)
        for s in sets
        for q in s.questions
        if q.get("page") and q["kind"] == "answerable"
    ]
    if quick:
        questions = questions[::3]
    progress = Progress("routing", len(questions), "questions")
    for name, q in questions:
        query = query_clean(q["question"])
        vector = embedder.embed([query])[0].tolist()
        key = (name, q["split"])
        counts[key] = counts.get(key, 0) + 1
        for condition in conditions:
            routes: list[Any] = []
            if condition.startswith("joint"):
                hits = chunk_search_hybrid(
                    query=query, embedding=vector, knowledge_base_ids=all_ids, k=K
                )
            elif condition.startswith("own"):
                hits = chunk_search_hybrid(
                    query=query, embedding=vector, knowledge_base_ids=[kbs[name]], k=K
                )
            else:
                margin = float(condition.rsplit(" ", 1)[1])
                with override_settings(CHATAPP_ROUTE_MARGIN=margin):
                    hits, routes = routed_search(
                        query=query, embedding=vector, knowledge_base_ids=all_ids, k=K
                    )
            row = _score(hits, q["page"], page_of, own_docs[name])
            top_right = bool(routes) and routes[0].knowledge_base_id == kbs[name]
            chosen = sum(1 for r in routes if r.chosen) if routes else len(all_ids)
            if condition.startswith("own"):
                top_right, chosen = True, 1
            row += [1.0 if top_right else 0.0, float(chosen)]
            acc = sums.setdefault((*key, condition), [0.0] * len(row))
            for i, value in enumerate(row):
                acc[i] += value
        progress.advance()
    rows = []
    for (name, split, condition), acc in sums.items():
        n = counts[(name, split)]
        rows.append([name, split, condition, n, *(round(v / n, 3) for v in acc)])
    table = Table(
        f"Routing over 3 help centres attached to one conversation (top {K} passages)",
        [
            "set",
            "split",
            "search",
            "questions",
            f"gold page in top {K}",
            f"MRR@{K}",
            "passages from the right help centre",
            "best route right",
            "bases searched",
        ],
        rows,
        note=(
            "One joint search pools 12 hits over all three bases; a base whose best hit is more "
            "than the margin below the best base's is dropped. The margin is chosen on demo/tune; "
            "every other row is held out. Oracle: the question's own help centre alone."
        ),
    )
    print(f"knowledge bases: {kbs}", file=sys.stderr)
    data = {"rows": rows, "knowledge_bases": kbs, "k": K}
    write_results("routing-quick" if quick else "routing", data, [table])
    return data
