from __future__ import annotations

import re

import pytest

from chatapp.core.errors import NotFound
from chatapp.knowledge.models import CuratedAnswer, Document
from chatapp.knowledge.selectors import admin as selectors_admin
from tests.factories.knowledge import DocumentFactory, KnowledgeBaseFactory, unit_vector

pytestmark = pytest.mark.django_db


def _curated(kb, question: str, *, active: bool = True) -> CuratedAnswer:
    return CuratedAnswer.objects.create(
        knowledge_base=kb,
        question=question,
        answer=f"Answer to {question}",
        embedding=unit_vector(len(question)),
        is_active=active,
    )


def test_overview_list_counts_documents_by_status_in_one_query(django_assert_num_queries):
    # given
    help_kb = KnowledgeBaseFactory.create(name="Help")
    KnowledgeBaseFactory.create(name="Archive", is_default=False)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.READY, chunk_count=4)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.READY, chunk_count=3)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.QUEUED)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.INDEXING)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.FAILED, error="bad")
    _curated(help_kb, "Refunds?")
    _curated(help_kb, "Shipping?", active=False)
    # when
    with django_assert_num_queries(1):
        rows = selectors_admin.knowledge_base_overview_list()
    # then
    assert [r.name for r in rows] == ["Archive", "Help"]
    archive, help_row = rows
    assert (archive.documents, archive.ready, archive.chunks, archive.curated_answers) == (
        0,
        0,
        0,
        0,
    )
    assert archive.is_default is False
    assert help_row.id == help_kb.pk
    assert (help_row.documents, help_row.queued, help_row.indexing) == (5, 1, 1)
    assert (help_row.ready, help_row.failed, help_row.pending) == (2, 1, 2)
    assert help_row.chunks == 7
    assert help_row.curated_answers == 2


def test_overview_get_raises_not_found_for_an_unknown_id():
    # when / then
    with pytest.raises(NotFound, match=re.escape(selectors_admin.ERR_NO_KB)):
        selectors_admin.knowledge_base_overview_get(987654)


def test_document_rows_are_newest_change_first_and_skip_the_raw_upload(django_assert_num_queries):
    # given
    kb = KnowledgeBaseFactory.create()
    other = KnowledgeBaseFactory.create()
    old = DocumentFactory.create(knowledge_base=kb, title="Old", filename="old.md")
    new = DocumentFactory.create(
        knowledge_base=kb, title="New", status=Document.Status.FAILED, error="No text found."
    )
    DocumentFactory.create(knowledge_base=other, title="Elsewhere")
    Document.objects.filter(pk=old.pk).update(raw=b"x" * 10)
    # when
    with django_assert_num_queries(1) as captured:
        rows = selectors_admin.document_row_list(knowledge_base_id=kb.pk)
    # then
    assert [r.id for r in rows] == [new.pk, old.pk]
    assert '"raw"' not in captured.captured_queries[0]["sql"]
    assert rows[0].status == "failed"
    assert rows[0].error == "No text found."
    assert rows[0].pending is False
    assert rows[1].filename == "old.md"
    assert rows[1].as_json() == {
        "id": old.pk,
        "title": "Old",
        "filename": "old.md",
        "source_url": "",
        "status": "ready",
        "chunks": 0,
        "error": None,
        "created_at": old.created_at.isoformat(),
        "updated_at": rows[1].updated_at.isoformat(),
    }


def test_knowledge_base_page_reads_counts_documents_and_curated_answers_in_three_queries(
    django_assert_num_queries,
):
    # given
    kb = KnowledgeBaseFactory.create(name="Help")
    doc = DocumentFactory.create(knowledge_base=kb, status=Document.Status.QUEUED)
    second = _curated(kb, "b question")
    first = _curated(kb, "a question")
    # when
    with django_assert_num_queries(3):
        page = selectors_admin.knowledge_base_page(kb.pk)
    # then
    assert page.knowledge_base.name == "Help"
    assert page.knowledge_base.queued == 1
    assert [d.id for d in page.documents] == [doc.pk]
    assert page.documents[0].pending is True
    assert [c.id for c in page.curated_answers] == [first.pk, second.pk]
    assert page.curated_answers[0].answer == "Answer to a question"
