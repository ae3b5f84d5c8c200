"""Many visitor sockets at and above the message limit: throttling, loss, latency, memory.

Bounded and loopback only. Starts uvicorn (one process) and one Celery worker on a database of
its own (``chatapp_bench_load``, a two-page knowledge base) with a FAST FAKE MODEL: the answerer
and the reviewer talk to a stub OpenAI-compatible server in this process that answers at once
(one fixed cited sentence; "Yes" to every review), so turns cost the web server what real ones
do (broadcasts, state changes) without the minutes of a CPU LLM. The embedder is the real one.

Each simulated visitor creates a conversation over HTTP (its own address, sent as
X-Forwarded-For behind one trusted proxy, so per-address limits count per visitor), opens
``/ws/conversations/<id>/`` and sends ``message.send`` frames one at a time: half of them at the
per-socket limit, half at twice it. A frame is *accepted* when its own ``message.created``
comes back, *throttled* on an ``error`` ``rate_limited``; anything else (another error, a
closed socket, no reply in 10 s) is an *error*. Afterwards every accepted message must be in
Postgres and nothing else (lost = accepted but not stored). Broadcast latency: from sending the
frame to its ``message.created`` (stored, committed, sent through the Redis channel layer).
Memory per socket: the web server's RSS with the sockets open minus before, divided by them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import override

from bench.common import (
    REPO_ROOT,
    Table,
    ensure_database,
    percentile,
    run_info,
    setup_django,
    write_results,
)
from bench.turns import _free_port, _port_open

LOAD_DB = "chatapp_bench_load"
LOG_DIR = REPO_ROOT / "var" / "bench" / "logs"
START_TIMEOUT_S = 120
REPLY_TIMEOUT_S = 30.0  # a frame with no reply in this long counts as an error
# The per-socket limit under test, scaled to a short run (CHATAPP_BENCH_LOAD_PER_SOCKET messages
# per CHATAPP_BENCH_LOAD_WINDOW_S): on the shared 2-core box one web process stored ~5 visitor
# messages a second, so 200 sockets at 2 per 30 s (13 a second accepted) already load it past that.
WINDOW_S = int(os.environ.get("CHATAPP_BENCH_LOAD_WINDOW_S", "30"))
PER_SOCKET = int(os.environ.get("CHATAPP_BENCH_LOAD_PER_SOCKET", "2"))
RATES = {
    "CHATAPP_RATE_MESSAGE_CONNECTION": f"{PER_SOCKET}/{WINDOW_S}s",
    "CHATAPP_RATE_MESSAGE_TOKEN": f"{2 * PER_SOCKET}/{WINDOW_S}s",
    "CHATAPP_RATE_MESSAGE_IP": f"{4 * PER_SOCKET}/{WINDOW_S}s",
    "CHATAPP_RATE_FRAME_CONNECTION": f"{6 * PER_SOCKET}/{WINDOW_S}s",
    "CHATAPP_RATE_CONVERSATION_CREATE_IP": "10/m",
    "CHATAPP_RATE_API_IP": "300/m",
}
FAKE_ANSWER = "Refunds go back to the card you paid with within 5 days [1]."
PAGES = {
    "Refunds": "# Refunds\n\nRefunds go back to the card you paid with within 5 days.",
    "Delivery": "# Delivery\n\nOrders ship within 2 working days; delivery takes 3 to 5 days.",
}


class _FakeModel(BaseHTTPRequestHandler):
    """``/v1/chat/completions``: a streamed fixed answer, or "Yes" with its log-probability."""

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if payload.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in FAKE_ANSWER.split(" "):
                event = {"choices": [{"delta": {"content": word + " "}}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        yes = {"token": "Yes", "logprob": 0.0, "top_logprobs": [{"token": "Yes", "logprob": 0.0}]}
        body = json.dumps(
            {"choices": [{"message": {"content": "Yes"}, "logprobs": {"content": [yes]}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @override
    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class Visitor:
    index: int
    rate_factor: int  # 1: at the limit, 2: twice it
    conversation_id: str = ""
    accepted: list[str] = field(default_factory=list)
    throttled: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"10.{self.index // 250}.{self.index % 250}.7"


def _knowledge_base() -> int:
    from chatapp.knowledge.embedding import embedder
    from chatapp.knowledge.models import Document, KnowledgeBase
    from chatapp.knowledge.services import document_create, document_index

    kb, _ = KnowledgeBase.objects.get_or_create(
        name="Load", defaults={"is_default": True, "visibility": "public"}
    )
    # Anonymous visitors reach public knowledge bases only.
    KnowledgeBase.objects.filter(pk=kb.pk).update(visibility="public", is_default=True)
    if Document.objects.filter(knowledge_base=kb, status="ready").count() < len(PAGES):
        for title, text in PAGES.items():
            doc, _ = document_create(knowledge_base=kb, title=title, text=text, queue=False)
            document_index(document_id=doc.pk, embedder=embedder())
    KnowledgeBase.objects.exclude(pk=kb.pk).update(is_default=False)
    return kb.pk


def _start(env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    celery = [sys.executable, "-m", "celery", "-A", "chatapp.config"]
    queues = "retrieval,answering,review,watchdog,indexing"
    subprocess.run(
        [*celery, "purge", "-f", "-Q", queues], env=env, cwd=REPO_ROOT, capture_output=True
    )
    worker = [*celery, "worker", "-Q", queues, "-c", "1", "-n", f"load-{port}@%h"]
    worker += ["--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
    web = [sys.executable, "-m", "uvicorn", "chatapp.config.asgi:application"]
    web += ["--port", str(port), "--log-level", "warning"]
    procs = []
    for name, argv in (("load-worker", worker), ("load-web", web)):
        with (LOG_DIR / f"{name}.log").open("wb") as log:
            procs.append(subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=log))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _port_open(port):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"the load stack did not start; logs in {LOG_DIR}")
        time.sleep(0.5)
    return procs


async def _visitor(
    visitor: Visitor, base: str, http: Any, duration_s: float, start_at: float
) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    response = await http.post(
        f"{base}/api/v1/conversations", json={}, headers={"X-Forwarded-For": visitor.address}
    )
    if response.status_code != 201:
        visitor.errors.append(f"create {response.status_code}")
        return
    conv = response.json()
    visitor.conversation_id = conv["id"]
    url = base.replace("http", "ws", 1) + conv["websocket_url"]
    headers = {"X-Forwarded-For": visitor.address}
    try:
        async with connect(
            url, origin=Origin(base), additional_headers=headers, open_timeout=30
        ) as ws:
            await _send_for(visitor, ws, duration_s, start_at)
    except Exception as exc:  # a refused or dropped socket is this visitor's error
        visitor.errors.append(f"socket: {exc!r}"[:200])


async def _send_for(visitor: Visitor, ws: Any, duration_s: float, start_at: float) -> None:
    """Send one frame per interval and wait for its fate before the next one."""
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    interval = WINDOW_S / (PER_SOCKET * visitor.rate_factor)
    # Spread the sockets over one interval so they do not all send in the same instant.
    await asyncio.sleep(interval * (visitor.index % 20) / 20)
    end = time.monotonic() + duration_s
    n = 0
    while time.monotonic() < end:
        slot = time.monotonic()
        msg_id = str(uuid.uuid4())
        frame = {"type": "message.send", "client_msg_id": msg_id, "text": f"refunds {n}?"}
        n += 1
        sent = time.perf_counter()
        await ws.send(json.dumps(frame))
        try:
            outcome = await asyncio.wait_for(_reply(ws, msg_id), REPLY_TIMEOUT_S)
        except TimeoutError:
            outcome = "no reply"
        if outcome == "accepted":
            visitor.accepted.append(msg_id)
            visitor.latencies.append(time.perf_counter() - sent)
        elif outcome == "rate_limited":
            visitor.throttled += 1
        else:
            visitor.errors.append(outcome)
        await asyncio.sleep(max(0.0, slot + interval - time.monotonic()))


async def _reply(ws: Any, msg_id: str) -> str:
    """Read frames until this one's fate: accepted, rate_limited or another error's code."""
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "error":
            return str(frame["code"])
        if frame["type"] == "message.created" and frame["message"].get("client_msg_id") == msg_id:
            return "accepted"


async def _load(
    base: str, visitors: list[Visitor], duration_s: float, web_pid: int
) -> tuple[float, float]:
    """Run the visitors; the web server's RSS after a warm-up visitor, and with all sockets open."""
    import httpx
    import psutil

    web = psutil.Process(web_pid)
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        # One visitor first, so that what every request loads once is in "before".
        warm = Visitor(10_000, 1)
        await _visitor(warm, base, http, 0.1, time.monotonic())
        if warm.errors or not warm.accepted:
            raise RuntimeError(f"the warm-up visitor failed: {warm.errors}")
        rss_before = float(web.memory_info().rss)
        start_at = time.monotonic() + 5 + len(visitors) * 0.05  # all sockets open first
        tasks = [
            asyncio.create_task(_visitor(v, base, http, duration_s, start_at)) for v in visitors
        ]
        await asyncio.sleep(max(0.0, start_at - time.monotonic()) - 0.5)
        rss_open = float(web.memory_info().rss)
        await asyncio.gather(*tasks)
    return rss_before, rss_open


