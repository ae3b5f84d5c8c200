"""Indexing throughput: embedding batch sizes, and documents from the first request to all ready.

Two measurements:

1. Embedding throughput per batch size (the model alone, real chunks of ~200 word pieces).
2. End to end through the HTTP API, on the running stack the way ``make run`` starts it (uvicorn
   and the indexing worker, ``indexing:1``) on the bench database: the time from the first
   request until every document is ``ready``, for 1,000 short (~100-word) and 100 long
   (~3,000-word) documents sent as single-document uploads (one request and one task each, the
   way the issue measured 320 s for 1,204 paragraphs) and as one bulk import (one JSON lines
   request, batched tasks), plus the issue's target: 1,200 short paragraphs in bulk.

The documents are made of real English sentences (the demo help centre and the two held-out help
centres), so they tokenize like real text; a seeded shuffle makes every run send the same text.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DB,
    REPO_ROOT,
    Table,
    device_name,
    ensure_database,
    setup_django,
    write_results,
)

CPU_BATCHES = (1, 8, 16, 32, 64, 128)
GPU_BATCHES = (1, 32, 128, 256, 512)
SAMPLE = 256  # passages embedded per batch size (~200 word pieces each)
ONE_AT_A_TIME_SAMPLE = 96  # batch size 1 is slow; fewer passages give the same rate
QUERY_SAMPLE = 50
SHORT_WORDS = 100
LONG_WORDS = 3000
LONG_SECTION_WORDS = 300  # a heading every ~300 words, as in a help page or an article
START_TIMEOUT_S = 300
INDEX_TIMEOUT_S = 1800
POLL_S = 0.5
TARGET_DOCS = 1200
TARGET_S = 60.0
LOG_DIR = REPO_ROOT / "var" / "bench" / "logs"
SENTENCE_SOURCES = (
    REPO_ROOT / "chatapp" / "knowledge" / "demo" / "pages",
    REPO_ROOT / "bench" / "data" / "sets" / "northwind" / "pages",
    REPO_ROOT / "bench" / "data" / "sets" / "ledgerly" / "pages",
)
_BATCH_LINE = re.compile(r"index_import_batch\[[^\]]+\] succeeded in ([0-9.]+)s: '(\d+) documents")


# --- 1. the model alone ----------------------------------------------------------------------


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


# --- 2. the running stack --------------------------------------------------------------------


def _sentences() -> list[str]:
    from chatapp.knowledge.demo import front_matter
    from chatapp.knowledge.ingest.chunking import split_sentences

    found: list[str] = []
    for folder in SENTENCE_SOURCES:
        for path in sorted(folder.glob("*.md")):
            text = path.read_text()
            if front_matter(text):
                text = text[4:].partition("\n---")[2]
            prose = "\n\n".join(
                p
                for p in text.split("\n\n")
                if p.strip() and p.lstrip()[0] not in "#|-*>`0123456789"
            )
            found += [s for s in split_sentences(prose) if 6 <= len(s.split()) <= 60]
    return found


def _text(rng: random.Random, sentences: Sequence[str], words: int) -> str:
    out: list[str] = []
    count = 0
    while count < words:
        sentence = rng.choice(sentences)
        out.append(sentence)
        count += len(sentence.split())
    return " ".join(out)


def _documents(kind: str, n: int, seed: int) -> list[dict[str, str]]:
    """``n`` documents of real sentences: ``short`` paragraphs or ``long`` sectioned pages."""
    rng = random.Random(seed)
    sentences = _sentences()
    docs = []
    for i in range(n):
        if kind == "short":
            body = _text(rng, sentences, SHORT_WORDS)
        else:
            sections = [
                f"## Part {s + 1}\n\n{_text(rng, sentences, LONG_SECTION_WORDS)}"
                for s in range(LONG_WORDS // LONG_SECTION_WORDS)
            ]
            body = "\n\n".join(sections)
        docs.append({"title": f"{kind} {seed}-{i}", "text": f"# {kind.title()} {i}\n\n{body}"})
    return docs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Api:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        request = urllib.request.Request(self.base + path, data=body, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.key}")
        request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=600) as resp:  # noqa: S310 (loopback)
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(method, path, None if body is None else json.dumps(body).encode())


def _start(env: dict[str, str], port: int, worker_name: str) -> list[subprocess.Popen[bytes]]:
    from chatapp.config.celery import app

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    celery = [sys.executable, "-m", "celery", "-A", "chatapp.config"]
    subprocess.run(
        [*celery, "purge", "-f", "-Q", "indexing"],
        env=env,
        cwd=REPO_ROOT,
        check=False,
        capture_output=True,
        timeout=60,
    )
    worker = [
        *celery,
        "worker",
        "-Q",
        "indexing",
        "-c",
        "1",
        "-n",
        worker_name,
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    web = [
        sys.executable,
        "-m",
        "uvicorn",
        "chatapp.config.asgi:application",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    procs = [
        subprocess.Popen(
            argv,
            env={**env, "CHATAPP_WARM": warm},
            cwd=REPO_ROOT,
            stdout=(LOG_DIR / f"indexing-{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, argv, warm in (("worker", worker, "embedder"), ("web", web, ""))
    ]
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a process of the stack exited; logs in {LOG_DIR}")
        if _port_open(port) and app.control.ping(destination=[worker_name], timeout=1.0):
            return procs
        time.sleep(1)
    raise RuntimeError(f"stack not ready after {START_TIMEOUT_S}s; logs in {LOG_DIR}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _warm(api: _Api, kb_id: int) -> None:
    """One document through the worker first, so no run pays the model's first forward pass."""
    status, doc = api.json(
        "POST", f"/api/v1/knowledge-bases/{kb_id}/documents", {"title": "warm", "text": "Warm up."}
    )
    if status != 202:
        raise RuntimeError(f"warm-up upload refused: {status} {doc}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        _, body = api.json("GET", f"/api/v1/documents/{doc['id']}")
        if body["status"] in ("ready", "failed"):
            return
        time.sleep(POLL_S)
    raise RuntimeError("the warm-up document was not indexed")


def _single(api: _Api, kb_id: int, docs: list[dict[str, str]]) -> dict[str, Any]:
    """One request per document (and one task each), then wait until all are ready."""
    started = time.perf_counter()
    for i, doc in enumerate(docs, start=1):
        status, body = api.json("POST", f"/api/v1/knowledge-bases/{kb_id}/documents", doc)
        if status != 202:
            raise RuntimeError(f"upload refused: {status} {body}")
        if i % 100 == 0:
            print(f"  [single] {i}/{len(docs)} uploaded", file=sys.stderr, flush=True)
    uploaded = time.perf_counter() - started
    while True:
        _, body = api.json("GET", f"/api/v1/knowledge-bases/{kb_id}/documents")
        rows = body["results"]
        pending = sum(r["status"] in ("queued", "indexing") for r in rows)
        if not pending and len(rows) >= len(docs):
            break
        if time.perf_counter() - started > INDEX_TIMEOUT_S:
            raise RuntimeError(f"single uploads: {pending} documents still pending")
        time.sleep(POLL_S)
    total = time.perf_counter() - started
    return {
        "requests_s": uploaded,
        "total_s": total,
        "ready": sum(r["status"] == "ready" for r in rows),
        "chunks": sum(r["chunks"] for r in rows),
        "requests": len(docs),
    }


def _bulk(api: _Api, kb_id: int, docs: list[dict[str, str]]) -> dict[str, Any]:
    """One JSON lines request (one import job), then wait until the job is done."""
    body = "\n".join(json.dumps(d) for d in docs).encode()
    started = time.perf_counter()
    status, job = api.call(
        "POST", f"/api/v1/knowledge-bases/{kb_id}/imports", body, "application/x-ndjson"
    )
    if status != 202:
        raise RuntimeError(f"bulk import refused: {status} {job}")
    uploaded = time.perf_counter() - started
    while job["status"] != "done":
        if time.perf_counter() - started > INDEX_TIMEOUT_S:
            raise RuntimeError(f"bulk import not done: {job['documents']}")
        time.sleep(POLL_S)
        _, job = api.json("GET", f"/api/v1/imports/{job['id']}")
    total = time.perf_counter() - started
    return {
        "requests_s": uploaded,
        "total_s": total,
        "ready": job["documents"]["ready"],
        "chunks": job["chunks"],
        "requests": 1,
        "job_id": job["id"],
    }


def _batches_since(log: Path, offset: int) -> tuple[list[tuple[float, int]], int]:
    """The batch tasks the worker logged after ``offset``: (seconds, documents) each."""
    text = log.read_bytes()[offset:].decode(errors="replace")
    found = [(float(s), int(n)) for s, n in _BATCH_LINE.findall(text)]
    return found, offset + len(text.encode())


def _cpu_seconds(procs: Sequence[subprocess.Popen[bytes]]) -> float:
    """CPU seconds (user + system) used so far by these processes and their children.

    Unlike wall time this hardly moves with what else runs on a shared machine, so it says what
    a run costs: on 2 idle cores the wall time is about the worker's CPU time over 2 (torch uses
    both) plus the parts that run on one.
    """
    import psutil

    total = 0.0
    for proc in procs:
        try:
            parent = psutil.Process(proc.pid)
            for p in [parent, *parent.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _end_to_end(quick: bool, target_only: bool) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    from chatapp.accounts.models import User
    from chatapp.accounts.services import api_key_create, user_ensure
    from chatapp.knowledge.models import KnowledgeBase

    redis_url = os.environ["REDIS_URL"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.base",
        "DATABASE_URL": ensure_database(BENCH_DB),
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    key = api_key_create(user=user_ensure(username="bench-indexing", role=User.Role.ADMIN))
    port = _free_port()
    worker_name = f"bench-indexing-{port}@{socket.gethostname()}"
    n_short, n_long, n_target = (200, 20, 240) if quick else (1000, 100, TARGET_DOCS)
    scenarios = [
        ("short", n_target, "bulk"),  # the target first: the shared machine is as quiet as it gets
        ("short", n_short, "single"),
        ("short", n_short, "bulk"),
        ("long", n_long, "single"),
        ("long", n_long, "bulk"),
    ]
    if target_only:
        scenarios = scenarios[:1]
    procs = _start(env, port, worker_name)
    api = _Api(f"http://127.0.0.1:{port}", key)
    log = LOG_DIR / "indexing-worker.log"
    rows: list[list[Any]] = []
    runs: list[dict[str, Any]] = []
    try:
        warm = KnowledgeBase.objects.create(
            name=f"bench: indexing warm-up {port}", is_default=False
        )
        _warm(api, warm.pk)
        warm.delete()
        for run_no, (kind, n, path) in enumerate(scenarios):
            name = f"bench: indexing {kind} {path} {n} ({run_no})"
            KnowledgeBase.objects.filter(name=name).delete()
            kb = KnowledgeBase.objects.create(name=name, is_default=False)
            docs = _documents(kind, n, seed=run_no)
            offset = log.stat().st_size
            load_before = os.getloadavg()[0]
            cpu_before = _cpu_seconds(procs[:1]), _cpu_seconds(procs[1:])
            print(f"  [index] {n} {kind} documents, {path}...", file=sys.stderr, flush=True)
            result = (_single if path == "single" else _bulk)(api, kb.pk, docs)
            batches, _ = _batches_since(log, offset)
            result |= {
                "kind": kind,
                "documents": n,
                "path": path,
                "load_before": load_before,
                "load_after": os.getloadavg()[0],
                "tasks": len(batches) if path == "bulk" else n,
                "worker_cpu_s": _cpu_seconds(procs[:1]) - cpu_before[0],
                "web_cpu_s": _cpu_seconds(procs[1:]) - cpu_before[1],
                "batch_s": [s for s, _ in batches],
            }
            runs.append(result)
            print(
                f"  [index] {n} {kind} {path}: {result['total_s']:.1f} s, "
                f"{n / result['total_s']:.1f} documents/s",
                file=sys.stderr,
                flush=True,
            )
            KnowledgeBase.objects.filter(pk=kb.pk).delete()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    single_rate = {r["kind"]: r["documents"] / r["total_s"] for r in runs if r["path"] == "single"}
    for r in runs:
        docs_s = r["documents"] / r["total_s"]
        rows.append(
            [
                f"{r['documents']} {r['kind']}",
                "single uploads" if r["path"] == "single" else "bulk (JSON lines)",
                r["requests"],
                r["tasks"],
                r["requests_s"],
                r["total_s"],
                docs_s,
                r["chunks"] / r["total_s"],
                docs_s / single_rate[r["kind"]] if r["kind"] in single_rate else float("nan"),
                r["worker_cpu_s"],
                r["web_cpu_s"],
            ]
        )
    return rows, runs


def run(quick: bool = False) -> dict[str, Any]:
    """Both measurements; ``CHATAPP_BENCH_INDEXING=target`` runs only the target row (a re-check
    on a quiet machine, written to ``indexing-target.{json,md}``)."""
    import torch

    from bench.common import embedder_load
    from bench.machine import cpu_features
    from chatapp.core import embedded

    cpu = cpu_features()
    print(f"  [machine] {json.dumps(cpu)}", file=sys.stderr, flush=True)
    # The stack needs a broker: the embedded Redis in var/, set before Django reads REDIS_URL.
    redis_url, _ = embedded.ensure_redis(REPO_ROOT / "var")
    os.environ["REDIS_URL"] = redis_url
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
    best = max(embed_rows, key=lambda r: r[2])
    del embedder  # the worker holds its own copy; two on 2 cores would compete for memory only
    target_only = os.environ.get("CHATAPP_BENCH_INDEXING") == "target"
    e2e_rows, runs = _end_to_end(quick, target_only)
    target = next((r for r in runs if r["documents"] == TARGET_DOCS and r["path"] == "bulk"), None)
    verdict = (
        f"Target: {TARGET_DOCS} short paragraphs from the first request to all ready in "
        f"<= {TARGET_S:.0f} s: {target['total_s']:.1f} s "
        f"({'met' if target['total_s'] <= TARGET_S else 'NOT met'})."
        if target
        else "Target row skipped (--quick)."
    )
    loads = ", ".join(f"{r['load_before']:.1f}" for r in runs)
    tables = [
        Table(
            f"Indexing through the HTTP API, first request until all ready ({device_name()})",
            [
                "documents",
                "path",
                "requests",
                "tasks",
                "requests s",
                "total s",
                "documents/s",
                "chunks/s",
                "vs single",
                "worker CPU s",
                "web CPU s",
            ],
            e2e_rows,
            note=(
                f"{verdict} Short: ~{SHORT_WORDS} words (one chunk each); long: ~{LONG_WORDS} "
                f"words in sections of ~{LONG_SECTION_WORDS}. The stack as `make run` starts it: "
                "uvicorn and the indexing worker (concurrency 1, torch on every core), sharing "
                "the machine with Postgres and this client; single uploads are sent one after "
                "another. CPU s: user + system seconds the worker and the web server used during "
                "the run (hardly moved by other load; the worker's torch runs on 2 threads). "
                "1-minute load average before each run: "
                f"{loads}. CPU: {json.dumps(cpu)}"
            ),
        ),
        Table(
            f"Embedding throughput, {embedder_name()} on {device_name()}",
            ["batch size", "passages", "passages/s", "vs one at a time"],
            embed_rows,
            note=(
                f"Best batch size here: {best[0]}. One query embeds in {query_ms:.1f} ms. "
                "Passages are real chunks (~200 word pieces)."
            ),
        ),
    ]
    data = {
        "device": device_name(),
        "cpu": cpu,
        "embed": embed_rows,
        "query_ms": query_ms,
        "best_batch": best[0],
        "end_to_end": runs,
        "target": {"documents": TARGET_DOCS, "seconds": TARGET_S, "measured": target},
    }
    name = "indexing-target" if target_only else "indexing-quick" if quick else "indexing"
    write_results(name, data, tables)
    return data


def embedder_name() -> str:
    from django.conf import settings

    return str(settings.CHATAPP_EMBEDDING_MODEL).removeprefix("package:")
