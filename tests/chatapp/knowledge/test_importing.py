"""Tests for bulk import: path expansion, refusals, queueing, in-process indexing and waiting."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from django.test import override_settings
from typing_extensions import override

from chatapp.core.errors import ApplicationError
from chatapp.knowledge.embedding import embedder
from chatapp.knowledge.importing import (
    ImportFile,
    ImportOutcome,
    ImportProgress,
    document_import_index,
    document_import_paths,
    document_import_wait,
    import_paths_expand,
    knowledge_base_resolve,
)
from chatapp.knowledge.models import Chunk, Document, ImportJob, KnowledgeBase
from chatapp.knowledge.services import document_index
from tests.factories.documents import BROKEN_PDF_REASON, IMPORTED, make_help_folder
from tests.factories.embedders import FakeEmbedder
from tests.factories.knowledge import KnowledgeBaseFactory


class _CountingEmbedder(FakeEmbedder):
    """Records how many texts each model call embedded."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    @override
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        return super().embed(texts, batch_size=batch_size)


def _rows(outcomes: Sequence[ImportOutcome]) -> list[tuple[str, str, str | None]]:
    return [(o.name, o.action, o.status) for o in outcomes]


# --- expansion ------------------------------------------------------------------------------


def test_expand_keeps_supported_files_of_folders_and_globs_under_stable_names(
    tmp_path: Path,
) -> None:
    # given
    args = make_help_folder(tmp_path)

    # when
    files, refused = import_paths_expand(args)

    # then
    assert [f.name for f in files] == IMPORTED
    assert files[0] == ImportFile(tmp_path / "help" / "billing.md", "help/billing.md")
    assert refused == []


def test_expand_names_a_file_argument_like_its_folder_would(tmp_path: Path) -> None:
    # given
    make_help_folder(tmp_path)

    # when
    files, _ = import_paths_expand([str(tmp_path / "help" / "notes" / "shipping.txt")])

    # then
    assert [f.name for f in files] == ["notes/shipping.txt"]


def test_expand_refuses_missing_paths_empty_globs_and_folders_without_documents(
    tmp_path: Path,
) -> None:
    # given
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "logo.png").write_bytes(b"\x89PNG")
    args = [str(tmp_path / "nope"), str(tmp_path / "*.md"), str(tmp_path / "images")]

    # when
    files, refused = import_paths_expand(args)

    # then
    assert files == []
    assert [(o.name, o.action, o.reason) for o in refused] == [
        (args[0], "refused", "no such file or folder"),
        (args[1], "refused", "no file matches this pattern"),
        (
            args[2],
            "refused",
            "no supported files (.md, .markdown, .txt, .html, .htm, .pdf) here",
        ),
    ]


def test_expand_keeps_a_file_reached_twice_once_and_refuses_a_name_clash(tmp_path: Path) -> None:
    # given: docs/faq.md is named twice; a/docs/faq.md would be stored under the same name
    for folder in ("docs", "a/docs"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "faq.md").write_text("# FAQ\n\nBody.\n")
    args = [str(tmp_path / "docs"), str(tmp_path / "docs" / "faq.md"), str(tmp_path / "a/docs")]

    # when
    files, refused = import_paths_expand(args)

    # then
    assert files == [ImportFile(tmp_path / "docs" / "faq.md", "docs/faq.md")]
    assert [(o.name, o.reason) for o in refused] == [
        (
            str(tmp_path / "a/docs/faq.md"),
            f"same stored name as {tmp_path / 'docs/faq.md'}; import one of them from another "
            "folder",
        )
    ]


# --- import, queue and index ----------------------------------------------------------------


