"""``/search`` over HTTP at 10k and 100k chunks: what a client waits for, and where it goes.

A real uvicorn process serves the app on loopback against each scale's bench database (the
synthetic chunks of bench/latency.py). A client sends the questions one after another on a
kept-alive connection with an admin API key, as an integration would, and reads the
``Server-Timing`` header the API sends with every response, so the share of each step (auth,
parse, query embedding, hybrid query, JSON) is what production reports too. The baseline,
measured in the same run, is the hybrid query alone, called in this process.

The servers compared (convex fusion, the default until session 20, which reads no BM25
evidence; the default settings with the query embedded first and then searched; the default,
adaptive fusion with the query embedded alongside the search's first queries) run side by side,
and each question goes to each of them in turn, in an order that rotates: shared-machine noise
then falls on all of them alike, and their ratios hold where the absolute figures do not. The
torch embedder, measured against CTranslate2 in earlier runs, is no longer one of them: the
server logs which engine it chose and why.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ServerSetup:
    """One server of the comparison: a label for the tables and what its environment sets."""

    label: str
    embed_engine: str
    env: dict[str, str] = field(default_factory=dict)


SERVERS = (
    ServerSetup("convex fusion", "auto", {"CHATAPP_RETRIEVAL_FUSION": "convex"}),
    ServerSetup("embed then search", "auto", {"CHATAPP_SEARCH_EMBED_ALONGSIDE": "false"}),
    ServerSetup("default", "auto"),
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(database_url: str, setup: ServerSetup, log: Path) -> Iterator[str]:
    """A uvicorn process serving the app on loopback (one worker, as ``make run`` starts).

    ``setup`` gives its ``CHATAPP_EMBED_ENGINE`` and other settings; its log goes to ``log``,
    where the registry says which engine the query embedder got and why.
    """
    import httpx

    from chatapp.core import embedded

    port = _free_port()
    # A real Redis for the server: the rate limits are checked in it on every API call, as in
    # production (the bench process itself only has a placeholder URL).
    redis_dir = ROOT / "var" / "bench-http" / f"redis-{port}"
    redis_url, _ = embedded.ensure_redis(redis_dir, append_only=False)
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "DJANGO_DB_POOL": "true",  # as make run starts its web process
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.base",
        "CHATAPP_EMBED_ENGINE": setup.embed_engine,
        **setup.env,
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
    walls = _over_http(n, kb_id, queries, token, shares, engines)
    for setup, wall in zip(SERVERS, walls, strict=True):
        p50 = percentile(wall, 50)
        rows.append(
            [n, "/search over HTTP", setup.label, p50, percentile(wall, 95), p50 / p50_alone]
        )
    # Per question, the default against each other server (same question, back to back).
    default = walls[2]
    for other, label in ((walls[0], "convex fusion"), (walls[1], "embed then search")):
        ratios = sorted(d / o for o, d in zip(other, default, strict=True))
        rows.append(
            [n, f"default / {label}, per question", "-", None, None, ratios[len(ratios) // 2]]
        )


def _over_http(
    n: int,
    kb_id: int,
    queries: list[str],
    token: str,
    shares: list[list[Any]],
    engines: list[list[Any]],
) -> list[list[float]]:
    """Sends each question to every server of ``SERVERS`` in turn; one list of times each."""
    import httpx

    database = f"chatapp_bench_{n // 1000}k"
    logs = [
        ROOT / "var" / "bench-http" / f"server-{n // 1000}k-{index}.log"
        for index in range(len(SERVERS))
    ]
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/knowledge-bases/{kb_id}/search"
    with ExitStack() as stack:
        url = ensure_database(database)
        clients = [
            stack.enter_context(httpx.Client(base_url=stack.enter_context(_server(url, s, log))))
            for s, log in zip(SERVERS, logs, strict=True)
        ]
        for client in clients:  # loads each embedder, opens the database connections
            for q in queries[:WARMUP]:
                client.post(path, json={"query": q, "k": 10}, headers=headers, timeout=120)
        walls: list[list[float]] = [[] for _ in SERVERS]
        steps: list[dict[str, list[float]]] = [{s: [] for s in STEPS} for _ in SERVERS]
        progress = Progress(
            f"/search over HTTP at {n}, {len(SERVERS)} servers in turn", len(queries), "questions"
        )
        for number, q in enumerate(queries):
            for turn in range(len(SERVERS)):
                index = (number + turn) % len(SERVERS)  # who goes first rotates
                started = time.perf_counter()
                response = clients[index].post(
                    path, json={"query": q, "k": 10}, headers=headers, timeout=60
                )
                walls[index].append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                timing = parse_server_timing(response.headers.get("Server-Timing", ""))
                for step in STEPS:
                    steps[index][step].append(timing.get(step, 0.0))
            progress.advance()
    for setup, log, wall, spent in zip(SERVERS, logs, walls, steps, strict=True):
        engines.append([n, setup.label, _chosen_engine(log)])
        _add_shares(n, setup.label, wall, spent, shares)
    return walls


def _add_shares(
    n: int, label: str, wall: list[float], spent: dict[str, list[float]], shares: list[list[Any]]
) -> None:
    mean_wall = sum(wall) / len(wall)
    accounted = 0.0
    for step in STEPS:
        mean = sum(spent[step]) / len(spent[step])
        accounted += mean
        shares.append([n, label, step, percentile(spent[step], 50), mean, mean / mean_wall])
    rest = mean_wall - accounted
    outside = "outside the view (server, network, client)"
    shares.append([n, label, outside, None, rest, rest / mean_wall])


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
        ["chunks", "what", "server", "p50 ms", "p95 ms", "p50 / query p50"],
        rows,
        note=(
            "One uvicorn worker per server on loopback with an admin API key; the query is "
            "embedded in the web process (MiniLM, loaded once). The baseline is the hybrid query "
            "alone in the bench process, same run, same questions. The servers run side by side "
            "and each question goes to each of them in turn (the first one rotates). 'convex "
            "fusion': CHATAPP_RETRIEVAL_FUSION=convex; 'embed then search': "
            "CHATAPP_SEARCH_EMBED_ALONGSIDE=false. A per-question row is the median of the "
            "default's time over the other server's on the same question."
        ),
    )
    chosen = Table(
        "The embedder engine each server ran (from its log)",
        ["chunks", "server", "engine (why)"],
        engines,
    )
    split = Table(
        "Where the time of a /search request goes (from its Server-Timing header)",
        ["chunks", "server", "step", "p50 ms", "mean ms", "share of mean"],
        shares,
        note=(
            "With the embedding alongside, 'embed' is only the time the request waited for the "
            "vector after the search's first queries; the rest of the embedding ran meanwhile."
        ),
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
