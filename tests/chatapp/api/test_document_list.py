from __future__ import annotations

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.knowledge.models import Document
from tests.contract import resolve
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.factories.knowledge import DocumentFactory, KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_key() -> str:
    return api_key_create(user=AgentFactory.create())


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_document_list_returns_status_newest_change_first(client, agent_key):
    # given
    kb = KnowledgeBaseFactory.create()
    ready = DocumentFactory.create(
        knowledge_base=kb, title="Refunds", filename="refunds.md", chunk_count=4
    )
    failed = DocumentFactory.create(
        knowledge_base=kb, title="Broken", status=Document.Status.FAILED, error="No text found."
    )
    DocumentFactory.create(title="Elsewhere")
    # when
    response = client.get(f"/api/v1/knowledge-bases/{kb.pk}/documents", **auth(agent_key))
    # then
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [failed.pk, ready.pk]
    failed.refresh_from_db()
    assert results[0] == {
        "id": failed.pk,
        "title": "Broken",
        "filename": "",
        "source_url": "",
        "status": "failed",
        "chunks": 0,
        "error": "No text found.",
        "created_at": failed.created_at.isoformat(),
        "updated_at": failed.updated_at.isoformat(),
    }
    assert (results[1]["filename"], results[1]["chunks"], results[1]["error"]) == (
        "refunds.md",
        4,
        None,
    )


def test_document_list_with_a_session_needs_no_csrf_for_reads(client):
    # given
    kb = KnowledgeBaseFactory.create()
    DocumentFactory.create(knowledge_base=kb)
    client.force_login(AdminFactory.create())
    # when
    response = client.get(f"/api/v1/knowledge-bases/{kb.pk}/documents")
    # then
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_document_list_needs_staff(client):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.get(f"/api/v1/knowledge-bases/{kb.pk}/documents")
    # then
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_document_list_of_an_unknown_base_is_404(client, agent_key):
    # when
    response = client.get("/api/v1/knowledge-bases/987654/documents", **auth(agent_key))
    # then
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "detail": "No such knowledge base."}}


def test_documents_path_still_accepts_uploads_and_refuses_other_methods(
    client, agent_key, indexed_later, committed
):
    # given: an admin uploads (agents may only read knowledge)
    kb = KnowledgeBaseFactory.create()
    url = f"/api/v1/knowledge-bases/{kb.pk}/documents"
    admin_key = api_key_create(user=AdminFactory.create())
    # when
    with committed():
        created = client.post(
            url,
            {"title": "FAQ", "text": "Q and A."},
            content_type="application/json",
            **auth(admin_key),
        )
    refused = client.put(url, {}, content_type="application/json", **auth(agent_key))
    # then
    assert created.status_code == 202
    assert indexed_later == [created.json()["id"]]
    assert refused.status_code == 405
    assert refused.json()["error"] == {"code": "method_not_allowed", "detail": "Use GET, POST."}
    assert Document.objects.count() == 1


def test_document_list_query_count(client, agent_key, django_assert_num_queries):
    # given
    kb = KnowledgeBaseFactory.create()
    DocumentFactory.create_batch(3, knowledge_base=kb)
    # when: API key (lookup + last-used update), the base, its documents
    with django_assert_num_queries(4):
        response = client.get(f"/api/v1/knowledge-bases/{kb.pk}/documents", **auth(agent_key))
    # then
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_openapi_describes_the_document_list(client):
    # when
    spec = client.get("/api/v1/openapi.json").json()
    # then
    path = spec["paths"]["/api/v1/knowledge-bases/{kb_id}/documents"]
    assert set(path) == {"get", "post"}
    body = resolve(spec, path["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    item = resolve(spec, body["properties"]["results"]["items"])
    assert "updated_at" in item["properties"]
