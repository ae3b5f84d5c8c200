"""Per-request step durations, sent back as a ``Server-Timing`` header.

Operators see where a request's time goes in the browser's devtools or any HTTP client, and
the search benchmark reads the same header, so what is measured is what production reports.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.http import HttpRequest, HttpResponse

__all__ = ["ServerTiming", "parse_server_timing", "timing_for"]

_ATTRIBUTE = "_chatapp_timing"


class ServerTiming:
    """Named step durations of one request, in milliseconds, in the order they ran."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` (a token: letters, digits, ``-`` and ``_``)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps.append((name, (time.perf_counter() - started) * 1000.0))

    def split(self, step: str, part: str, ms: float) -> None:
        """Move ``ms`` of the last ``step`` into a new step ``part`` (a wait timed inside it)."""
        for index in range(len(self.steps) - 1, -1, -1):
            name, total = self.steps[index]
            if name == step:
                spent = min(max(ms, 0.0), total)
                self.steps[index] = (name, total - spent)
                self.steps.insert(index, (part, spent))
                return

    def header(self) -> str:
        return ", ".join(f"{name};dur={ms:.2f}" for name, ms in self.steps)

    def apply(self, response: HttpResponse) -> None:
        if self.steps:
            response.headers["Server-Timing"] = self.header()


def timing_for(request: HttpRequest) -> ServerTiming:
    """The request's timing record, created on first use."""
    timing = getattr(request, _ATTRIBUTE, None)
    if timing is None:
        timing = ServerTiming()
        setattr(request, _ATTRIBUTE, timing)
    return timing


def parse_server_timing(header: str) -> dict[str, float]:
    """``auth;dur=1.20, embed;dur=9.8`` → ``{"auth": 1.2, "embed": 9.8}`` (ms)."""
    steps: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name:
                steps[name] = float(value)
    return steps
