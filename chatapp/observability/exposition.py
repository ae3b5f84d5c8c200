"""Build the /metrics text: every process's files, dead processes' live gauges dropped, state."""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from chatapp.observability.state import StateCollector

_LIVE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_dead_processes(directory: Path) -> list[int]:
    """Remove the live-gauge files of processes that are gone (a uvicorn worker that died).

    The directory is per host (var/ or PROMETHEUS_MULTIPROC_DIR), so pids are this host's.
    """
    dead = set()
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_FILE.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]  # untyped upstream
    return sorted(dead)


def reset_metrics_dir(directory: Path) -> None:
    """Empty the multiprocess directory before a stack starts (prometheus_client asks for it)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)


def render_metrics() -> tuple[bytes, str]:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    drop_dead_processes(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]  # ditto
    registry.register(StateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
