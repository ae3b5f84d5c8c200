"""``manage.py kb_import KB PATH...``: import files, folders and globs into a knowledge base."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from typing_extensions import override

from chatapp.core.errors import ApplicationError
from chatapp.knowledge.embedding import embedder
from chatapp.knowledge.importing import (
    ImportOutcome,
    ImportProgress,
    document_import_index,
    document_import_paths,
    document_import_refresh,
    document_import_wait,
    knowledge_base_resolve,
)
from chatapp.knowledge.models import KnowledgeBase

BAR_WIDTH: Final = 30
PLAIN_STEP: Final = 0.1  # off a terminal (logs, CI) print a line per 10%, not one per poll
STALL_HINT_S: Final = 30.0  # a worker picks a document up within seconds when one is running
MSG_STALLED = (
    "No document has started indexing after {seconds:.0f} s: is a retrieval worker running? "
    "Ctrl-C stops waiting (the documents stay queued); --sync indexes without workers."
)
MSG_INTERRUPTED = "Stopped waiting; the queued documents are indexed when a worker takes them."
MSG_LOADING = "Loading the embedding model..."


def _plain(text: str) -> str:
    return text


class _ProgressBar:
    """``[#####.....] 12/40 files, 1 failed`` on stderr: redrawn in a terminal, stepped in logs."""

    def __init__(self, out: OutputWrapper, unit: str) -> None:
        self._out = out
        self._unit = unit
        self._tty = out.isatty()
        self._drawn = 0  # length of the line on screen (terminal), 0 when none
        self._printed: int | None = None  # `done` of the last line printed (no terminal)

    def __call__(self, progress: ImportProgress) -> None:
        line = self.render(progress)
        if self._tty:
            self._out.write("\r" + line.ljust(self._drawn), style_func=_plain, ending="")
            self._out.flush()
            self._drawn = len(line)
            return
        step = max(1, int(progress.total * PLAIN_STEP))
        last = self._printed
        finished = progress.done == progress.total
        if last is None or (progress.done != last and (finished or progress.done >= last + step)):
            self._out.write(line, style_func=_plain)
            self._printed = progress.done

    def render(self, progress: ImportProgress) -> str:
        filled = BAR_WIDTH * progress.done // progress.total if progress.total else BAR_WIDTH
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.done}/{progress.total}"
        line += f" {self._unit}"
        return line + (f", {progress.failed} failed" if progress.failed else "")

    def close(self) -> None:
        """End the bar's line so that later output starts on a fresh one."""
        if self._drawn:
            self._out.write("", style_func=_plain)
            self._drawn = 0


