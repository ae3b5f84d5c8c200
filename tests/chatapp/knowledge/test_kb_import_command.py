"""Tests for ``manage.py kb_import``: modes, progress bars, the summary table and exit codes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from typing_extensions import override

from chatapp.knowledge.jobs import import_job_run
from chatapp.knowledge.management.commands import kb_import
from chatapp.knowledge.models import Chunk, Document, KnowledgeBase
from tests.factories.documents import make_help_folder
from tests.factories.embedders import FakeEmbedder
from tests.factories.knowledge import KnowledgeBaseFactory

BROKEN_PDF_LINE = "  help/broken.pdf: corrupt: broken.pdf is not a PDF file (no %PDF header)."
# Off a terminal the bars print a line per 10% (here: per file or document).
READ_6_FILES = [
    "[#####.........................] 1/6 files",
    "[##########....................] 2/6 files, 1 failed",
    "[###############...............] 3/6 files, 1 failed",
    "[####################..........] 4/6 files, 1 failed",
    "[#########################.....] 5/6 files, 1 failed",
    "[##############################] 6/6 files, 1 failed",
]
READ_5_FILES = [
    "[######........................] 1/5 files",
    "[############..................] 2/5 files",
    "[##################............] 3/5 files",
    "[########################......] 4/5 files",
    "[##############################] 5/5 files",
]
INDEXED_5 = [
    "[######........................] 1/5 documents indexed",
    "[############..................] 2/5 documents indexed",
    "[##################............] 3/5 documents indexed",
    "[########################......] 4/5 documents indexed",
    "[##############################] 5/5 documents indexed",
]


class TtyIO(io.StringIO):
    """Captured stderr that claims to be a terminal, so progress bars redraw in place."""

    @override
    def isatty(self) -> bool:
        return True


def _run(*args: str, stderr: io.StringIO | None = None) -> tuple[list[str], list[str], int]:
    """Run the command; return its stdout lines (without the timing), stderr lines, exit code."""
    out, err = io.StringIO(), stderr or io.StringIO()
    code = 0
    try:
        call_command("kb_import", *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        code = exc.returncode
    lines = [ln for ln in out.getvalue().splitlines() if not ln.startswith("Done in ")]
    return lines, err.getvalue().splitlines(), code


@pytest.mark.slow
def test_sync_import_indexes_reports_the_broken_pdf_and_a_second_run_is_unchanged(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given
    args = make_help_folder(tmp_path)

    # when
    first_out, first_err, first_code = _run("Help", *args, "--create", "--sync")
    (tmp_path / "help" / "broken.pdf").unlink()
    again_out, again_err, again_code = _run("Help", *args, "--sync")

    # then
    kb = KnowledgeBase.objects.get()
    chunks = Chunk.objects.filter(knowledge_base=kb).count()
    assert chunks >= 5
    assert first_code == 1
    assert first_out == [
        f"Knowledge base 'Help' (id {kb.pk}): 6 files",
        "  result      files  chunks",
        f"  indexed         5 {chunks:>7}",
        "  unchanged       0       0",
        "  failed          1       -",
        "Failed:",
        BROKEN_PDF_LINE,
    ]
    assert first_err == [
        *READ_6_FILES,
        "Loading the embedding model...",
        *INDEXED_5,
        "CommandError: 1 of 6 files failed.",
    ]
    assert set(Document.objects.values_list("status", flat=True)) == {"ready"}
    assert all(d.chunk_count > 0 for d in Document.objects.all())
    assert (again_code, again_err) == (0, READ_5_FILES)  # nothing to index: no model loaded
    assert again_out == [
        f"Knowledge base 'Help' (id {kb.pk}): 5 files",
        "  result      files  chunks",
        "  indexed         0       0",
        f"  unchanged       5 {chunks:>7}",
        "  failed          0       -",
    ]
    assert Document.objects.count() == 5
    assert indexed_later == []


def test_no_wait_queues_the_files_for_the_workers_and_exits_zero(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given
    kb = KnowledgeBaseFactory.create(name="Help")
    args = make_help_folder(tmp_path)
    (tmp_path / "help" / "broken.pdf").unlink()

    # when
    out, err, code = _run(str(kb.pk), *args, "--no-wait", "-v", "2")

    # then
    assert (code, err) == (0, READ_5_FILES)
    assert out == [
        f"Knowledge base 'Help' (id {kb.pk}): 5 files",
        "  result      files  chunks",
        "  queued          5       -",
        "  unchanged       0       -",
        "  failed          0       -",
        "Files:",
        "  help/billing.md: queued, 0 chunks",
        "  help/notes/returns.html: queued, 0 chunks",
        "  help/notes/shipping.txt: queued, 0 chunks",
        "  extra/faq-1.md: queued, 0 chunks",
        "  extra/faq-2.md: queued, 0 chunks",
    ]
    assert indexed_later == list(Document.objects.order_by("pk").values_list("pk", flat=True))
    assert len(indexed_later) == 5


def test_wait_shows_the_documents_the_workers_index(
    db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a "worker" that runs the import job's batches as soon as the job is queued
    def worker(job_id: int, document_ids: Any) -> None:
        import_job_run(job_id=job_id, embedder=FakeEmbedder())

    monkeypatch.setattr("chatapp.knowledge.jobs._index_job_later", worker)
    kb = KnowledgeBaseFactory.create(name="Help")
    args = make_help_folder(tmp_path)

    # when
    out, err, code = _run("Help", *args)

    # then
    chunks = Chunk.objects.filter(knowledge_base=kb).count()
    assert code == 1
    assert out == [
        f"Knowledge base 'Help' (id {kb.pk}): 6 files",
        "  result      files  chunks",
        f"  indexed         5 {chunks:>7}",
        "  unchanged       0       0",
        "  failed          1       -",
        "Failed:",
        BROKEN_PDF_LINE,
    ]
    assert err == [
        *READ_6_FILES,
        "[##############################] 5/5 documents ready",
        "CommandError: 1 of 6 files failed.",
    ]


def test_wait_timeout_reports_documents_not_indexed_yet(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given: no worker runs
    kb = KnowledgeBaseFactory.create(name="Help")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nText.\n")

    # when
    out, err, code = _run("Help", str(tmp_path / "docs"), "--timeout", "0")

    # then
    assert code == 1
    assert out == [
        f"Knowledge base 'Help' (id {kb.pk}): 1 files",
        "  result      files  chunks",
        "  indexed         0       0",
        "  unchanged       0       0",
        "  pending         1       -",
        "  failed          0       -",
        "Not indexed yet:",
        "  docs/a.md: queued",
    ]
    assert err == [
        "[##############################] 1/1 files",
        "[..............................] 0/1 documents ready",
        "CommandError: 1 not indexed yet.",
    ]
    assert Document.objects.get().status == "queued"


def test_wait_hints_at_a_missing_worker_when_nothing_starts(
    db: None, tmp_path: Path, indexed_later: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: no worker runs, and the hint is due at once instead of after 30 s
    monkeypatch.setattr(kb_import, "STALL_HINT_S", 0.0)
    KnowledgeBaseFactory.create(name="Help")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nText.\n")

    # when
    _, err, code = _run("Help", str(tmp_path / "docs"), "--timeout", "0")

    # then
    assert code == 1
    assert err[1:3] == [
        "[..............................] 0/1 documents ready",
        "No document has started indexing after 0 s: is a retrieval worker running? Ctrl-C "
        "stops waiting (the documents stay queued); --sync indexes without workers.",
    ]


def test_ctrl_c_stops_waiting_and_reports_what_is_not_indexed_yet(
    db: None, tmp_path: Path, indexed_later: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    def interrupted(**kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(kb_import, "document_import_wait", interrupted)
    KnowledgeBaseFactory.create(name="Help")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nText.\n")

    # when
    out, err, code = _run("Help", str(tmp_path / "docs"))

    # then
    assert code == 1
    assert out[-2:] == ["Not indexed yet:", "  docs/a.md: queued"]
    assert err == [
        "[##############################] 1/1 files",
        "Stopped waiting; the queued documents are indexed when a worker takes them.",
        "CommandError: 1 not indexed yet.",
    ]
    assert Document.objects.get().status == "queued"


def test_progress_bar_redraws_in_place_on_a_terminal(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given
    KnowledgeBaseFactory.create(name="Help")
    (tmp_path / "docs").mkdir()
    for name in ("a.md", "b.md"):
        (tmp_path / "docs" / name).write_text(f"# {name}\n\nText.\n")
    tty = TtyIO()

    # when
    _, _, code = _run("Help", str(tmp_path / "docs"), "--no-wait", stderr=tty)

    # then
    assert code == 0
    assert tty.getvalue() == (
        "\r[###############...............] 1/2 files\r[##############################] 2/2 files\n"
    )


def test_unknown_knowledge_base_is_refused_without_create(db: None, tmp_path: Path) -> None:
    # given
    make_help_folder(tmp_path)

    # when
    out, err, code = _run("Nope", str(tmp_path / "help"))

    # then
    assert (code, out) == (1, [])
    assert err == [
        "CommandError: No knowledge base is named or numbered 'Nope'. Pass --create to create it."
    ]
    assert KnowledgeBase.objects.count() == 0
    assert Document.objects.count() == 0


def test_sync_and_no_wait_cannot_be_combined(db: None, tmp_path: Path) -> None:
    # given / when
    with pytest.raises(CommandError) as caught:
        call_command("kb_import", "Help", str(tmp_path), "--sync", "--no-wait")

    # then
    assert "not allowed with argument" in str(caught.value)
