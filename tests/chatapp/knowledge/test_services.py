from __future__ import annotations

import pytest

from chatapp.knowledge.models import Chunk, Document
from chatapp.knowledge.services import document_create, document_delete, document_index
from tests.factories.embedders import FakeEmbedder
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db

PAGE = b"---\ntitle: How refunds work\n---\n# Refunds\n\nRefunds take 5 to 10 business days.\n"


def test_an_uploaded_file_takes_its_own_title_unless_one_is_given():
    # given
    kb = KnowledgeBaseFactory.create()
    untitled, _ = document_create(knowledge_base=kb, data=PAGE, filename="refunds.md")
    titled, _ = document_create(
        knowledge_base=kb, data=PAGE, filename="other.md", title="Refund policy"
    )
    # when
    document_index(document_id=untitled.pk, embedder=FakeEmbedder())
    document_index(document_id=titled.pk, embedder=FakeEmbedder())
    # then
    untitled.refresh_from_db()
    titled.refresh_from_db()
    assert (untitled.title, untitled.status) == ("How refunds work", "ready")
    assert (titled.title, titled.status) == ("Refund policy", "ready")


def test_reuploading_the_same_file_does_nothing_and_a_change_replaces_its_chunks():
    # given
    kb = KnowledgeBaseFactory.create()
    doc, _ = document_create(knowledge_base=kb, data=PAGE, filename="refunds.md")
    document_index(document_id=doc.pk, embedder=FakeEmbedder())
    old_chunks = set(Chunk.objects.values_list("pk", flat=True))
    # when
    same, queued_same = document_create(knowledge_base=kb, data=PAGE, filename="refunds.md")
    changed, queued_changed = document_create(
        knowledge_base=kb,
        data=PAGE + b"\n## Exchanges\n\nExchanges are free.\n",
        filename="refunds.md",
    )
    document_index(document_id=changed.pk, embedder=FakeEmbedder())
    # then
    assert (same.pk, queued_same) == (doc.pk, False)
    assert (changed.pk, queued_changed) == (doc.pk, True)
    assert Document.objects.count() == 1
    new_chunks = set(Chunk.objects.values_list("pk", flat=True))
    assert new_chunks.isdisjoint(old_chunks)
    assert any("Exchanges are free." in t for t in Chunk.objects.values_list("text", flat=True))


def test_a_failed_reindex_keeps_the_old_chunks_and_says_why():
    # given
    kb = KnowledgeBaseFactory.create()
    doc, _ = document_create(knowledge_base=kb, data=PAGE, filename="refunds.md")
    document_index(document_id=doc.pk, embedder=FakeEmbedder())
    before = list(Chunk.objects.values_list("pk", "text"))
    # when
    document_create(knowledge_base=kb, data=b"%PDF-1.4\x00\x01\x02 garbage", filename="refunds.md")
    failed = document_index(document_id=doc.pk, embedder=FakeEmbedder())
    # then
    assert failed.status == "failed"
    assert failed.error.startswith("binary:")
    assert list(Chunk.objects.values_list("pk", "text")) == before


def test_deleting_a_document_deletes_its_chunks():
    # given
    kb = KnowledgeBaseFactory.create()
    doc, _ = document_create(knowledge_base=kb, data=PAGE, filename="refunds.md")
    document_index(document_id=doc.pk, embedder=FakeEmbedder())
    assert Chunk.objects.count() > 0
    # when
    document_delete(document=doc)
    # then
    assert Chunk.objects.count() == 0
    assert Document.objects.count() == 0
