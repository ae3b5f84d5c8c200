"""Search latency at 10k and 100k chunks, and HNSW recall against exact search.

Synthetic chunks are mixes of real Python-doc chunks (their text halves and their embeddings,
plus noise), so the vectors keep the clustered shape of real embeddings and the full-text index
sees real words; each scale lives in its own database so HNSW holds only that knowledge base.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import (
    BENCH_DB,
    Progress,
    Table,
    percentile,
    setup_django,
    vacuum_analyze,
    write_results,
)

SCALES = (10_000, 100_000)
QUICK_SCALES = (10_000,)
SEED = 1234
CHUNKS_PER_DOCUMENT = 50
NOISE = 0.35  # norm of the noise added to each mixed vector (the mix itself has norm ~1.1)
EF_SEARCH_SWEEP = (40, 100, 160, 200, 400)
RECALL_QUERIES = 200


def _source(embedder: Any) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Real chunk texts and vectors to mix (the indexed Python docs, else the demo pages)."""
    from chatapp.knowledge.models import Chunk

    setup_django(BENCH_DB)
    rows = list(Chunk.objects.order_by("id").values_list("text", "embedding")[:40_000])
    if len(rows) < 200:
        from bench.corpus import demo_kb_ensure

        demo_kb_ensure(embedder)
        rows = list(Chunk.objects.order_by("id").values_list("text", "embedding"))
    texts = [r[0] for r in rows]
    vectors = np.asarray([np.asarray(r[1], dtype=np.float32) for r in rows], dtype=np.float32)
    return texts, vectors