class Command(BaseCommand):
    help = (
        "Import files, folders (recursively) and globs into a knowledge base, then wait for the "
        "retrieval workers to index them. A file is stored under its path relative to the parent "
        "of the folder it was found through (docs/faq.md), which a re-import matches on."
    )

    @override
    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("kb", help="knowledge base name or id")
        parser.add_argument(
            "paths", nargs="+", help="files, folders or quoted globs such as 'docs/**/*.md'"
        )
        parser.add_argument(
            "--create", action="store_true", help="create the knowledge base if it is missing"
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--no-wait", action="store_true", help="queue the files and exit without waiting"
        )
        mode.add_argument(
            "--sync", action="store_true", help="index in this process, without workers"
        )
        parser.add_argument(
            "--timeout", type=float, default=None, help="stop waiting after this many seconds"
        )

    @override
    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            kb = knowledge_base_resolve(ref=options["kb"], create=options["create"])
        except ApplicationError as exc:
            hint = " Pass --create to create it." if exc.code == "not_found" else ""
            raise CommandError(exc.detail + hint) from exc
        sync = bool(options["sync"])
        wait = not sync and not options["no_wait"]
        bar = _ProgressBar(self.stderr, "files")
        outcomes = document_import_paths(
            knowledge_base=kb, paths=options["paths"], queue=not sync, progress=bar
        )
        bar.close()
        if sync:
            outcomes = self._index(outcomes)
        elif wait:
            outcomes = self._wait(outcomes, timeout_s=options["timeout"])
        self._report(kb, outcomes, settled=sync or wait, verbosity=options["verbosity"])
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
        failed = sum(o.failed for o in outcomes)
        pending = sum(o.in_progress for o in outcomes) if sync or wait else 0
        if failed or pending:
            problems = [f"{failed} of {len(outcomes)} files failed"] if failed else []
            problems += [f"{pending} not indexed yet"] if pending else []
            raise CommandError("; ".join(problems) + ".", returncode=1)

    def _index(self, outcomes: list[ImportOutcome]) -> list[ImportOutcome]:
        if not any(o.in_progress for o in outcomes):
            return outcomes  # nothing to index: do not load the model
        self.stderr.write(MSG_LOADING, style_func=_plain)
        model = embedder()
        bar = _ProgressBar(self.stderr, "documents indexed")
        outcomes = document_import_index(outcomes=outcomes, embedder=model, progress=bar)
        bar.close()
        return outcomes

    def _wait(
        self, outcomes: list[ImportOutcome], *, timeout_s: float | None
    ) -> list[ImportOutcome]:
        bar = _ProgressBar(self.stderr, "documents ready")
        hint_at = time.monotonic() + STALL_HINT_S

        def on_progress(progress: ImportProgress) -> None:
            nonlocal hint_at
            bar(progress)
            if progress.waiting == progress.total - progress.done > 0:
                if time.monotonic() >= hint_at:
                    bar.close()
                    self.stderr.write(MSG_STALLED.format(seconds=STALL_HINT_S), style_func=_plain)
                    hint_at = float("inf")
            else:
                hint_at = float("inf")  # a worker is at it

        try:
            outcomes = document_import_wait(
                outcomes=outcomes, timeout_s=timeout_s, progress=on_progress
            )
        except KeyboardInterrupt:
            bar.close()
            self.stderr.write(MSG_INTERRUPTED, style_func=_plain)
            return document_import_refresh(outcomes)
        bar.close()
        return outcomes

    def _report(
        self,
        kb: KnowledgeBase,
        outcomes: Sequence[ImportOutcome],
        *,
        settled: bool,
        verbosity: int,
    ) -> None:
        results = [(o, _result(o, settled=settled)) for o in outcomes]
        counts = Counter(result for _, result in results)
        chunks = Counter[str]()
        for o, result in results:
            chunks[result] += o.chunk_count
        labels = ["indexed" if settled else "queued", "unchanged", "pending", "failed"]
        self.stdout.write(f"Knowledge base {kb.name!r} (id {kb.pk}): {len(outcomes)} files")
        self.stdout.write(f"  {'result':<10} {'files':>6} {'chunks':>7}")
        for label in labels:
            if label == "pending" and not counts[label]:
                continue
            shown = chunks[label] if label in ("indexed", "unchanged") and settled else "-"
            self.stdout.write(f"  {label:<10} {counts[label]:>6} {shown:>7}")
        if verbosity >= 2:
            self.stdout.write("Files:")
            for o, result in results:
                self.stdout.write(f"  {o.name}: {result}, {o.chunk_count} chunks")
        for label, title in (("failed", "Failed:"), ("pending", "Not indexed yet:")):
            if counts[label]:
                self.stdout.write(title)
                for o, result in results:
                    if result == label:
                        self.stdout.write(f"  {o.name}: {o.reason or o.status}")


def _result(outcome: ImportOutcome, *, settled: bool) -> str:
    """The summary row of a file; ``settled`` once indexing was waited for or done here."""
    if outcome.failed:
        return "failed"
    if not settled:
        return outcome.action  # --no-wait: what this run did
    if outcome.in_progress:
        return "pending"
    return "unchanged" if outcome.action == "unchanged" else "indexed"
