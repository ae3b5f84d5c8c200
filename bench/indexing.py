"""Indexing throughput: embedding batch sizes, and whole documents batched vs one at a time."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import override

from bench.common import BENCH_DB, Table, device_name, setup_django, write_results
from workers.inference.base import Embedder

CPU_BATCHES = (1, 8, 32, 64, 128)
GPU_BATCHES = (1, 32, 128, 256, 512)
SAMPLE = 256  # passages embedded per batch size (~200 word pieces each)
ONE_AT_A_TIME_SAMPLE = 96  # batch size 1 is slow; fewer passages give the same rate
QUERY_SAMPLE = 50
THROWAWAY_KB = "bench: indexing throughput (temporary)"


class _OneAtATime(Embedder):
    """Wraps an embedder so every passage is its own forward pass (the baseline)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim

    @override
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        rows = [self.inner.embed([t], batch_size=1)[0] for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dim)


def _passages(embedder: Any) -> list[str]:
    from chatapp.knowledge.models import Chunk

    texts = list(Chunk.objects.order_by("?").values_list("text", flat=True)[:SAMPLE])
    if len(texts) < SAMPLE:
        from bench.corpus import demo_kb_ensure

        demo_kb_ensure(embedder)
        texts = list(Chunk.objects.order_by("id").values_list("text", flat=True))
        texts = (texts * (SAMPLE // max(len(texts), 1) + 1))[:SAMPLE]
    return texts


def _embed_rates(embedder: Any, texts: list[str], batches: Sequence[int]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    embedder.embed(texts[:64], batch_size=32)  # warm-up: first calls pay allocation and JIT
    base = 0.0
    for size in batches:
        sample = texts[:ONE_AT_A_TIME_SAMPLE] if size == 1 else texts
        started = time.perf_counter()
        if size == 1:
            for text in sample:
                embedder.embed([text], batch_size=1)
        else:
            embedder.embed(sample, batch_size=size)
        rate = len(sample) / (time.perf_counter() - started)
        base = base or rate
        rows.append([size, len(sample), rate, rate / base])
        print(f"  [embed] batch {size}: {rate:.1f} passages/s", file=sys.stderr, flush=True)
    return rows


def _document_rates(embedder: Any, quick: bool) -> list[list[Any]]:
    """Index the demo pages end to end (parse, chunk, embed, insert) both ways."""
    from chatapp.knowledge.demo import DEMO_DIR
    from chatapp.knowledge.embedding import embed_batch_size
    from chatapp.knowledge.models import Document, KnowledgeBase
    from chatapp.knowledge.services import document_index

    pages = sorted((DEMO_DIR / "pages").glob("*.md"))[: 8 if quick else None]
    rows: list[list[Any]] = []
    base = 0.0
    for label, model in (
        ("one at a time", _OneAtATime(embedder)),
        (f"batched ({embed_batch_size()})", embedder),
    ):
        KnowledgeBase.objects.filter(name=THROWAWAY_KB).delete()
        kb = KnowledgeBase.objects.create(name=THROWAWAY_KB, is_default=False)
        started = time.perf_counter()
        chunks = 0
        for page in pages:
            doc = Document.objects.create(
                knowledge_base=kb, title=page.stem, raw=page.read_bytes(), filename=""
            )
            chunks += document_index(document_id=doc.pk, embedder=model).chunk_count
        seconds = time.perf_counter() - started
        rate = chunks / seconds
        base = base or rate
        rows.append([label, len(pages), chunks, seconds, rate, rate / base])
        print(f"  [index] {label}: {rate:.1f} passages/s", file=sys.stderr, flush=True)
        kb.delete()
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    import torch

    from bench.common import embedder_load

    setup_django(BENCH_DB)
    embedder = embedder_load()
    texts = _passages(embedder)
    if quick:
        texts = texts[:128]
    batches = GPU_BATCHES if torch.cuda.is_available() else CPU_BATCHES
    embed_rows = _embed_rates(embedder, texts, batches)
    queries = [t[:120] for t in texts[:QUERY_SAMPLE]]
    started = time.perf_counter()
    for q in queries:
        embedder.embed([q])
    query_ms = (time.perf_counter() - started) * 1000 / len(queries)
    doc_rows = _document_rates(embedder, quick)
    best = max(embed_rows, key=lambda r: r[2])
    tables = [
        Table(
            f"Embedding throughput, {embedder.name} on {device_name()}",
            ["batch size", "passages", "passages/s", "vs one at a time"],
            embed_rows,
            note=(
                f"Best batch size here: {best[0]}. One query embeds in {query_ms:.1f} ms. "
                "Passages are real chunks (~200 word pieces)."
            ),
        ),
        Table(
            "Indexing throughput, parse + chunk + embed + insert (demo pages)",
            ["embedding", "documents", "passages", "seconds", "passages/s", "vs one at a time"],
            doc_rows,
        ),
    ]
    data = {
        "device": device_name(),
        "embed": embed_rows,
        "documents": doc_rows,
        "query_ms": query_ms,
        "best_batch": best[0],
    }
    write_results("indexing-quick" if quick else "indexing", data, tables)
    return data
