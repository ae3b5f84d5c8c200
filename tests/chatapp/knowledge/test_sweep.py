"""The sweeper: a document that lost its indexing worker fails; a lost message is sent again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chatapp.knowledge.models import Document
from chatapp.knowledge.services import ERR_INDEXING_LOST, document_sweep
from tests.factories.knowledge import DocumentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexing_queue(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    lengths = {"indexing": 0}
    monkeypatch.setattr("chatapp.core.tasks.queue_lengths", lambda names: dict(lengths))
    return lengths


def _document(status: str, *, age_s: float) -> Document:
    doc = DocumentFactory.create(status=status)
    Document.objects.filter(pk=doc.pk).update(updated_at=timezone.now() - timedelta(seconds=age_s))
    return doc


def test_a_document_indexing_past_the_hard_limit_is_marked_failed(
    settings, indexing_queue, indexed_later
):
    # given
    hard = settings.CHATAPP_INDEX_HARD_LIMIT_S
    lost = _document(Document.Status.INDEXING, age_s=hard + 61)
    working = _document(Document.Status.INDEXING, age_s=hard - 60)
    # when
    sweep = document_sweep()
    # then
    assert (sweep.failed, sweep.requeued) == ([lost.pk], [])
    lost.refresh_from_db()
    working.refresh_from_db()
    assert (lost.status, lost.error) == (Document.Status.FAILED, ERR_INDEXING_LOST)
    assert working.status == Document.Status.INDEXING
    assert indexed_later == []


def test_a_queued_document_whose_message_was_lost_is_queued_again_once_per_stall(
    settings, indexing_queue, indexed_later
):
    # given
    stall = settings.CHATAPP_INDEX_STALL_S
    stuck = _document(Document.Status.QUEUED, age_s=stall + 1)
    fresh = _document(Document.Status.QUEUED, age_s=stall - 30)
    # when
    sweep = document_sweep()
    again = document_sweep()
    # then
    assert (sweep.failed, sweep.requeued) == ([], [stuck.pk])
    assert again.requeued == []  # its clock started again
    assert indexed_later == [stuck.pk]
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == fresh.status == Document.Status.QUEUED


def test_queued_documents_are_not_queued_again_while_the_indexing_queue_has_a_backlog(
    settings, indexing_queue, indexed_later
):
    # given: a bulk import is being worked through; the document may be in it
    _document(Document.Status.QUEUED, age_s=settings.CHATAPP_INDEX_STALL_S + 1)
    indexing_queue["indexing"] = 40
    # when
    sweep = document_sweep()
    # then
    assert sweep.requeued == []
    assert indexed_later == []
