"""Webhook delivery: latency from commit to the receiver, and a receiver down for a minute.

Loopback only. One real Celery worker on the ``webhooks`` queue (the production default: one
process) and the embedded Redis; events are recorded by this process in its own database
(``chatapp_bench_webhooks``) with ``webhook_event_emit`` inside a transaction, exactly as the
services do, and delivered to a real HTTP receiver (``chatapp.webhooks.receiver``) that checks
every signature.

1. Latency: events one at a time (every 50 ms), then a burst of events committed together;
   latency is the receiver's arrival time minus the commit time.
2. Receiver down: the receiver's port is closed for ``DOWN_S`` seconds while events keep coming;
   then it comes back on the same port. Counted: events delivered (each once: the receiver keys
   them by event id), lost (never delivered), duplicates, the attempts they took, and how long
   after the receiver came back the last one arrived. Retries wait 5, 15, 45, 135 s… (defaults).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from bench.common import (
    REPO_ROOT,
    Table,
    ensure_database,
    percentile,
    run_info,
    setup_django,
    write_results,
)

DB = "chatapp_bench_webhooks"
LOG_DIR = REPO_ROOT / "var" / "bench-logs"
SECRET = "bench-secret"  # noqa: S105  (the bench receiver's, on loopback)
START_TIMEOUT_S = 120


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    celery = [sys.executable, "-m", "celery", "-A", "chatapp.config"]
    subprocess.run(
        [*celery, "purge", "-f", "-Q", "webhooks"], env=env, cwd=REPO_ROOT, capture_output=True
    )
    argv = [*celery, "worker", "-Q", "webhooks", "-c", "1", "-n", f"bench-hooks-{os.getpid()}@%h"]
    argv += ["--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / "webhooks-worker.log").open("wb") as log:
        return subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=log)


def _emit(seq: int, phase: str) -> float:
    """Record one event in a transaction; returns the commit time (time.time())."""
    from django.db import transaction

    from chatapp.webhooks.services import webhook_event_emit

    with transaction.atomic():
        webhook_event_emit("message.created", {"seq": seq, "phase": phase})
    return time.time()


def _arrivals(receiver: Any, phase: str) -> dict[int, list[float]]:
    seen: dict[int, list[float]] = {}
    for r in receiver.events():
        data = r.body.get("data", {})
        if data.get("phase") == phase:
            seen.setdefault(int(data["seq"]), []).append(r.at)
    return seen


def _wait(receiver: Any, phase: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_arrivals(receiver, phase)) < n:
        time.sleep(0.05)


def _latency_rows(
    label: str, committed: dict[int, float], seen: dict[int, list[float]]
) -> list[Any]:
    lat = [(min(seen[s]) - t) * 1000 for s, t in committed.items() if s in seen]
    return [
        label,
        len(committed),
        len(lat),
        percentile(lat, 50),
        percentile(lat, 95),
        max(lat) if lat else float("nan"),
    ]


def run(quick: bool = False) -> dict[str, Any]:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from chatapp.core import embedded

    redis_url, _ = embedded.ensure_redis(REPO_ROOT / "var")
    os.environ["REDIS_URL"] = redis_url
    os.environ["CELERY_BROKER_URL"] = redis_url
    setup_django(DB)
    from django.conf import settings

    from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint
    from chatapp.webhooks.receiver import Receiver
    from chatapp.webhooks.services import webhook_endpoint_create

    settings.CHATAPP_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    WebhookEndpoint.objects.all().delete()
    single, burst = (50, 50) if quick else (200, 200)
    down_s = 20.0 if quick else 60.0
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.base",
        "DATABASE_URL": ensure_database(DB),
        "REDIS_URL": redis_url,
        "CHATAPP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "PYTHONUNBUFFERED": "1",
    }
    receiver = Receiver(secret=SECRET).start()
    port = int(receiver.url.split(":")[2].split("/")[0])
    from chatapp.accounts.models import User
    from chatapp.accounts.services import user_ensure

    admin = user_ensure(username="bench-hooks-admin", role=User.Role.ADMIN)
    webhook_endpoint_create(url=receiver.url, secret=SECRET, events=["message.created"], by=admin)
    worker = _worker(env)
    try:
        # warm-up: the worker is up once it delivers
        _emit(-1, "warmup")
        _wait(receiver, "warmup", 1, START_TIMEOUT_S)
        # 1. latency, one at a time
        committed = {}
        for seq in range(single):
            committed[seq] = _emit(seq, "single")
            time.sleep(0.05)
        _wait(receiver, "single", single, 120)
        seen_single = _arrivals(receiver, "single")
        # 1b. a burst: all committed at once
        burst_committed = {seq: _emit(seq, "burst") for seq in range(burst)}
        burst_start = min(burst_committed.values())
        _wait(receiver, "burst", burst, 300)
        seen_burst = _arrivals(receiver, "burst")
        burst_s = max(min(v) for v in seen_burst.values()) - burst_start if seen_burst else 0
        # 2. receiver down for down_s while events keep coming (about 2 per second)
        receiver.stop()
        down_at = time.time()
        down_committed = {}
        seq = 0
        while time.time() - down_at < down_s:
            down_committed[seq] = _emit(seq, "down")
            seq += 1
            time.sleep(0.5)
        back = Receiver(secret=SECRET, received=receiver.received).start(port=port)
        back_at = time.time()
        _wait(back, "down", len(down_committed), 600)
        seen_down = _arrivals(back, "down")
        back.stop()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    down_rows = WebhookDelivery.objects.filter(body__contains='"phase":"down"')
    attempts = Counter(d.attempts for d in down_rows)
    lost = [s for s in down_committed if s not in seen_down]
    duplicates = sum(len(v) - 1 for v in seen_down.values())
    invalid = sum(1 for r in back.events() if not r.valid)
    last_after_back = (
        max(min(v) for v in seen_down.values()) - back_at if seen_down else float("nan")
    )
    latency = Table(
        "Delivery latency, commit to receiver (ms)",
        ["events", "sent", "delivered", "p50", "p95", "max"],
        [
            _latency_rows("one at a time (every 50 ms)", committed, seen_single),
            _latency_rows(f"burst of {burst}", burst_committed, seen_burst),
        ],
        note=(
            f"Burst drained in {burst_s:.2f} s "
            f"({burst / burst_s if burst_s else 0:.0f} deliveries/s, one worker process)."
        ),
    )
    outage = Table(
        f"Receiver down for {down_s:.0f} s, events every 0.5 s meanwhile",
        [
            "events",
            "delivered",
            "lost",
            "duplicates",
            "bad signatures",
            "last one after receiver back (s)",
            "attempts: deliveries",
        ],
        [
            [
                len(down_committed),
                len(seen_down),
                len(lost),
                duplicates,
                invalid,
                last_after_back,
                ", ".join(f"{k}: {v}" for k, v in sorted(attempts.items())),
            ]
        ],
        note="Retries at 5, 15, 45, 135 s after each failure (CHATAPP_WEBHOOK_RETRY_BASE_S=5, x3).",
    )
    data = {
        **run_info(),
        "cpu_count": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "single": len(committed),
        "burst": burst,
        "down_s": down_s,
        "lost": lost,
        "duplicates": duplicates,
    }
    write_results("webhooks", data, [latency, outage])
    return data