def _mix(
    texts: list[str], vectors: npt.NDArray[np.float32], n: int
) -> tuple[list[str], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(SEED)
    a = np.arange(n) % len(texts)
    b = rng.integers(0, len(texts), n)
    noise = rng.standard_normal((n, vectors.shape[1])).astype(np.float32)
    noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
    mixed = vectors[a] + 0.5 * vectors[b] + noise
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    out_texts = []
    for i, j in zip(a, b, strict=True):
        left, right = texts[i], texts[j]
        out_texts.append(left[: len(left) // 2 + 1] + " " + right[len(right) // 2 :])
    return out_texts, mixed.astype(np.float32)


def _scale_kb(n: int, texts: list[str], vectors: npt.NDArray[np.float32]) -> int:
    """Fill database chatapp_bench_<n> with n synthetic chunks (cached by a stamp)."""
    from django.db import connection

    from chatapp.knowledge.models import Chunk, Document, KnowledgeBase

    setup_django(f"chatapp_bench_{n // 1000}k")
    digest = hashlib.sha256(f"{n} {SEED} {NOISE} {len(texts)}".encode())
    digest.update(vectors[: min(len(vectors), 1000)].tobytes())
    stamp = f"synthetic sha256 {digest.hexdigest()}"
    kb = KnowledgeBase.objects.filter(name="bench: synthetic").first()
    if kb is not None and kb.description == stamp:
        print(f"scale {n}: cached", file=sys.stderr, flush=True)
        return kb.pk
    Chunk.objects.all().delete()
    Document.objects.all().delete()
    KnowledgeBase.objects.all().delete()
    kb = KnowledgeBase.objects.create(name="bench: synthetic", description="building")
    docs = Document.objects.bulk_create(
        Document(knowledge_base=kb, title=f"Synthetic {i}", status="ready")
        for i in range((n + CHUNKS_PER_DOCUMENT - 1) // CHUNKS_PER_DOCUMENT)
    )
    chunk_texts, chunk_vectors = _mix(texts, vectors, n)
    table = Chunk._meta.db_table
    progress = Progress(f"insert {n}", n, "chunks")
    with connection.cursor() as cursor:
        # Bulk load without the HNSW index, then build it once: far faster than n inserts.
        cursor.execute("DROP INDEX IF EXISTS chunk_embedding_hnsw")
        raw = cursor.cursor
        columns = "document_id, knowledge_base_id, ordinal, text, heading_path, anchor, token_count"
        with raw.copy(f"COPY {table} ({columns}, embedding) FROM STDIN") as copy:
            for i, (text, vec) in enumerate(zip(chunk_texts, chunk_vectors, strict=True)):
                doc = docs[i // CHUNKS_PER_DOCUMENT]
                vec_text = "[" + ",".join(f"{x:.6f}" for x in vec) + "]"
                copy.write_row((doc.pk, kb.pk, i % CHUNKS_PER_DOCUMENT, text, "", "", 0, vec_text))
                if i % 1000 == 999:
                    progress.advance(1000)
        print(f"  [scale {n}] building the HNSW index...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(
            "CREATE INDEX chunk_embedding_hnsw ON "
            f"{table} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        print(
            f"  [scale {n}] index built in {time.perf_counter() - started:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    kb.description = stamp
    kb.save(update_fields=["description"])
    vacuum_analyze()
    return kb.pk


def _exact_ids(
    matrix: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], q: npt.NDArray[np.float32], k: int
) -> set[int]:
    scores = matrix @ q
    top = np.argpartition(-scores, k)[:k]
    return {int(ids[i]) for i in top}


def _measure_scale(
    n: int,
    kb_id: int,
    queries: list[str],
    qvecs: npt.NDArray[np.float32],
    rows: list[list[Any]],
    recall: dict[str, Any],
) -> None:
    from django.db import connection

    from chatapp.knowledge import selectors as sel
    from chatapp.knowledge.models import Chunk

    kbs = [kb_id]
    exact: Callable[[list[float]], Any] = lambda v: _exact_search(v, kb_id)  # noqa: E731
    from bench.retrieval import RECOMMENDED

    rec = {k: RECOMMENDED[k] for k in ("vector_weight", "candidates", "ef_search")}
    modes: dict[str, Callable[[str, list[float]], Any]] = {
        "vector (exact, baseline)": lambda q, v: exact(v),
        "vector (HNSW)": lambda q, v: sel.chunk_search_vector(
            embedding=v, knowledge_base_ids=kbs, k=10, ef_search=rec["ef_search"]
        ),
        "keyword": lambda q, v: sel.chunk_search_keyword(
            query=q, knowledge_base_ids=kbs, k=10, embedding=v
        ),
        "hybrid rrf": lambda q, v: sel.chunk_search_hybrid(
            query=q, embedding=v, knowledge_base_ids=kbs, k=10, fusion="rrf", rescore=False, **rec
        ),
        "hybrid convex (recommended)": lambda q, v: sel.chunk_search_hybrid(
            query=q, embedding=v, knowledge_base_ids=kbs, k=10, fusion="convex", rescore=False,
            **rec,
        ),
        "hybrid convex + rescore": lambda q, v: sel.chunk_search_hybrid(
            query=q, embedding=v, knowledge_base_ids=kbs, k=10, fusion="convex", rescore=True,
            **rec,
        ),
    }  # fmt: skip
    for q, v in zip(queries[:5], qvecs[:5], strict=True):  # warm caches and connections
        for fn in modes.values():
            fn(q, v.tolist())
    progress = Progress(f"latency {n}", len(modes) * len(queries), "searches")
    for name, fn in modes.items():
        times = []
        for q, v in zip(queries, qvecs, strict=True):
            vec = v.tolist()
            started = time.perf_counter()
            fn(q, vec)
            times.append((time.perf_counter() - started) * 1000.0)
            progress.advance()
        rows.append([n, name, percentile(times, 50), percentile(times, 95), len(times)])
    exact_p50 = next(r[2] for r in rows if r[0] == n and r[1].startswith("vector (exact"))
    for r in rows:
        if r[0] == n:
            r.append(exact_p50 / r[2])
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT id FROM knowledge_chunk WHERE knowledge_base_id = %s "
            "ORDER BY embedding <=> %s::vector LIMIT 40",
            [kb_id, "[" + ",".join(str(x) for x in qvecs[0]) + "]"],
        )
        plan = "\n".join(r[0] for r in cursor.fetchall())
    recall.setdefault("plans", {})[str(n)] = plan
    # HNSW recall against exact search (numpy over every vector) at this scale.
    data = list(Chunk.objects.filter(knowledge_base_id=kb_id).values_list("id", "embedding"))
    ids = np.asarray([d[0] for d in data], dtype=np.int64)
    matrix = np.asarray([np.asarray(d[1], dtype=np.float32) for d in data], dtype=np.float32)
    for ef in EF_SEARCH_SWEEP:
        for k in (10, 40):
            hits = 0
            times = []
            for v in qvecs[:RECALL_QUERIES]:
                truth = _exact_ids(matrix, ids, v, k)
                started = time.perf_counter()
                got = sel.chunk_search_vector(
                    embedding=v.tolist(), knowledge_base_ids=kbs, k=k, ef_search=ef
                )
                times.append((time.perf_counter() - started) * 1000)
                hits += len(truth & {h.chunk_id for h in got})
            recall.setdefault("rows", []).append(
                [
                    n,
                    ef,
                    k,
                    sel.hnsw_ef(ef, k),
                    hits / (k * min(len(qvecs), RECALL_QUERIES)),
                    percentile(times, 50),
                ]
            )


def _exact_search(vec: list[float], kb_id: int) -> list[int]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
        cursor.execute(
            "SELECT id FROM knowledge_chunk WHERE knowledge_base_id = %s "
            "ORDER BY embedding <=> %s::vector LIMIT 10",
            [kb_id, "[" + ",".join(f"{x:.6f}" for x in vec) + "]"],
        )
        return [r[0] for r in cursor.fetchall()]


def search_queries(quick: bool) -> list[str]:
    """The Python-FAQ questions as written, then as typed in a hurry (lower case, no "?")."""
    import json

    from bench.common import EVAL_DIR
    from bench.corpus import faq_questions

    faq = [json.loads(line)["question"] for line in (EVAL_DIR / "python_faq.jsonl").open()]
    queries = faq if not quick else faq[:40]
    return queries + [q.question.lower().rstrip("?") for q in faq_questions()][: len(queries)]


def run(quick: bool = False) -> dict[str, Any]:
    from bench.common import embedder_load

    setup_django(BENCH_DB)
    embedder = embedder_load()
    texts, vectors = _source(embedder)
    queries = search_queries(quick)
    qvecs = embedder.embed(queries, batch_size=64)
    rows: list[list[Any]] = []
    recall: dict[str, Any] = {}
    for n in QUICK_SCALES if quick else SCALES:
        kb_id = _scale_kb(n, texts, vectors)
        _measure_scale(n, kb_id, queries, qvecs, rows, recall)

    from bench.retrieval import RECOMMENDED

    latency = Table(
        "Search latency (ms per search, query embedding excluded, k=10)",
        ["chunks", "search", "p50 ms", "p95 ms", "searches", "exact p50 / this p50"],
        rows,
        note=(
            f"Settings: {RECOMMENDED}. Exact search (no index) is the baseline, measured in the "
            "same run; the last column is the speed-up over it. One query embeds in ~10 ms more "
            "(bench indexing)."
        ),
    )
    recall_table = Table(
        "HNSW recall against exact search (m=16, ef_construction=64)",
        ["chunks", "ef_search", "k", "effective ef", "recall@k", "p50 ms"],
        recall.get("rows", []),
        note="A search runs HNSW with ef = max(ef_search, 2 * rows wanted) (selectors.hnsw_ef).",
    )
    data = {"latency": rows, "recall": recall, "queries": len(queries)}
    write_results("latency-quick" if quick else "latency", data, [latency, recall_table])
    return data
