"""Bulk imports on a real Celery worker, real Redis and Postgres + pgvector, and MiniLM.

A JSON lines import with a bad line and a zip with a broken PDF among good files both end
``done``: the good documents ready and searchable, the bad ones reported; a re-index swaps in
new chunks; a worker killed mid-batch is restarted and the job finishes, each document once.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure
from chatapp.knowledge.models import Chunk, Document, ImportItem, ImportJob
from chatapp.knowledge.selectors.jobs import ImportJobProgress, import_job_progress
from tests.e2e.conftest import IndexWorker, index_worker
from tests.factories.documents import make_zip

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUEUE = "e2e-bulk"
RESTART_QUEUE = "e2e-bulk-restart"
JOB_TIMEOUT_S = 240.0
KILL_TIMEOUT_S = 120.0
VOCABULARY = (
    "lamp oak table delivery refund order parcel warranty invoice account password hub light "
    "colour switch bulb voice assistant shelf chair courier return label payment card gift"
)
WORDS = VOCABULARY.split()


def _paragraph(rng: random.Random, words: int) -> str:
    sentences = []
    while words > 0:
        n = min(words, rng.randint(8, 16))
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
        words -= n
    return " ".join(sentences)


def _wait_done(job_id: int, timeout: float = JOB_TIMEOUT_S) -> ImportJobProgress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = import_job_progress(job_id)
        if progress.status == ImportJob.Status.DONE:
            return progress
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not done in {timeout}s: {import_job_progress(job_id)}")


def _wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout}s")


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, test_models) -> Iterator[IndexWorker]:
    with django_db_blocker.unblock():
        w = index_worker(QUEUE)
    w.start()
    yield w
    w.stop()


@pytest.fixture
def key(settings) -> str:
    settings.CHATAPP_INDEX_QUEUE = QUEUE
    return api_key_create(user=user_ensure(username="bulk-admin", role=User.Role.ADMIN))


def _post(client, key: str, kb_id: int, body: bytes, content_type: str) -> dict:
    response = client.post(
        f"/api/v1/knowledge-bases/{kb_id}/imports",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 202, response.content
    return response.json()


def test_bulk_imports_index_the_good_documents_and_report_the_bad_ones(worker, key, client):
    # given: 40 short paragraphs as JSON lines, one line broken; a zip with a broken PDF
    rng = random.Random(7)
    kb = client.post(
        "/api/v1/knowledge-bases",
        {"name": "Bulk"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()
    lines = [
        json.dumps({"title": f"Paragraph {n}", "text": _paragraph(rng, 100)}) for n in range(40)
    ]
    lines.insert(17, '{"title": "Broken", "text": "no end')
    archive = make_zip(
        {
            "help/refunds.md": b"# Refunds\n\nRefunds take five to ten business days.\n",
            "help/broken.pdf": b"this is not a PDF at all",
            "help/shipping.txt": b"Shipping\n========\n\nWe ship within two days.\n",
        }
    )

    # when
    posted_lines = _post(client, key, kb["id"], "\n".join(lines).encode(), "application/x-ndjson")
    posted_zip = _post(client, key, kb["id"], archive, "application/zip")
    lines_done = _wait_done(posted_lines["id"])
    zip_done = _wait_done(posted_zip["id"])

    # then: progress reached done with every item accounted for
    assert lines_done.counts | {"total": lines_done.total} == {
        "refused": 1,
        "unchanged": 0,
        "queued": 0,
        "indexing": 0,
        "ready": 40,
        "failed": 0,
        "superseded": 0,
        "total": 41,
    }
    assert [(e.name, e.error[:13]) for e in lines_done.errors] == [("line 18", "invalid_json:")]
    assert (zip_done.counts["ready"], zip_done.counts["failed"]) == (2, 1)
    (broken,) = zip_done.errors
    assert (broken.name, broken.status) == ("help/broken.pdf", "failed")
    assert broken.error == "corrupt: broken.pdf is not a PDF file (no %PDF header)."
    docs = Document.objects.filter(knowledge_base_id=kb["id"])
    assert docs.count() == 43
    assert docs.filter(status="ready").count() == 42
    assert docs.get(filename="help/broken.pdf").status == "failed"
    assert Chunk.objects.filter(knowledge_base_id=kb["id"]).count() == lines_done.chunks + (
        zip_done.chunks
    )
    assert docs.get(filename="help/refunds.md").title == "Refunds"  # titled from its content
    # ... and the statistics were refreshed after each load
    _wait_for(lambda: ImportJob.objects.filter(analyzed_at__isnull=True).count() == 0, 60)

    # when: the knowledge base is indexed again (as after changing the embedding model)
    old_chunks = set(Chunk.objects.values_list("pk", flat=True))
    reindex = client.post(
        f"/api/v1/knowledge-bases/{kb['id']}/reindex", HTTP_AUTHORIZATION=f"Bearer {key}"
    ).json()
    reindexed = _wait_done(reindex["id"])

    # then: every document is swapped in anew; the broken one fails again, with its reason
    assert (reindexed.total, reindexed.counts["ready"], reindexed.counts["failed"]) == (43, 42, 1)
    new_chunks = set(Chunk.objects.values_list("pk", flat=True))
    assert new_chunks.isdisjoint(old_chunks)
    assert len(new_chunks) == len(old_chunks) == reindexed.chunks


@pytest.fixture
def restart_worker(django_db_blocker, test_models, settings) -> Iterator[IndexWorker]:
    settings.CHATAPP_INDEX_QUEUE = RESTART_QUEUE
    with django_db_blocker.unblock():
        w = index_worker(RESTART_QUEUE, batch_documents=3)
    yield w
    w.stop()


def test_a_job_resumes_after_its_worker_is_killed_mid_batch(restart_worker, client):
    # given: six long documents, three a batch, and the worker killed while it embeds one
    rng = random.Random(11)
    key = api_key_create(user=user_ensure(username="restart-admin", role=User.Role.ADMIN))
    kb = client.post(
        "/api/v1/knowledge-bases",
        {"name": "Restart"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()
    body = "\n".join(
        json.dumps({"title": f"Long {n}", "text": _paragraph(rng, 1200)}) for n in range(6)
    )
    restart_worker.start()
    job = _post(client, key, kb["id"], body.encode(), "application/x-ndjson")
    held = ImportItem.objects.filter(job_id=job["id"], status=ImportItem.Status.INDEXING)
    _wait_for(held.exists, KILL_TIMEOUT_S)
    restart_worker.kill()
    killed_holding = list(held.values_list("position", "worker"))

    # when: the worker comes back under the same name
    restart_worker.start()
    done = _wait_done(job["id"])

    # then
    assert killed_holding
    assert {w for _, w in killed_holding} == {restart_worker.name}
    assert (done.counts["ready"], done.total) == (6, 6)
    attempts = dict(ImportItem.objects.filter(job_id=job["id"]).values_list("position", "attempts"))
    assert all(attempts[position] == 2 for position, _ in killed_holding)
    for doc in Document.objects.filter(knowledge_base_id=kb["id"]):
        assert doc.status == "ready"
        ordinals = sorted(Chunk.objects.filter(document=doc).values_list("ordinal", flat=True))
        assert ordinals == list(range(doc.chunk_count))
