"""Auto-assignment under a burst (``chatapp/assignment``): 50 conversations start waiting at once;
3 agents are online with capacity 5, one chose offline and one's heartbeats stopped.

Several assignment passes race, each in its own thread and Postgres connection (as the watchdog
worker processes would), while the online agents close every conversation they get (so capacity
frees and later passes give out the rest). Reported: time from the burst until the first 15 are
assigned (all the capacity there is) and until all 50 have been; each conversation's wait; each
pass's duration; and the checks: every conversation assigned exactly once, none to an offline
agent, no agent past capacity at any pass's end. The baseline is one pass at a time.

The passes' own task messages are not sent (no broker here): the bench drives the passes.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

from bench.common import REPO_ROOT, Table, percentile, setup_django, write_results

ASSIGN_DB = "chatapp_bench_assign"  # conversations and agents of this bench only
WAITING = 50
AGENTS = 3
CAPACITY = 5
CONCURRENCY = (1, 4, 8)
REPEATS = 3


def _reset() -> tuple[list[Any], list[Any]]:
    from django.utils import timezone

    from chatapp.accounts.models import User
    from chatapp.assignment.models import AgentPresence, AssignmentSettings, AutoAssignment
    from chatapp.conversations.models import Conversation

    AutoAssignment.objects.all().delete()
    Conversation.objects.all().delete()
    AgentPresence.objects.all().delete()
    User.objects.filter(username__startswith="bench-").delete()
    AssignmentSettings.objects.update_or_create(
        pk=1, defaults={"auto_assign": True, "default_capacity": CAPACITY}
    )
    now = timezone.now()
    online = []
    for i in range(AGENTS):
        user = User.objects.create(username=f"bench-online-{i}", role=User.Role.AGENT)
        AgentPresence.objects.create(user=user, status="online", last_seen=now)
        online.append(user)
    offline = []
    for name, status, seen in (("offline", "offline", now), ("stale", "online", None)):
        user = User.objects.create(username=f"bench-{name}", role=User.Role.AGENT)
        last_seen = seen or now - timezone.timedelta(seconds=3600)
        AgentPresence.objects.create(user=user, status=status, last_seen=last_seen)
        offline.append(user)
    return online, offline


def _burst() -> list[Any]:
    from chatapp.conversations.services import conversation_create, conversation_handoff

    conversations = []
    for _ in range(WAITING):
        conversation, _ = conversation_create()
        conversation_handoff(
            conversation=conversation, reason="visitor_request", detail="", notice="Wait."
        )
        conversations.append(conversation)
    return conversations


def _run_once(concurrency: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from chatapp.assignment.models import AutoAssignment
    from chatapp.assignment.services import assignment_pass
    from chatapp.conversations.models import Conversation
    from chatapp.conversations.services import conversation_close

    online, offline = _reset()
    conversations = _burst()
    from django.utils import timezone

    burst_end = timezone.now()  # every conversation waits; the passes start now
    pass_ms: list[float] = []
    peaks: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    done = threading.Event()
    started = time.perf_counter()

    def passes() -> None:
        try:
            while not done.is_set():
                t0 = time.perf_counter()
                # The loads are read before the pass commits (it still holds the lock): what
                # it left, before any agent closes anything.
                with transaction.atomic():
                    assignment_pass()
                    elapsed = (time.perf_counter() - t0) * 1000
                    loads = Counter(
                        Conversation.objects.filter(status="assigned").values_list(
                            "assignee_id", flat=True
                        )
                    )
                with lock:
                    pass_ms.append(elapsed)
                    peaks.append(max(loads.values(), default=0))
                if AutoAssignment.objects.count() >= WAITING:
                    done.set()
        except BaseException as exc:
            errors.append(exc)
            done.set()
        finally:
            connection.close()

    def agent(user: Any) -> None:
        try:
            while not done.is_set():
                held = list(Conversation.objects.filter(status="assigned", assignee=user))
                for conversation in held:
                    conversation_close(conversation=conversation, by=user)
                if not held:
                    time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)
            done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=passes) for _ in range(concurrency)]
    threads += [threading.Thread(target=agent, args=(u,)) for u in online]
    for t in threads:
        t.start()
    done.wait(timeout=600)
    for t in threads:
        t.join(timeout=60)
    total_s = time.perf_counter() - started
    if errors:
        raise errors[0]
    rows = list(AutoAssignment.objects.values_list("conversation_id", "agent_id", "assigned_at"))
    per_conversation = Counter(c for c, _, _ in rows)
    waits = sorted((at - burst_end).total_seconds() * 1000 for _, _, at in rows)
    return {
        "concurrency": concurrency,
        "passes": len(pass_ms),
        "total_s": total_s,
        "first_15_ms": waits[AGENTS * CAPACITY - 1] if len(waits) >= AGENTS * CAPACITY else None,
        "all_ms": waits[-1] if waits else None,
        "wait_p50_ms": percentile(waits, 50),
        "wait_p95_ms": percentile(waits, 95),
        "pass_p50_ms": percentile(pass_ms, 50),
        "pass_p95_ms": percentile(pass_ms, 95),
        "assigned_once": set(per_conversation) == {c.pk for c in conversations}
        and set(per_conversation.values()) == {1},
        "to_offline": sum(1 for _, a, _ in rows if a in {u.pk for u in offline}),
        "max_load": max(peaks, default=0),  # the most any agent held as a pass ended
    }


def run(quick: bool = False) -> dict[str, Any]:
    from chatapp.core import embedded

    # A real Redis for the channel layer: every assignment broadcasts to the visitor and the
    # consoles, as in production (the other benches set a placeholder URL).
    redis_dir = REPO_ROOT / "var" / "bench-assign"
    redis_url, _ = embedded.ensure_redis(redis_dir, append_only=False)
    os.environ["REDIS_URL"] = redis_url
    try:
        return _run(quick, redis_url)
    finally:
        embedded.stop_redis(redis_dir)


def _run(quick: bool, redis_url: str) -> dict[str, Any]:
    from bench.machine import cpu_features

    setup_django(ASSIGN_DB)
    from unittest import mock

    from django.conf import settings

    if redis_url != settings.REDIS_URL:
        raise RuntimeError("Django was set up before the bench's Redis")

    cpu = cpu_features()
    print(f"cpu: {cpu} load: {os.getloadavg()}", flush=True)
    repeats = 1 if quick else REPEATS
    results = []
    # No broker in benches: the passes the services would ask for are run by the bench itself.
    with mock.patch("chatapp.core.tasks.task_signature"):
        for concurrency in CONCURRENCY:
            for _ in range(repeats):
                results.append(_run_once(concurrency))
                print(f"  concurrency {concurrency}: {results[-1]}", flush=True)
    rows = []
    for concurrency in CONCURRENCY:
        mine = [r for r in results if r["concurrency"] == concurrency]

        def med(key: str, mine: list[dict[str, Any]] = mine) -> float:
            return percentile([r[key] for r in mine], 50)

        rows.append(
            [
                concurrency,
                len(mine),
                med("first_15_ms"),
                med("all_ms"),
                med("wait_p50_ms"),
                med("wait_p95_ms"),
                med("pass_p50_ms"),
                med("pass_p95_ms"),
                "yes" if all(r["assigned_once"] for r in mine) else "NO",
                sum(r["to_offline"] for r in mine),
                max(r["max_load"] for r in mine),
            ]
        )
    table = Table(
        title=f"Burst: {WAITING} waiting, {AGENTS} online agents x capacity {CAPACITY}, "
        "2 offline agents; agents close what they get",
        columns=[
            "racing passes",
            "runs",
            "first 15 ms",
            "all 50 ms",
            "wait p50 ms",
            "wait p95 ms",
            "pass p50 ms",
            "pass p95 ms",
            "each once",
            "to offline",
            "max load",
        ],
        rows=rows,
        note=(
            "Times are medians over the runs, from the moment all 50 wait (the passes start) "
            f"to each conversation's AutoAssignment row. CPU: {cpu['model']}, {cpu['cores']} "
            f"cores, load average {os.getloadavg()[0]:.2f} at the end."
        ),
    )
    data = {"cpu": cpu, "runs": results}
    write_results("assignment-quick" if quick else "assignment", data, [table])
    return data