def _stored(visitors: list[Visitor]) -> dict[str, set[str]]:
    from chatapp.conversations.models import Message

    rows = Message.objects.filter(
        conversation_id__in=[v.conversation_id for v in visitors if v.conversation_id],
        role="visitor",
    ).values_list("conversation_id", "client_msg_id")
    stored: dict[str, set[str]] = {}
    for conversation_id, client_msg_id in rows:
        stored.setdefault(str(conversation_id), set()).add(str(client_msg_id))
    return stored


def run(quick: bool = False) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    from chatapp.core import embedded

    sockets, duration_s = (50, float(WINDOW_S)) if quick else (200, float(WINDOW_S))
    sockets = int(os.environ.get("CHATAPP_BENCH_LOAD_SOCKETS", sockets))
    redis_url, _ = embedded.ensure_redis(REPO_ROOT / "var")
    os.environ["REDIS_URL"] = redis_url
    setup_django(LOAD_DB)
    kb = _knowledge_base()
    fake = ThreadingHTTPServer(("127.0.0.1", 0), _FakeModel)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    model = f"openai:http://127.0.0.1:{fake.server_address[1]}#fake"
    port = _free_port()
    env = {
        **os.environ,
        **RATES,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.base",
        "DATABASE_URL": ensure_database(LOAD_DB),
        "REDIS_URL": redis_url,
        "CHATAPP_LLM_MODEL": model,
        "CHATAPP_REVIEW_MODEL": model,
        "CHATAPP_PROXY_COUNT": "1",
        # DJANGO_CONN_MAX_AGE stays 0: under ASGI each request runs in a thread of its own, and
        # persistent connections ran Postgres out of connections ("too many clients").
        "DJANGO_CONN_MAX_AGE": "0",
        "CHATAPP_WARM": "embedder",
        "PYTHONUNBUFFERED": "1",
    }
    procs = _start(env, port)
    visitors = [Visitor(i, 1 if i % 2 == 0 else 2) for i in range(sockets)]
    try:
        started = time.perf_counter()
        rss_before, rss_open = asyncio.run(
            _load(f"http://127.0.0.1:{port}", visitors, duration_s, procs[1].pid)
        )
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        fake.shutdown()
    stored = _stored(visitors)
    rows = []
    data: dict[str, Any] = {
        **run_info(),
        "sockets": sockets,
        "duration_s": duration_s,
        "rates": RATES,
        "knowledge_base_id": kb,
        "model": "fake (stub OpenAI-compatible server, instant)",
        "wall_s": elapsed,
        "groups": {},
    }
    for label, factor in (("at the limit", 1), ("twice the limit", 2)):
        group = [v for v in visitors if v.rate_factor == factor]
        accepted = sum(len(v.accepted) for v in group)
        lost = sum(len(set(v.accepted) - stored.get(v.conversation_id, set())) for v in group)
        extra = sum(len(stored.get(v.conversation_id, set()) - set(v.accepted)) for v in group)
        latencies = [x for v in group for x in v.latencies]
        errors = [e for v in group for e in v.errors]
        row = {
            "sockets": len(group),
            "sent": accepted + sum(v.throttled for v in group) + len(errors),
            "accepted": accepted,
            "throttled": sum(v.throttled for v in group),
            "errors": len(errors),
            "lost": lost,
            "stored_not_acknowledged": extra,
            "latency_p50_ms": percentile(latencies, 50) * 1000,
            "latency_p99_ms": percentile(latencies, 99) * 1000,
            "error_samples": errors[:5],
        }
        data["groups"][label] = row
        rows.append(
            [
                label,
                row["sockets"],
                row["sent"],
                row["accepted"],
                row["throttled"],
                row["errors"],
                row["lost"],
                row["latency_p50_ms"],
                row["latency_p99_ms"],
            ]
        )
    per_socket_kib = (rss_open - rss_before) / sockets / 1024
    data["rss_before_mib"] = rss_before / 2**20
    data["rss_open_mib"] = rss_open / 2**20
    data["memory_per_socket_kib"] = per_socket_kib
    table = Table(
        f"{sockets} visitor sockets for {duration_s:.0f} s, limit {PER_SOCKET} messages per "
        f"socket per {WINDOW_S} s (loopback, one uvicorn process, fast fake model)",
        [
            "senders",
            "sockets",
            "sent",
            "accepted",
            "throttled",
            "errors",
            "lost",
            "broadcast p50 ms",
            "p99 ms",
        ],
        rows,
        note=(
            f"Web server RSS {data['rss_before_mib']:.0f} MiB before, "
            f"{data['rss_open_mib']:.0f} MiB with the sockets open: "
            f"{per_socket_kib:.0f} KiB per socket. Lost: accepted (echoed) but not in Postgres. "
            "The model is a stub that answers at once; the embedder is real. "
            f"Machine: {run_info()['device']}, shared."
        ),
    )
    write_results("load-quick" if quick else "load", data, [table])
    return data
