"""REST fuzz run: schemathesis against the served OpenAPI document, on a live server; no 5xx.

The server is a real uvicorn on the test database (Postgres + pgvector) and the test Redis, in a
Redis database of its own: turns and indexing the fuzzed requests start stay queued there, away
from the other end-to-end tests' worker, and are dropped at the end. Bounded and seeded:
``CHATAPP_FUZZ_EXAMPLES`` cases per operation (``make fuzz`` runs more).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from tests.e2e.helpers import http_json
from tests.e2e.processes import LOG_DIR, ROOT, database_url, free_port, start, stop, web_argv

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("CHATAPP_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("CHATAPP_FUZZ_SEED", "20260801"))
RUN_TIMEOUT_S = 600
EMBEDDER_LOAD_TIMEOUT_S = 180
# A database of the test Redis that no test worker reads.
FUZZ_REDIS_DB = 9
# /healthz answers 503 by design while no worker serves the queues (none does here): its own
# tests cover it (tests/chatapp/api/test_health.py).
EXCLUDED_PATHS = ["/healthz"]


def _redis_url(url: str, db: int) -> str:
    return f"{url.rsplit('/', 1)[0]}/{db}"


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"web server exited with {proc.returncode}; log in {LOG_DIR}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310  (loopback)
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {timeout_s}s")


@pytest.fixture
def web(django_db_setup: Any, settings) -> Iterator[str]:
    """A uvicorn on the test database and a Redis database of its own; yields its base URL."""
    import redis
    from django.db import connection

    redis_url = _redis_url(settings.REDIS_URL, FUZZ_REDIS_DB)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    port = free_port()
    proc = start(web_argv(port), env, "fuzz-web")
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/v1/openapi.json", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([proc])
        redis.Redis.from_url(redis_url).flushdb()


def _objects(base_url: str, auth: dict[str, str]) -> dict[str, Any]:
    """One object of each kind the paths name, made through the API, so that the cases reach
    the handlers' work instead of their 404s."""
    _, kb = http_json("POST", f"{base_url}/api/v1/knowledge-bases", {"name": "Fuzz KB"}, auth)
    kb_url = f"{base_url}/api/v1/knowledge-bases/{kb['id']}"
    _, doc = http_json(
        "POST", f"{kb_url}/documents", {"title": "Refunds", "text": "Refunds take 5 days."}, auth
    )
    # The first embedding loads the model in the web process (searches need it too): slow on
    # a busy 2-core box, so before the cases and with time to spare.
    _, curated = http_json(
        "POST",
        f"{kb_url}/curated-answers",
        {"question": "Refunds?", "answer": "5 days."},
        auth,
        timeout=EMBEDDER_LOAD_TIMEOUT_S,
    )
    _, job = http_json("POST", f"{kb_url}/reindex", {}, auth)
    _, conversation = http_json("POST", f"{base_url}/api/v1/conversations", {})
    return {
        "kb_id": kb["id"],
        "document_id": doc["id"],
        "curated_id": curated["id"],
        "job_id": job["id"],
        "conversation_id": conversation["id"],
    }


def _fuzz(
    base_url: str, report: Path, headers: list[str], config: Path
) -> subprocess.CompletedProcess[str]:
    argv = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *[arg for path in EXCLUDED_PATHS for arg in ("--exclude-path", path)],
        *[arg for header in headers for arg in ("-H", header)],
    ]
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_no_operation_answers_5xx(web, who, tmp_path):
    # given: as admin (every route) on existing objects; anonymously on made-up ids (the
    # visitor and refusal paths)
    headers: list[str] = []
    config = tmp_path / "schemathesis.toml"
    config.write_text("")
    if who == "admin":
        admin = user_ensure(username="fuzz-admin", role=User.Role.ADMIN, password="fuzz-pass-1")
        headers.append(f"Authorization: Bearer {api_key_create(user=admin)}")
        ids = _objects(web, {"Authorization": headers[0].split(": ", 1)[1]})
        config.write_text(
            "[parameters]\n" + "".join(f'"path.{k}" = {json.dumps(v)}\n' for k, v in ids.items())
        )
    report = tmp_path / "report.json"
    # when
    result = _fuzz(web, report, headers, config)
    # then
    summary = result.stdout[-4000:]
    (LOG_DIR / f"fuzz-{who}.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert report.exists(), summary
    assert json.loads(report.read_text()) is not None
