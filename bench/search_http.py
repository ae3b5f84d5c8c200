"""``/search`` over HTTP at 10k and 100k chunks: what a client waits for, and where it goes.

A real uvicorn process serves the app on loopback against each scale's bench database (the
synthetic chunks of bench/latency.py). A client sends the questions one after another on a
kept-alive connection with an admin API key, as an integration would, and reads the
``Server-Timing`` header the API sends with every response, so the share of each step (auth,
parse, query embedding, hybrid query, JSON) is what production reports too. The baseline,
measured in the same run, is the hybrid query alone, called in this process.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DB,
    Progress,
    Table,
    ensure_database,
    percentile,
    setup_django,
    write_results,
)
from chatapp.core.timing import parse_server_timing

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 10
STEPS = ("limit", "auth", "parse", "embed", "search", "serialize")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(database_url: str, embed_engine: str, log: Path) -> Iterator[str]:
    """A uvicorn process serving the app on loopback (one worker, as ``make run`` starts).

    ``embed_engine`` is its ``CHATAPP_EMBED_ENGINE``; its log goes to ``log``, where the
    registry says which engine the query embedder got and why.
    """
    import httpx

    from chatapp.core import embedded

    port = _free_port()
    # A real Redis for the server: the rate limits are checked in it on every API call, as in
    # production (the bench process itself only has a placeholder URL).
    redis_dir = ROOT / "var" / "bench-http"
    redis_url, _ = embedded.ensure_redis(redis_dir, append_only=False)
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "DJANGO_DB_POOL": "true",  # as make run starts its web process
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.base",
        "CHATAPP_EMBED_ENGINE": embed_engine,
    }
    from chatapp.launcher import web_command

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink:
        proc = subprocess.Popen(
            web_command("127.0.0.1", port), env=env, cwd=ROOT, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the web server exited with {proc.returncode}")
            try:
                httpx.get(f"{base}/api/v1/openapi.json", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        embedded.stop_redis(redis_dir)


def _api_key() -> str:
    from chatapp.accounts.services import api_key_create, user_ensure

    user = user_ensure(username="bench-admin", role="admin", password=None)
    return api_key_create(user=user, name="bench search")


def _chosen_engine(log: Path) -> str:
    """The engine the server's registry logged for its embedder, with the reason."""
    found = re.search(r"embedder \S+ on \S+: engine (\S+): (.*)", log.read_text())
    return f"{found.group(1)} ({found.group(2).strip()})" if found else "not logged"


def _measure(
    n: int,
    kb_id: int,
    queries: list[str],
    qvecs: Any,
    rows: list[list[Any]],
    shares: list[Any],
    engines: list[list[Any]],
) -> None:
    from chatapp.knowledge import selectors as sel

    token = _api_key()
    # The baseline: the same hybrid query, in this process, query embedding excluded.
    for q, v in zip(queries[:WARMUP], qvecs[:WARMUP], strict=True):
        sel.chunk_search_hybrid(query=q, embedding=v.tolist(), knowledge_base_ids=[kb_id], k=10)
    alone = []
    for q, v in zip(queries, qvecs, strict=True):
        vec = v.tolist()
        started = time.perf_counter()
        sel.chunk_search_hybrid(query=q, embedding=vec, knowledge_base_ids=[kb_id], k=10)
        alone.append((time.perf_counter() - started) * 1000)
    p50_alone = percentile(alone, 50)
    rows.append([n, "hybrid query alone (baseline)", "-", p50_alone, percentile(alone, 95), 1.0])
    # torch first, then the app's choice (auto): the two servers run minutes apart, same load.
    for setting in ("torch", "auto"):
        wall = _over_http(n, kb_id, queries, token, setting, shares, engines)
        p50 = percentile(wall, 50)
        rows.append([n, "/search over HTTP", setting, p50, percentile(wall, 95), p50 / p50_alone])


def _over_http(
    n: int,
    kb_id: int,
    queries: list[str],
    token: str,
    setting: str,
    shares: list[list[Any]],
    engines: list[list[Any]],
) -> list[float]:
    import httpx

    database = f"chatapp_bench_{n // 1000}k"
    log = ROOT / "var" / "bench-http" / f"server-{n // 1000}k-{setting}.log"
    served = _server(ensure_database(database), setting, log)
    with served as base, httpx.Client(base_url=base) as client:
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/knowledge-bases/{kb_id}/search"
        for q in queries[:WARMUP]:  # loads the embedder, opens the database connection
            client.post(path, json={"query": q, "k": 10}, headers=headers, timeout=120)
        wall: list[float] = []
        steps: dict[str, list[float]] = {s: [] for s in STEPS}
        progress = Progress(
            f"/search over HTTP at {n}, embedder {setting}", len(queries), "requests"
        )
        for q in queries:
            started = time.perf_counter()
            response = client.post(path, json={"query": q, "k": 10}, headers=headers, timeout=60)
            wall.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            timing = parse_server_timing(response.headers.get("Server-Timing", ""))
            for step in STEPS:
                steps[step].append(timing.get(step, 0.0))
            progress.advance()
    engines.append([n, setting, _chosen_engine(log)])
    mean_wall = sum(wall) / len(wall)
    accounted = 0.0
    for step in STEPS:
        mean = sum(steps[step]) / len(steps[step])
        accounted += mean
        shares.append([n, setting, step, percentile(steps[step], 50), mean, mean / mean_wall])
    rest = mean_wall - accounted
    outside = "outside the view (server, network, client)"
    shares.append([n, setting, outside, None, rest, rest / mean_wall])
    return wall


