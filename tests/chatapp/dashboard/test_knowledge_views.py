from __future__ import annotations

import re

import pytest

from chatapp.knowledge.models import CuratedAnswer, Document
from tests.factories.accounts import UserFactory
from tests.factories.knowledge import DocumentFactory, KnowledgeBaseFactory, unit_vector

pytestmark = pytest.mark.django_db

KB_ROW = re.compile(r'<tr class="kb-row" data-kb-id="(\d+)">')
DOC_ROW = re.compile(r'<tr class="doc-row" data-document-id="(\d+)" data-status="(\w+)"')


@pytest.mark.parametrize("path", ["/dashboard/knowledge/", "/dashboard/knowledge/1/"])
def test_knowledge_pages_send_anonymous_visitors_to_log_in(client, path):
    # when
    response = client.get(path)
    # then
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_knowledge_pages_refuse_everyone_but_admins(client, role):
    # given
    kb = KnowledgeBaseFactory.create()
    client.force_login(UserFactory.create(username=f"u-{role}", role=role))
    # when
    index = client.get("/dashboard/knowledge/")
    detail = client.get(f"/dashboard/knowledge/{kb.pk}/")
    # then
    assert index.status_code == 403
    assert detail.status_code == 403


def test_knowledge_index_lists_bases_with_counts(client, admin_user, django_assert_num_queries):
    # given
    help_kb = KnowledgeBaseFactory.create(name="Help", description="Customer help pages")
    archive = KnowledgeBaseFactory.create(name="Archive", is_default=False)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.READY, chunk_count=12)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.INDEXING)
    DocumentFactory.create(knowledge_base=help_kb, status=Document.Status.FAILED)
    client.force_login(admin_user)
    # when: session, user, the bases with their counts
    with django_assert_num_queries(3):
        response = client.get("/dashboard/knowledge/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert KB_ROW.findall(html) == [str(archive.pk), str(help_kb.pk)]
    assert f'<a href="/dashboard/knowledge/{help_kb.pk}/">Help</a>' in html
    assert '<span class="reason">Customer help pages</span>' in html
    help_row = html[html.index(f'data-kb-id="{help_kb.pk}"') :]
    assert '<td class="num" data-label="Documents" data-count="documents">3</td>' in help_row
    assert '<td class="num" data-label="In progress" data-count="pending">1</td>' in help_row
    assert 'data-label="Failed" data-count="failed">1</td>' in help_row
    assert '<td class="num" data-label="Chunks" data-count="chunks">12</td>' in help_row
    assert html.count('<span class="status-badge kb-default">Default</span>') == 1
    assert 'id="kb-create-form"' in html
    assert "csrftoken" in response.cookies


def test_knowledge_index_marks_the_knowledge_link_current(client, admin_user):
    # given
    client.force_login(admin_user)
    # when
    html = client.get("/dashboard/knowledge/").content.decode()
    # then
    assert '<a href="/dashboard/knowledge/" aria-current="page">Knowledge</a>' in html
    assert '<a href="/dashboard/">Dashboard</a>' in html


def test_dashboard_header_links_to_knowledge_for_admins_only(client, admin_user, agent):
    # given
    client.force_login(admin_user)
    # when
    admin_html = client.get("/dashboard/").content.decode()
    client.force_login(agent)
    agent_html = client.get("/console/").content.decode()
    # then
    assert '<a href="/dashboard/knowledge/">Knowledge</a>' in admin_html
    assert "/dashboard/knowledge/" not in agent_html


def test_knowledge_detail_shows_documents_curated_answers_and_forms(
    client, admin_user, django_assert_num_queries
):
    # given
    kb = KnowledgeBaseFactory.create(name="Help")
    ready = DocumentFactory.create(
        knowledge_base=kb, title="Refunds", filename="refunds.md", chunk_count=5
    )
    failed = DocumentFactory.create(
        knowledge_base=kb, title="Broken", status=Document.Status.FAILED, error="No text found."
    )
    queued = DocumentFactory.create(knowledge_base=kb, title="New", status=Document.Status.QUEUED)
    DocumentFactory.create(title="Other base")
    curated = CuratedAnswer.objects.create(
        knowledge_base=kb,
        question="Where is my order?",
        answer="Track it.",
        embedding=unit_vector(1),
    )
    client.force_login(admin_user)
    # when: session, user, the base with counts, documents, curated answers
    with django_assert_num_queries(5):
        response = client.get(f"/dashboard/knowledge/{kb.pk}/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert DOC_ROW.findall(html) == [
        (str(queued.pk), "queued"),
        (str(failed.pk), "failed"),
        (str(ready.pk), "ready"),
    ]
    assert '<span class="mono">refunds.md</span>' in html
    assert '<p class="doc-error">No text found.</p>' in html
    assert html.count('data-action="retry"') == 1
    assert html.count('data-action="delete"') == 4  # three documents, one curated answer
    assert f'data-documents-url="/api/v1/knowledge-bases/{kb.pk}/documents"' in html
    assert '<span class="stat-value" data-count="documents">3</span>' in html
    assert '<span class="stat-value" data-count="pending">1</span>' in html
    assert '<span class="stat-value" data-count="chunks">5</span>' in html
    assert f'<li class="curated" data-curated-id="{curated.pk}">' in html
    assert '<p class="curated-answer">Track it.</p>' in html
    assert 'accept=".md,.markdown,.txt,.html,.htm,.pdf"' in html
    assert 'id="search-form"' in html
    assert 'id="documents-empty" class="empty" hidden' in html
    assert "csrftoken" in response.cookies


def test_knowledge_detail_of_an_empty_base_says_so(client, admin_user):
    # given
    kb = KnowledgeBaseFactory.create()
    client.force_login(admin_user)
    # when
    html = client.get(f"/dashboard/knowledge/{kb.pk}/").content.decode()
    # then
    assert DOC_ROW.findall(html) == []
    assert '<p id="documents-empty" class="empty">No documents yet.' in html
    assert '<p id="curated-empty" class="empty">No curated answers yet.</p>' in html


def test_knowledge_detail_of_an_unknown_base_is_404(client, admin_user):
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/dashboard/knowledge/987654/")
    # then
    assert response.status_code == 404
