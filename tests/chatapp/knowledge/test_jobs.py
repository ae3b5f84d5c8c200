"""Import jobs: intake with per-item refusals, batched indexing, chains, resumption, re-index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from django.utils import timezone
from typing_extensions import override

from chatapp.core.errors import ApplicationError
from chatapp.core.tasks import IMPORT_BATCH_HARD_LIMIT_S
from chatapp.knowledge import jobs
from chatapp.knowledge.jobs import (
    MAX_ATTEMPTS,
    ImportSource,
    import_batch_abandon,
    import_job_analyze,
    import_job_run,
    import_job_run_batch,
    import_job_submit,
    import_jobs_resume,
    import_jobs_sweep,
    knowledge_base_reindex,
)
from chatapp.knowledge.models import Chunk, CuratedAnswer, Document, ImportItem, ImportJob
from chatapp.knowledge.selectors.jobs import import_job_progress
from chatapp.knowledge.services import document_create, document_index, document_sweep
from tests.factories.embedders import FakeEmbedder
from tests.factories.knowledge import KnowledgeBaseFactory, unit_vector

pytestmark = pytest.mark.django_db

BIG = 10_000_000  # a byte budget no test reaches


class CountingEmbedder(FakeEmbedder):
    """FakeEmbedder that records each model call's texts, and can run a side effect first."""

    def __init__(self, before: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.before = before

    @override
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        if self.before is not None:
            self.before()
        return super().embed(texts, batch_size=batch_size)


class OtherModel(FakeEmbedder):
    """A different 'model': other vectors for the same texts (a re-index after a change)."""

    name = "other"

    @override
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        return -super().embed(texts, batch_size=batch_size)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The tasks the jobs would send to the broker: first batches, next batches, ANALYZE."""
    calls: dict[str, list[Any]] = {"first": [], "next": [], "analyze": []}
    monkeypatch.setattr(jobs, "_index_job_later", lambda j, ids: calls["first"].append((j, ids)))
    monkeypatch.setattr(jobs, "_continue_later", lambda j: calls["next"].append(j))
    monkeypatch.setattr(jobs, "_analyze_later", lambda j: calls["analyze"].append(j))
    return calls


def _page(n: int, extra: str = "") -> ImportSource:
    return ImportSource(
        name=f"line {n}", title=f"Page {n}", text=f"# Page {n}\n\nParagraph number {n}. {extra}"
    )


def _items(job: ImportJob) -> list[tuple[str, str, str]]:
    return list(job.items.order_by("position").values_list("name", "status", "error"))


def test_submit_stores_the_good_documents_and_records_why_the_others_were_refused(sent):
    # given
    kb = KnowledgeBaseFactory.create()
    sources = [
        _page(1),
        ImportSource(name="line 2", error="invalid_json: the line is not valid JSON (x)."),
        ImportSource(name="line 3", title="Blank", text="   "),
        ImportSource(name="line 4", title="Page 1", text="Another text with the same title."),
        ImportSource(name="logo.png", data=b"\x89PNG", filename="logo.png"),
        ImportSource(name="faq.md", data=b"# FAQ\n\nAnswers.\n", filename="faq.md"),
    ]

    # when
    job = import_job_submit(knowledge_base=kb, sources=sources, source="jsonl")

    # then
    assert job.status == ImportJob.Status.QUEUED
    assert _items(job) == [
        ("line 1", "queued", ""),
        ("line 2", "refused", "invalid_json: the line is not valid JSON (x)."),
        ("line 3", "refused", "empty: The document has no text."),
        ("line 4", "refused", "duplicate: same title as line 1"),
        (
            "logo.png",
            "refused",
            "unsupported_type: Unsupported file type; use one of .md, "
            ".markdown, .txt, .html, .htm, .pdf.",
        ),
        ("faq.md", "queued", ""),
    ]
    docs = list(Document.objects.order_by("pk").values_list("title", "filename", "status"))
    assert docs == [("Page 1", "", "queued"), ("faq.md", "faq.md", "queued")]
    assert sent["first"] == [
        (job.pk, list(Document.objects.order_by("pk").values_list("pk", flat=True)))
    ]


def test_a_batch_embeds_the_chunks_of_many_documents_in_one_model_call(sent):
    # given
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(
        knowledge_base=kb, sources=[_page(n) for n in range(1, 6)], source="jsonl"
    )
    model = CountingEmbedder()

    # when
    report = import_job_run_batch(
        job_id=job.pk, embedder=model, claim="task-1", limits=(64, BIG), batch_size=64
    )

    # then
    assert len(model.calls) == 1
    assert len(model.calls[0]) == 5
    assert (report.claimed, report.remaining, report.job_done) == (5, 0, True)
    assert set(Document.objects.values_list("status", flat=True)) == {"ready"}
    assert Chunk.objects.filter(knowledge_base=kb).count() == 5
    assert [s for _, s, _ in _items(job)] == ["ready"] * 5
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.started_at is not None
    assert job.finished_at is not None
    assert (sent["next"], sent["analyze"]) == ([], [job.pk])


def test_a_document_that_crashes_the_model_fails_alone_and_the_others_are_ready(sent):
    # given: the second page makes the (fake) model run out of memory
    kb = KnowledgeBaseFactory.create()
    sources = [_page(1), _page(2, "EXPLODE"), _page(3)]
    job = import_job_submit(knowledge_base=kb, sources=sources, source="jsonl")

    # when
    import_job_run(job_id=job.pk, embedder=FakeEmbedder(), limits=(64, BIG))

    # then
    assert _items(job) == [
        ("line 1", "ready", ""),
        ("line 2", "failed", "indexing crashed: model ran out of memory"),
        ("line 3", "ready", ""),
    ]
    docs = Document.objects.order_by("pk")
    assert list(docs.values_list("status", "error")) == [
        ("ready", ""),
        ("failed", "indexing crashed: model ran out of memory"),
        ("ready", ""),
    ]
    assert Chunk.objects.filter(document__title="Page 2").count() == 0
    progress = import_job_progress(job.pk)
    assert (progress.status, progress.done, progress.total, progress.chunks) == ("done", 3, 3, 2)
    assert progress.counts["failed"] == 1
    job.refresh_from_db()
    assert job.analyzed_at is not None  # in-process runs refresh the statistics themselves
    assert sent["analyze"] == []


def test_batches_follow_the_size_limits_and_each_queues_the_next(sent):
    # given
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(
        knowledge_base=kb, sources=[_page(n) for n in range(1, 6)], source="jsonl"
    )
    model = CountingEmbedder()

    # when: batch tasks of at most two documents run until nothing is left
    reports = []
    for attempt in range(5):
        reports.append(
            import_job_run_batch(
                job_id=job.pk, embedder=model, claim=f"task-{attempt}", limits=(2, BIG)
            )
        )

    # then
    assert [(r.claimed, r.remaining, r.job_done) for r in reports] == [
        (2, 3, False),
        (2, 1, False),
        (1, 0, True),
        (0, 0, False),
        (0, 0, False),
    ]
    assert [len(c) for c in model.calls] == [2, 2, 1]
    assert sent["next"] == [job.pk, job.pk]
    assert sent["analyze"] == [job.pk]


def test_a_byte_budget_makes_batches_of_long_documents_smaller(sent):
    # given: three documents of ~90 bytes each, and a budget of 100 bytes a batch
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(
        knowledge_base=kb, sources=[_page(n, "x" * 60) for n in range(1, 4)], source="jsonl"
    )

    # when
    first = import_job_run_batch(
        job_id=job.pk, embedder=FakeEmbedder(), claim="t", limits=(64, 100)
    )

    # then: one document a batch (a batch always takes at least one, however large)
    assert (first.claimed, first.remaining) == (1, 2)


def test_a_redelivered_batch_takes_its_documents_back_and_indexes_each_once(sent):
    # given: a task claimed three documents, then its worker was killed mid-batch
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(
        knowledge_base=kb, sources=[_page(n) for n in range(1, 4)], source="jsonl"
    )
    job.items.update(status=ImportItem.Status.INDEXING, claim="task-1", worker="w@a", attempts=1)
    Document.objects.update(status=Document.Status.INDEXING)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    # when: the broker delivers the same task again, and its chain goes on
    redelivered = import_job_run_batch(
        job_id=job.pk, embedder=FakeEmbedder(), claim="task-1", limits=(64, BIG)
    )
    import_job_run(job_id=job.pk, embedder=FakeEmbedder(), limits=(64, BIG))

    # then: a crashed batch is retried one document at a time, and nothing is indexed twice
    assert redelivered.claimed == 1
    assert [s for _, s, _ in _items(job)] == ["ready"] * 3
    assert list(job.items.order_by("position").values_list("attempts", flat=True)) == [2, 2, 2]
    assert Chunk.objects.count() == 3
    assert Document.objects.filter(status="ready").count() == 3
    assert import_job_progress(job.pk).status == "done"


def test_a_restarted_worker_releases_the_batch_it_held_and_queues_its_job_again(sent):
    # given: worker a died holding two items; worker b is busy with another
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(
        knowledge_base=kb, sources=[_page(n) for n in range(1, 5)], source="jsonl"
    )
    items = list(job.items.order_by("position"))
    ImportItem.objects.filter(pk__in=[items[0].pk, items[1].pk]).update(
        status=ImportItem.Status.INDEXING, claim="t1", worker="celery@a", attempts=1
    )
    ImportItem.objects.filter(pk=items[2].pk).update(
        status=ImportItem.Status.INDEXING, claim="t2", worker="celery@b", attempts=1
    )
    held_doc = items[0].document
    assert held_doc is not None
    Document.objects.filter(pk=held_doc.pk).update(status=Document.Status.INDEXING)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    done = import_job_submit(knowledge_base=kb, sources=[], source="jsonl")  # nothing to resume

    # when
    resumed = import_jobs_resume(worker="celery@a")

    # then
    assert resumed == [job.pk]
    assert sent["next"] == [job.pk]
    assert list(job.items.order_by("position").values_list("status", "worker")) == [
        ("queued", ""),
        ("queued", ""),
        ("indexing", "celery@b"),
        ("queued", ""),
    ]
    assert Document.objects.get(pk=held_doc.pk).status == "queued"
    assert done.status == ImportJob.Status.DONE


def test_a_document_that_keeps_crashing_its_batch_is_given_up_on(sent):
    # given: a document whose batch was lost MAX_ATTEMPTS times
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(knowledge_base=kb, sources=[_page(1), _page(2)], source="jsonl")
    job.items.filter(position=1).update(attempts=MAX_ATTEMPTS)

    # when
    import_job_run(job_id=job.pk, embedder=FakeEmbedder(), limits=(64, BIG))

    # then
    assert _items(job) == [
        ("line 1", "failed", "indexing crashed: gave up after 3 attempts"),
        ("line 2", "ready", ""),
    ]
    assert list(Document.objects.order_by("pk").values_list("status", flat=True)) == [
        "failed",
        "ready",
    ]


def test_a_document_replaced_while_it_is_indexed_is_left_to_the_newer_upload(sent, indexed_later):
    # given: while the batch embeds, a newer version of page 1 is uploaded
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(knowledge_base=kb, sources=[_page(1), _page(2)], source="jsonl")

    uploaded: list[int] = []

    def upload_newer() -> None:
        if not uploaded:
            doc, _ = document_create(
                knowledge_base=kb, title="Page 1", text="# Page 1\n\nNewer text."
            )
            uploaded.append(doc.pk)

    # when
    import_job_run_batch(
        job_id=job.pk, embedder=CountingEmbedder(before=upload_newer), claim="t", limits=(64, BIG)
    )

    # then
    assert [(n, s) for n, s, _ in _items(job)] == [("line 1", "superseded"), ("line 2", "ready")]
    page1 = Document.objects.get(title="Page 1")
    assert (page1.status, page1.chunk_count) == ("queued", 0)
    assert uploaded == [page1.pk]
    assert indexed_later[-1] == page1.pk  # queued for its own indexing by the newer upload
    assert Chunk.objects.filter(document=page1).count() == 0


def test_unchanged_documents_are_not_indexed_again_unless_they_never_were(sent):
    # given: page 1 indexed, page 2 stored but never indexed (an interrupted import)
    kb = KnowledgeBaseFactory.create()
    first = import_job_submit(knowledge_base=kb, sources=[_page(1), _page(2)], source="jsonl")
    page1 = Document.objects.get(title="Page 1")
    document_index(document_id=page1.pk, embedder=FakeEmbedder())

    # when
    again = import_job_submit(
        knowledge_base=kb, sources=[_page(1), _page(2), _page(3)], source="jsonl"
    )

    # then
    assert [(n, s) for n, s, _ in _items(again)] == [
        ("line 1", "unchanged"),
        ("line 2", "queued"),
        ("line 3", "queued"),
    ]
    assert Document.objects.count() == 3
    assert sent["first"][-1] == (
        again.pk,
        list(
            Document.objects.filter(title__in=["Page 2", "Page 3"])
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
    )
    assert first.pk != again.pk


def test_a_job_with_nothing_to_index_is_done_at_once(sent):
    # given / when
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(
        knowledge_base=kb,
        sources=[ImportSource(name="line 1", error="invalid_line: x")],
        source="jsonl",
    )

    # then
    assert job.status == ImportJob.Status.DONE
    assert sent["first"] == []


def test_reindex_embeds_every_document_again_with_the_new_model(sent):
    # given: two documents and a curated answer embedded by the old model
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(knowledge_base=kb, sources=[_page(1), _page(2)], source="jsonl")
    import_job_run(job_id=job.pk, embedder=FakeEmbedder(), limits=(64, BIG))
    old_chunks = set(Chunk.objects.values_list("pk", flat=True))
    curated = CuratedAnswer.objects.create(
        knowledge_base=kb, question="Page one?", answer="Yes.", embedding=unit_vector(1)
    )

    # when
    reindex = knowledge_base_reindex(knowledge_base=kb)
    queued = list(Document.objects.values_list("status", flat=True))
    import_job_run(job_id=reindex.pk, embedder=OtherModel(), limits=(64, BIG))

    # then
    assert (reindex.kind, queued) == ("reindex", ["queued", "queued"])
    progress = import_job_progress(reindex.pk)
    assert (progress.status, progress.counts["ready"], progress.chunks) == ("done", 2, 2)
    assert set(Chunk.objects.values_list("pk", flat=True)).isdisjoint(old_chunks)
    chunk = Chunk.objects.order_by("pk").first()
    assert chunk is not None
    expected = OtherModel().embed([chunk.text])[0]
    assert np.allclose(np.asarray(chunk.embedding), expected, atol=1e-6)
    curated.refresh_from_db()
    assert np.allclose(
        np.asarray(curated.embedding), OtherModel().embed(["Page one?"])[0], atol=1e-6
    )


def test_a_second_reindex_is_refused_while_one_runs(sent):
    # given
    kb = KnowledgeBaseFactory.create()
    import_job_submit(knowledge_base=kb, sources=[_page(1)], source="jsonl")
    running = knowledge_base_reindex(knowledge_base=kb)

    # when
    with pytest.raises(ApplicationError) as caught:
        knowledge_base_reindex(knowledge_base=kb)

    # then
    assert (caught.value.code, caught.value.status) == ("job_running", 409)
    assert ImportJob.objects.filter(kind="reindex").count() == 1
    assert str(running.pk) in caught.value.detail


def test_analyze_refreshes_the_statistics_and_notes_it_on_the_job(sent):
    # given
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(knowledge_base=kb, sources=[_page(1)], source="jsonl")

    # when
    import_job_analyze(job_id=job.pk)

    # then
    job.refresh_from_db()
    assert job.analyzed_at is not None


def test_job_progress_reads_counts_and_errors_in_two_queries(sent, django_assert_num_queries):
    # given
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(
        knowledge_base=kb,
        sources=[_page(1), ImportSource(name="line 2", error="invalid_line: x"), _page(3)],
        source="jsonl",
    )

    # when
    with django_assert_num_queries(2):
        progress = import_job_progress(job.pk)

    # then
    body = progress.as_json()
    assert body["documents"] == {
        "total": 3,
        "done": 1,
        "pending": 2,
        "refused": 1,
        "unchanged": 0,
        "queued": 2,
        "indexing": 0,
        "ready": 0,
        "failed": 0,
        "superseded": 0,
    }
    assert body["errors"] == [
        {
            "position": 2,
            "name": "line 2",
            "status": "refused",
            "error": "invalid_line: x",
            "document_id": None,
        }
    ]
    assert (body["status"], body["kind"], body["errors_truncated"]) == ("queued", "import", False)


# --- the sweeper ----------------------------------------------------------------------------


@pytest.fixture
def index_queue(monkeypatch: pytest.MonkeyPatch, settings) -> dict[str, int]:
    settings.CHATAPP_INDEX_QUEUE = "indexing"
    lengths = {"indexing": 0}
    monkeypatch.setattr("chatapp.core.tasks.queue_lengths", lambda names: dict(lengths))
    return lengths


def _age(job: ImportJob, seconds: float) -> None:
    then = timezone.now() - timedelta(seconds=seconds)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=then)
    Document.objects.filter(pk__in=job.items.values("document_id")).update(updated_at=then)


def test_the_sweep_resends_a_job_that_lost_its_chain_not_its_documents_one_by_one(
    sent, settings, index_queue, indexed_later
):
    # given: a job queued long ago whose batch task never arrived, and a recent one
    kb = KnowledgeBaseFactory.create()
    lost = import_job_submit(knowledge_base=kb, sources=[_page(1), _page(2)], source="jsonl")
    _age(lost, settings.CHATAPP_INDEX_STALL_S + 5)
    recent = import_job_submit(knowledge_base=kb, sources=[_page(3)], source="jsonl")
    queued_before = list(indexed_later)

    # when
    sweep = document_sweep()

    # then
    assert (sweep.jobs_resent, sweep.requeued, sweep.items_released) == ([lost.pk], [], [])
    assert sent["next"] == [lost.pk]
    assert indexed_later == queued_before  # no document sent on its own
    assert recent.pk not in sweep.jobs_resent


def test_the_sweep_leaves_a_job_whose_message_waits_in_the_queue(sent, settings, index_queue):
    # given
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(knowledge_base=kb, sources=[_page(1)], source="jsonl")
    _age(job, settings.CHATAPP_INDEX_STALL_S + 5)
    index_queue["indexing"] = 1

    # when
    sweep = document_sweep()

    # then
    assert (sweep.jobs_resent, sent["next"]) == ([], [])


def test_the_sweep_releases_a_batch_held_past_the_hard_limit_and_the_chain_goes_on(
    sent, index_queue
):
    # given: a batch claimed by a task that vanished (no redelivery, no restart)
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(knowledge_base=kb, sources=[_page(1), _page(2)], source="jsonl")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    long_ago = timezone.now() - timedelta(seconds=IMPORT_BATCH_HARD_LIMIT_S + 61)
    job.items.filter(position=1).update(
        status=ImportItem.Status.INDEXING,
        claim="gone",
        worker="w@a",
        claimed_at=long_ago,
        attempts=1,
    )

    # when
    sweep = import_jobs_sweep()
    import_job_run(job_id=job.pk, embedder=FakeEmbedder(), limits=(64, BIG))

    # then
    assert sweep.released == list(job.items.filter(position=1).values_list("pk", flat=True))
    assert sent["next"] == [job.pk]
    assert [s for _, s, _ in _items(job)] == ["ready", "ready"]


def test_a_batch_that_failed_for_good_gives_its_documents_back(sent):
    # given: a batch task held both documents when its worker was lost twice
    kb = KnowledgeBaseFactory.create()
    job = import_job_submit(knowledge_base=kb, sources=[_page(1), _page(2)], source="jsonl")
    job.items.update(status=ImportItem.Status.INDEXING, claim="task-9", attempts=1)

    # when
    released = import_batch_abandon(job_id=job.pk, claim="task-9")
    again = import_batch_abandon(job_id=job.pk, claim="task-9")

    # then
    assert (released, again) == (2, 0)
    assert [s for _, s, _ in _items(job)] == ["queued", "queued"]
    assert sent["next"] == [job.pk]