def _stage_split(embedder: Any, quick: bool) -> list[list[Any]]:
    """The retrieval stage's own time, step by step, on the demo help centre (in process).

    The stage's functions are wrapped with timers here, in the bench only; the stage is the
    one the worker runs (``retrieve``), with the worker's embedder.
    """
    import chatapp.assistant.stages.retrieval as stage
    from bench.corpus import demo_kb_ensure, demo_questions
    from workers.messages import TurnRequest

    kb_id, _ = demo_kb_ensure(embedder)
    spent: dict[str, list[float]] = {}
    originals = {
        name: getattr(stage, name)
        for name in ("curated_answer_match", "routed_search", "model_excerpts")
    }

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent.setdefault(name, []).append((time.perf_counter() - started) * 1000)

        return wrapper

    class TimedEmbedder:
        name = embedder.name

        def embed(self, texts: Any, **kwargs: Any) -> Any:
            return timed(f"embed ({'query' if len(texts) == 1 else 'sentences'})", embedder.embed)(
                texts, **kwargs
            )

    questions = [q["question"] for q in demo_questions()]
    questions = questions[:12] if quick else questions
    totals = []
    try:
        for name, fn in originals.items():
            setattr(stage, name, timed(name, fn))
        for i, question in enumerate(questions):
            request = TurnRequest(
                run_id=i + 1,
                conversation_id="bench",
                message_id=i + 1,
                question=question,
                knowledge_base_ids=[kb_id],
            )
            started = time.perf_counter()
            stage.retrieve(request, embedder=TimedEmbedder())  # type: ignore[arg-type]
            totals.append((time.perf_counter() - started) * 1000)
    finally:
        for name, fn in originals.items():
            setattr(stage, name, fn)
    # model_excerpts embeds the passages' sentences: count that under the embedder, not twice.
    total_mean = sum(totals) / len(totals)
    rows = [["retrieval stage, whole", percentile(totals, 50), total_mean, 1.0]]
    for name, values in sorted(spent.items()):
        mean = sum(values) / len(questions)  # per turn (a step may run 0 or several times)
        rows.append([name, percentile(values, 50), mean, mean / total_mean])
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    from bench.common import embedder_load
    from bench.latency import QUICK_SCALES, SCALES, _scale_kb, _source, search_queries

    setup_django(BENCH_DB)
    embedder = embedder_load()
    texts, vectors = _source(embedder)
    queries = search_queries(quick)
    qvecs = embedder.embed(queries, batch_size=64)
    rows: list[list[Any]] = []
    shares: list[list[Any]] = []
    engines: list[list[Any]] = []
    for n in QUICK_SCALES if quick else SCALES:
        kb_id = _scale_kb(n, texts, vectors)
        _measure(n, kb_id, queries, qvecs, rows, shares, engines)
    import torch

    stage_rows = []
    default_threads = torch.get_num_threads()
    # Both thread counts in one run, same load: the ratio holds where the figures do not.
    for threads in (default_threads, 1):
        torch.set_num_threads(threads)
        stage_rows += [[threads, *row] for row in _stage_split(embedder, quick)]
    torch.set_num_threads(default_threads)
    latency = Table(
        "/search over HTTP (ms per request, k=10, one client on a kept-alive connection)",
        ["chunks", "what", "CHATAPP_EMBED_ENGINE", "p50 ms", "p95 ms", "p50 / query p50"],
        rows,
        note=(
            "One uvicorn worker on loopback with an admin API key; the query is embedded in the "
            "web process (MiniLM, loaded once). The baseline is the hybrid query alone in the "
            "bench process, same run, same questions. Each setting is its own server process, "
            "one after the other."
        ),
    )
    chosen = Table(
        "The embedder engine each server ran (from its log)",
        ["chunks", "CHATAPP_EMBED_ENGINE", "engine (why)"],
        engines,
    )
    split = Table(
        "Where the time of a /search request goes (from its Server-Timing header)",
        ["chunks", "CHATAPP_EMBED_ENGINE", "step", "p50 ms", "mean ms", "share of mean"],
        shares,
    )
    stage = Table(
        "The retrieval stage of a turn, step by step (demo help centre, in process)",
        ["torch threads", "step", "p50 ms per call", "mean ms per turn", "share of the stage"],
        stage_rows,
        note=(
            "model_excerpts includes its sentence embedding (also listed under embed); "
            "routed_search is the hybrid search (one knowledge base: no routing). Embedder "
            f"engine: {embedder.engine}; torch's thread count changes torch only (CTranslate2 "
            "keeps the threads it was loaded with)."
        ),
    )
    data = {
        "latency": rows,
        "engines": engines,
        "steps": shares,
        "stage": stage_rows,
        "queries": len(queries),
    }
    write_results(
        "search-http-quick" if quick else "search-http", data, [latency, chosen, split, stage]
    )
    return data