def test_import_queues_new_documents_for_the_workers_and_refuses_the_broken_pdf(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given
    kb = KnowledgeBaseFactory.create(name="Help")
    args = make_help_folder(tmp_path)
    seen: list[ImportProgress] = []

    # when
    outcomes = document_import_paths(knowledge_base=kb, paths=args, progress=seen.append)

    # then
    assert _rows(outcomes) == [
        (name, "refused", None) if name.endswith(".pdf") else (name, "queued", "queued")
        for name in IMPORTED
    ]
    assert outcomes[1].reason == BROKEN_PDF_REASON
    docs = Document.objects.filter(knowledge_base=kb).order_by("pk")
    assert list(docs.values_list("filename", "title", "status")) == [
        ("help/billing.md", "Billing", "queued"),
        ("help/notes/returns.html", "Returns", "queued"),
        ("help/notes/shipping.txt", "Shipping", "queued"),
        ("extra/faq-1.md", "Gift cards", "queued"),
        ("extra/faq-2.md", "Warranty", "queued"),
    ]
    assert indexed_later == [d.pk for d in docs]
    assert seen == [ImportProgress(n, 6, 0 if n < 2 else 1) for n in range(1, 7)]


def test_import_is_one_job_that_runs_its_documents_in_batches(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given
    kb = KnowledgeBaseFactory.create(name="Help")
    args = [*make_help_folder(tmp_path), str(tmp_path / "missing")]
    model = _CountingEmbedder()

    # when
    imported = document_import_paths(knowledge_base=kb, paths=args, queue=False)
    indexed = document_import_index(outcomes=imported, embedder=model)

    # then: every file and argument is an item of one job, whose documents share a model call
    (job,) = ImportJob.objects.all()
    assert {o.job_id for o in imported} == {job.pk}
    assert list(job.items.order_by("position").values_list("name", "status")) == [
        (str(tmp_path / "missing"), "refused"),
        *[(n, "refused" if n.endswith(".pdf") else "ready") for n in IMPORTED],
    ]
    assert job.status == ImportJob.Status.DONE
    assert job.analyzed_at is not None
    assert model.calls == [Chunk.objects.count()]  # one model call for every chunk
    assert [o.status for o in indexed if o.document_id] == ["ready"] * 5
    assert indexed_later == []


@pytest.mark.slow
def test_sync_import_indexes_every_format_and_a_second_import_is_unchanged(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given
    kb = KnowledgeBaseFactory.create(name="Help")
    args = make_help_folder(tmp_path)
    model = embedder()  # the real all-MiniLM-L6-v2

    # when
    imported = document_import_paths(knowledge_base=kb, paths=args, queue=False)
    first = document_import_index(outcomes=imported, embedder=model)
    again = document_import_paths(knowledge_base=kb, paths=args, queue=False)

    # then
    assert _rows(first) == [
        (name, "refused", None) if name.endswith(".pdf") else (name, "queued", "ready")
        for name in IMPORTED
    ]
    assert first[1].reason == BROKEN_PDF_REASON
    indexed = [o for o in first if o.status == "ready"]
    assert all(o.chunk_count > 0 for o in indexed)
    assert Chunk.objects.filter(knowledge_base=kb).count() == sum(o.chunk_count for o in indexed)
    assert _rows(again) == [
        (name, "refused", None) if name.endswith(".pdf") else (name, "unchanged", "ready")
        for name in IMPORTED
    ]
    assert [o.document_id for o in again] == [o.document_id for o in first]
    assert [o.chunk_count for o in again] == [o.chunk_count for o in first]
    assert Document.objects.filter(knowledge_base=kb).count() == 5
    assert indexed_later == []  # --sync sends no task


def test_changed_file_is_queued_again_as_the_same_document_keeping_its_title(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given: imported once and indexed (its title then came from the file)
    kb = KnowledgeBaseFactory.create()
    page = tmp_path / "docs" / "faq.md"
    page.parent.mkdir()
    page.write_text("# FAQ\n\nOld answer.\n")
    (first,) = document_import_paths(knowledge_base=kb, paths=[str(page)], queue=False)
    assert first.document_id is not None
    document_index(document_id=first.document_id, embedder=FakeEmbedder())
    page.write_text("# Questions and answers\n\nNew answer.\n")

    # when
    (second,) = document_import_paths(knowledge_base=kb, paths=[str(page)])

    # then
    assert (second.document_id, second.action, second.status) == (
        first.document_id,
        "queued",
        "queued",
    )
    doc = Document.objects.get()
    assert (doc.title, bytes(doc.raw or b"")) == (
        "FAQ",
        b"# Questions and answers\n\nNew answer.\n",
    )
    assert indexed_later == [doc.pk]


def test_file_over_the_upload_limit_is_refused_without_a_document(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given
    page = tmp_path / "docs" / "big.md"
    page.parent.mkdir()
    page.write_text("# Big\n\nMore than ten bytes.\n")

    # when
    with override_settings(CHATAPP_UPLOAD_MAX_BYTES=10):
        (outcome,) = document_import_paths(
            knowledge_base=KnowledgeBaseFactory.create(), paths=[str(page)]
        )

    # then
    assert (outcome.action, outcome.reason) == (
        "refused",
        "too_large: big.md is 28 bytes; the limit is 10 bytes.",
    )
    assert Document.objects.count() == 0
    assert indexed_later == []


def test_index_reports_a_crashing_document_failed_and_indexes_the_others(
    db: None, tmp_path: Path
) -> None:
    # given
    kb = KnowledgeBaseFactory.create()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nFine text.\n")
    (tmp_path / "docs" / "b.md").write_text("# B\n\nEXPLODE here.\n")
    imported = document_import_paths(knowledge_base=kb, paths=[str(tmp_path / "docs")], queue=False)
    seen: list[ImportProgress] = []

    # when
    outcomes = document_import_index(
        outcomes=imported, embedder=FakeEmbedder(), progress=seen.append
    )

    # then
    assert [(o.name, o.status, o.reason) for o in outcomes] == [
        ("docs/a.md", "ready", ""),
        ("docs/b.md", "failed", "indexing crashed: model ran out of memory"),
    ]
    assert seen == [ImportProgress(1, 2, 0), ImportProgress(2, 2, 1)]


# --- waiting for the workers ----------------------------------------------------------------


def test_wait_follows_the_workers_until_every_document_is_done(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given: two queued documents; a "worker" indexes one of them during each pause
    kb = KnowledgeBaseFactory.create()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nFine text.\n")
    (tmp_path / "docs" / "b.md").write_text("# B\n\nMore fine text.\n")
    imported = document_import_paths(knowledge_base=kb, paths=[str(tmp_path / "docs")])
    seen: list[ImportProgress] = []
    pauses: list[float] = []

    def worker(seconds: float) -> None:
        pauses.append(seconds)
        document_index(document_id=indexed_later[len(pauses) - 1], embedder=FakeEmbedder())

    # when
    outcomes = document_import_wait(outcomes=imported, progress=seen.append, sleep=worker)

    # then
    assert [(o.name, o.status) for o in outcomes] == [
        ("docs/a.md", "ready"),
        ("docs/b.md", "ready"),
    ]
    assert all(o.chunk_count == 1 for o in outcomes)
    assert pauses == [1.0, 1.0]
    assert seen == [
        ImportProgress(0, 2, 0, waiting=2),
        ImportProgress(1, 2, 0, waiting=1),
        ImportProgress(2, 2, 0, waiting=0),
    ]


def test_wait_gives_up_at_the_timeout_with_documents_still_queued(
    db: None, tmp_path: Path, indexed_later: list[int]
) -> None:
    # given: no worker runs
    kb = KnowledgeBaseFactory.create()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nFine text.\n")
    imported = document_import_paths(knowledge_base=kb, paths=[str(tmp_path / "docs")])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    # when
    outcomes = document_import_wait(
        outcomes=imported, timeout_s=2.5, sleep=sleep, clock=lambda: now[0]
    )

    # then
    assert [(o.status, o.in_progress, o.failed) for o in outcomes] == [("queued", True, False)]
    assert now == [3.0]


def test_wait_returns_at_once_when_nothing_is_queued(db: None) -> None:
    # given
    outcomes = [ImportOutcome(name="x.pdf", action="refused", reason="corrupt: x")]

    def sleep(seconds: float) -> None:
        pytest.fail("waited with nothing queued")

    # when
    result = document_import_wait(outcomes=outcomes, sleep=sleep)

    # then
    assert result == outcomes


# --- knowledge base lookup ------------------------------------------------------------------


def test_knowledge_base_is_found_by_name_then_by_id(db: None) -> None:
    # given
    help_kb = KnowledgeBaseFactory.create(name="Help")
    numbered = KnowledgeBaseFactory.create(name=str(help_kb.pk))  # a name that looks like an id

    # when / then
    assert knowledge_base_resolve(ref="Help") == help_kb
    assert knowledge_base_resolve(ref=str(help_kb.pk)) == numbered
    assert knowledge_base_resolve(ref=str(numbered.pk)) == numbered


def test_missing_knowledge_base_is_refused_unless_created(db: None) -> None:
    # given / when
    with pytest.raises(ApplicationError) as caught:
        knowledge_base_resolve(ref="Nope")
    created = knowledge_base_resolve(ref="New help", create=True)

    # then
    assert (caught.value.code, caught.value.detail) == (
        "not_found",
        "No knowledge base is named or numbered 'Nope'.",
    )
    assert list(KnowledgeBase.objects.values_list("name", flat=True)) == ["New help"]
    assert created.name == "New help"
