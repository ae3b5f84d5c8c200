"""Throughput of the production profile (``make serve``): 1 vs 2 web processes, 1 vs 2 workers.

Each configuration starts ``python -m chatapp.serve`` with the production settings on a bench
database of its own (``chatapp_bench_serve``, a two-page knowledge base) and a Redis server: the
external one on 127.0.0.1:6379 where it answers (an empty logical database), else an embedded
one. The answerer and the reviewer are a FAST FAKE MODEL (the stub OpenAI-compatible server of
``bench.load``, which answers at once), so a turn costs what the stack itself costs: the web
processes (HTTP, sockets, broadcasts), the retrieval worker (the real embedder), Postgres and
Redis. A burst of visitors, each from its own address (behind one trusted proxy), creates a
conversation, opens its socket and asks one question at the same moment; the run ends when
every turn has completed.

turns/s: completed turns over the time from the first question to the last ``turn.completed``.
broadcasts/s: websocket frames the visitors received over the same time.
Ratios are against 1 web process and 1 worker per queue, measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from bench.common import (
    REPO_ROOT,
    Progress,
    Table,
    ensure_database,
    percentile,
    run_info,
    setup_django,
    write_results,
)
from bench.load import LOG_DIR, _FakeModel, _knowledge_base
from bench.machine import cpu_features
from bench.turns import _free_port

SERVE_DB = "chatapp_bench_serve"
CONFIGS = ((1, 1), (2, 1), (1, 2), (2, 2))  # (web processes, workers per turn queue)
START_TIMEOUT_S = 300
TURN_TIMEOUT_S = 300.0
QUESTIONS = (
    "How long do refunds take?",
    "When do orders ship?",
    "Where does my refund go?",
    "How long is delivery?",
)


def _redis() -> tuple[str, str, Any]:
    """``(url, what it is, cleanup)``: an empty database of the external Redis, else embedded."""
    import redis

    try:
        redis.Redis("127.0.0.1", 6379, socket_connect_timeout=2).ping()
    except redis.RedisError:
        from chatapp.core import embedded

        folder = REPO_ROOT / "var" / "bench-serve"
        url, _ = embedded.ensure_redis(folder, append_only=False)
        return url, "embedded Redis (none on 127.0.0.1:6379)", lambda: None
    for db in range(14, 0, -1):
        client = redis.Redis("127.0.0.1", 6379, db=db)
        if client.dbsize() == 0 and client.set("chatapp:bench:serve", 1, nx=True, ex=3600):
            return f"redis://127.0.0.1:6379/{db}", "external Redis 127.0.0.1:6379", client.flushdb
    raise RuntimeError("no empty logical database on the Redis at 127.0.0.1:6379")


def _start(env: dict[str, str], port: int, web: int, workers: int) -> subprocess.Popen[bytes]:
    specs = f"retrieval:{workers};answering:{workers};review:{workers};indexing:1;watchdog:1"
    argv = [sys.executable, "-m", "chatapp.serve", "--port", str(port)]
    argv += ["--web-workers", str(web), "--workers", specs]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"serve-{web}-{workers}.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=log)
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the profile did not become healthy; logs in {LOG_DIR}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(1)


async def _visitor(index: int, base: str, http: Any, start_at: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    address = f"10.{index // 250}.{index % 250}.9"
    headers = {"X-Forwarded-For": address}
    response = await http.post(f"{base}/api/v1/conversations", json={}, headers=headers)
    if response.status_code != 201:
        return {"error": f"create {response.status_code}"}
    conv = response.json()
    url = base.replace("http", "ws", 1) + conv["websocket_url"]
    frames = 0
    phase = "socket open"
    try:
        async with connect(
            url, origin=Origin(base), additional_headers=headers, open_timeout=60
        ) as ws:
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            sent = time.monotonic()
            question = QUESTIONS[index % len(QUESTIONS)]
            await ws.send(json.dumps({"type": "message.send", "text": question}))
            phase = "turn"
            deadline = sent + TURN_TIMEOUT_S
            while True:
                raw = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
                frames += 1
                frame = json.loads(raw)
                if frame["type"] == "turn.completed":
                    return {
                        "sent": sent,
                        "done": time.monotonic(),
                        "frames": frames,
                        "outcome": frame.get("outcome"),
                    }
    except Exception as exc:  # this visitor's failure, reported with where it happened
        return {"error": f"{phase}: {exc!r}"[:200], "frames": frames}


async def _burst(base: str, visitors: int) -> list[dict[str, Any]]:
    import httpx

    async with httpx.AsyncClient(timeout=60) as http:
        await _visitor(10_000, base, http, time.monotonic())  # warm-up: models, connections
        start_at = time.monotonic() + 5 + visitors * 0.05  # every socket open first
        tasks = [_visitor(i, base, http, start_at) for i in range(visitors)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
    return [r if isinstance(r, dict) else {"error": repr(r)[:200]} for r in results]


def run(quick: bool = False) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    visitors = int(os.environ.get("CHATAPP_BENCH_SERVE_VISITORS", 12 if quick else 40))
    redis_url, redis_kind, cleanup = _redis()
    os.environ["REDIS_URL"] = redis_url
    setup_django(SERVE_DB)
    kb = _knowledge_base()
    fake = ThreadingHTTPServer(("127.0.0.1", 0), _FakeModel)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    model = f"openai:http://127.0.0.1:{fake.server_address[1]}#fake"
    var_dir = REPO_ROOT / "var" / "bench" / "serve"
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CHATAPP_", "CELERY_"))
    }
    base_env |= {
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": ensure_database(SERVE_DB),
        "REDIS_URL": redis_url,
        "CHATAPP_VAR_DIR": str(var_dir),
        "CHATAPP_MODELS_DIR": str(REPO_ROOT / "var" / "models"),
        "CHATAPP_LLM_MODEL": model,
        "CHATAPP_REVIEW_MODEL": model,
        "CHATAPP_PROXY_COUNT": "1",
        "PYTHONUNBUFFERED": "1",
    }
    rows: list[list[Any]] = []
    cpu = cpu_features()
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores, flags {' '.join(cpu['flags'])}", flush=True)
    data: dict[str, Any] = {
        **run_info(),
        "cpu": cpu,
        "visitors": visitors,
        "redis": redis_kind,
        "knowledge_base_id": kb,
        "model": "fake (stub OpenAI-compatible server, instant)",
        "configs": {},
    }
    progress = Progress("production profile configurations", len(CONFIGS), "configs")
    baseline: dict[str, float] = {}
    try:
        for web, workers in CONFIGS:
            import redis

            redis.Redis.from_url(redis_url).flushdb()  # no task of the previous config left
            port = _free_port()
            proc = _start(base_env, port, web, workers)
            try:
                results = asyncio.run(_burst(f"http://127.0.0.1:{port}", visitors))
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            done = [r for r in results if "done" in r]
            span = max(r["done"] for r in done) - min(r["sent"] for r in done) if done else 0.0
            turns_s = len(done) / span if span else 0.0
            frames_s = sum(r["frames"] for r in done) / span if span else 0.0
            turn_s = [r["done"] - r["sent"] for r in done]
            baseline = baseline or {"turns": turns_s, "frames": frames_s}
            row = {
                "completed": len(done),
                "errors": [r["error"] for r in results if "error" in r][:5],
                "answered": sum(1 for r in done if r["outcome"] == "answered"),
                "span_s": span,
                "turns_per_s": turns_s,
                "broadcasts_per_s": frames_s,
                "turn_p50_s": percentile(turn_s, 50),
                "turn_p95_s": percentile(turn_s, 95),
            }
            data["configs"][f"web{web}-workers{workers}"] = row
            rows.append(
                [
                    web,
                    workers,
                    f"{len(done)}/{visitors}",
                    row["answered"],
                    turns_s,
                    turns_s / baseline["turns"] if baseline["turns"] else 0.0,
                    frames_s,
                    frames_s / baseline["frames"] if baseline["frames"] else 0.0,
                    row["turn_p50_s"],
                    row["turn_p95_s"],
                ]
            )
            progress.advance(note=f"web {web}, workers {workers}: {turns_s:.2f} turns/s")
    finally:
        fake.shutdown()
        cleanup()
        shutil.rmtree(var_dir, ignore_errors=True)
    table = Table(
        f"Production profile, a burst of {visitors} visitors asking at once (loopback, "
        f"{redis_kind}, fast fake model)",
        [
            "web processes",
            "workers per queue",
            "turns completed",
            "answered",
            "turns/s",
            "x (1, 1)",
            "broadcasts/s",
            "x (1, 1)",
            "turn p50 s",
            "p95 s",
        ],
        rows,
        note=(
            "Workers per queue: retrieval, answering and review (indexing and watchdog: 1). "
            "The model is a stub that answers at once; the embedder is real. "
            f"Machine: {cpu['model']}, {cpu['cores']} cores ({' '.join(cpu['flags'])}), "
            "shared with other work; one run. Load average at the start: "
            f"{os.getloadavg()[0]:.1f}."
        ),
    )
    write_results("serve-quick" if quick else "serve", data, [table])
    return data
