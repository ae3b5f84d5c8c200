"""An import job's batch task: runs a batch, and gives its documents back when it fails for good."""

from __future__ import annotations

from typing import Any

import pytest
from billiard.exceptions import WorkerLostError
from celery.exceptions import TimeLimitExceeded

from chatapp.knowledge import jobs
from chatapp.knowledge.jobs import ImportSource, import_job_submit
from chatapp.knowledge.models import ImportItem
from tests.factories.embedders import FakeEmbedder
from tests.factories.knowledge import KnowledgeBaseFactory
from workers.tasks.base import WorkerLostAgainError
from workers.tasks.retrieval import abandon_lost_batch, index_import_batch, turn_watchdog

pytestmark = pytest.mark.django_db


@pytest.fixture
def chained(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Jobs whose next batch task would have been sent; no broker, a fake model."""
    sent: list[int] = []
    monkeypatch.setattr(jobs, "_index_job_later", lambda job_id, ids: None)
    monkeypatch.setattr(jobs, "_continue_later", sent.append)
    monkeypatch.setattr(jobs, "_analyze_later", lambda job_id: None)
    monkeypatch.setattr("chatapp.knowledge.embedding.embedder", FakeEmbedder)
    return sent


def _job(n: int) -> Any:
    sources = [
        ImportSource(name=f"line {i}", title=f"Page {i}", text=f"Text {i}.") for i in range(n)
    ]
    return import_job_submit(
        knowledge_base=KnowledgeBaseFactory.create(), sources=sources, source="jsonl"
    )


def test_the_task_indexes_a_batch_and_says_what_it_did(chained, settings):
    # given
    settings.CHATAPP_INDEX_BATCH_DOCUMENTS = 2
    job = _job(3)

    # when
    result = index_import_batch.apply(args=(job.pk,), task_id="task-1")

    # then
    assert result.get() == "2 documents, 1 queued, done=False"
    assert chained == [job.pk]
    assert list(job.items.order_by("position").values_list("status", flat=True)) == [
        "ready",
        "ready",
        "queued",
    ]


@pytest.mark.parametrize(
    "exception", [WorkerLostAgainError("lost twice"), WorkerLostError(), TimeLimitExceeded(660.0)]
)
def test_a_batch_lost_for_good_gives_its_documents_back(chained, exception):
    # given: the task held two documents when its pool process died a second time
    job = _job(2)
    job.items.update(status=ImportItem.Status.INDEXING, claim="task-7", attempts=2)

    # when: the worker's main process reports the failure
    abandon_lost_batch(
        sender=index_import_batch, task_id="task-7", exception=exception, args=(job.pk,)
    )

    # then
    assert list(job.items.values_list("status", "claim", "attempts")) == [("queued", "", 2)] * 2
    assert chained == [job.pk]


def test_another_tasks_failure_or_a_plain_error_gives_nothing_back(chained):
    # given
    job = _job(1)
    job.items.update(status=ImportItem.Status.INDEXING, claim="task-8")

    # when: the watchdog hits its limit; the batch raised in its own process (on_failure's case)
    abandon_lost_batch(
        sender=turn_watchdog, task_id="task-8", exception=TimeLimitExceeded(1.0), args=(job.pk,)
    )
    abandon_lost_batch(
        sender=index_import_batch, task_id="task-8", exception=ValueError("x"), args=(job.pk,)
    )

    # then
    assert list(job.items.values_list("status", flat=True)) == ["indexing"]
    assert chained == []
