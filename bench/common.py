"""Shared benchmark plumbing: bench databases, Django set-up, the embedder, progress and results."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
# The eval data sits beside the clone (../shared/eval), both here and in CI.
EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
BENCH_DB = "chatapp_bench"  # retrieval + indexing; kept apart from the app's own database
SCALE_DB = "chatapp_bench_scale"  # synthetic chunks only, so HNSW sees one knowledge base


def _bench_url(base_url: str, name: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


def _base_database_url() -> str:
    """The server to put bench databases on: DATABASE_URL, else the embedded one in var/."""
    url = os.environ.get("CHATAPP_BENCH_BASE_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    from chatapp.core.embedded import ensure_postgres

    var_dir = Path(os.environ.get("CHATAPP_VAR_DIR", str(REPO_ROOT / "var")))
    url, _ = ensure_postgres(var_dir)
    return url


def _connect_kwargs(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    host = unquote(query.get("host") or parts.hostname or "")
    if not host and parts.netloc:
        host = unquote(parts.netloc.rpartition("@")[2].split(":")[0])
    return {
        "host": host or None,
        "port": parts.port,
        "user": unquote(parts.username or "") or None,
        "password": unquote(parts.password or "") or None,
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
    }


def ensure_database(name: str) -> str:
    """Create database ``name`` on the bench server when missing; return its URL."""
    import psycopg

    base = _base_database_url()
    with psycopg.connect(**_connect_kwargs(base), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return _bench_url(base, name)


_django_ready = False


def setup_django(database: str = BENCH_DB) -> None:
    """Configure Django on database ``database`` (created and migrated when needed).

    Later calls switch the default connection to another bench database, the way Django's
    test runner switches to the test database.
    """
    global _django_ready
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Benchmarks need no broker; a placeholder keeps settings from starting an embedded Redis.
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.config.settings.base")
    url = ensure_database(database)
    if not _django_ready:
        os.environ["DATABASE_URL"] = url
        import django

        django.setup()
        _django_ready = True
    else:
        from django.db import connection

        connection.close()
        connection.settings_dict["NAME"] = database
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def vacuum_analyze() -> None:
    """VACUUM (ANALYZE) the chunk table: flush the GIN pending list, refresh word statistics.

    After bulk inserts the GIN index keeps new entries in a pending list that every full-text
    search scans linearly, and the search's word frequencies come from ANALYZE; autovacuum
    does both eventually, a benchmark must not measure before it has.
    """
    from django.db import connection

    from chatapp.knowledge.models import Chunk

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {Chunk._meta.db_table}")


def embedder_load() -> Any:
    """The app's embedder (``chatapp.knowledge.embedding``), as the workers load it."""
    from chatapp.knowledge.embedding import embedder

    return embedder()


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


class Progress:
    """Progress lines on stderr: a counter, a rate and an ETA, at most every ``every_s``."""

    def __init__(self, label: str, total: int, unit: str = "items", every_s: float = 3.0) -> None:
        self.label, self.total, self.unit, self.every_s = label, total, unit, every_s
        self.done = 0
        self.start = self._last = time.perf_counter()

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every_s or self.done >= self.total:
            self._last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else math.inf
            eta_text = f"{eta:5.0f}s" if math.isfinite(eta) else "    ?"
            print(
                f"  [{self.label}] {self.done}/{self.total} {self.unit} "
                f"{rate:7.1f}/s  eta {eta_text} {note}",
                file=sys.stderr,
                flush=True,
            )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Table:
    """A printable table: a title, column names and rows of cells."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    note: str = ""

    def markdown(self) -> str:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return "n/a" if math.isnan(v) else f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
            return str(v)

        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows)
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"


def run_info() -> dict[str, Any]:
    from workers.inference.hardware import cpu_info

    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": device_name(),
        # Figures depend on the CPU's features (AVX2 only vs AVX512-VNNI/bf16): say which ran.
        "cpu": cpu_info().describe(),
        "python": platform.python_version(),
    }


def write_results(name: str, data: dict[str, Any], tables: Iterable[Table]) -> Path:
    """Print the tables and write ``bench/results/<name>.json`` and ``<name>.md``.

    ``CHATAPP_BENCH_TAG=avx2`` writes ``<name>-avx2.*`` instead: a run on another machine kind
    or setting then keeps the results it would otherwise replace.
    """
    tag = os.environ.get("CHATAPP_BENCH_TAG", "").strip()
    if tag:
        name = f"{name}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', tag)}"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    tables = list(tables)
    header = f"# Benchmark: {name}\n\n{json.dumps(run_info())}\n\n"
    text = header + "\n".join(t.markdown() for t in tables)
    print("\n" + "\n".join(t.markdown() for t in tables), flush=True)
    payload = {"run": run_info(), **data}
    json_path = RESULTS_DIR / f"{name}.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    tmp.replace(json_path)
    (RESULTS_DIR / f"{name}.md").write_text(text)
    print(f"results: {json_path.relative_to(REPO_ROOT)} and {name}.md", flush=True)
    return json_path


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(type(value))
