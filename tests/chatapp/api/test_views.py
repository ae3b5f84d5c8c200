from __future__ import annotations

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.conversations.models import Conversation
from chatapp.knowledge.models import Document, KnowledgeBase
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.factories.conversations import make_conversation
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_key() -> str:
    return api_key_create(user=AdminFactory.create())


@pytest.fixture
def agent_key() -> str:
    return api_key_create(user=AgentFactory.create())


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_create_conversation_returns_id_token_and_socket_url(client):
    # when
    response = client.post("/api/v1/conversations", {}, content_type="application/json")
    # then
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "token", "websocket_url"}
    assert body["websocket_url"] == f"/ws/conversations/{body['id']}/?token={body['token']}"
    assert Conversation.objects.filter(pk=body["id"]).exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{oops", "application/json", 400, "invalid_json"),
        ('{"knowledge_base_ids": "all"}', "application/json", 400, "invalid_request"),
        ('{"colour": "red"}', "application/json", 400, "invalid_request"),
        # anonymous: an unknown id is refused like an internal one (see test_authz_matrix.py)
        ('{"knowledge_base_ids": [987654]}', "application/json", 403, "forbidden"),
        ("a=b", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_create_conversation_refuses_bad_bodies(client, body, content_type, status, code):
    # when
    response = client.post("/api/v1/conversations", body, content_type=content_type)
    # then
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert Conversation.objects.count() == 0


def test_get_conversation_needs_its_token_or_a_staff_key(client, agent_key):
    # given
    conversation, token = make_conversation()
    _, other_token = make_conversation()
    url = f"/api/v1/conversations/{conversation.pk}"
    # when
    as_visitor = client.get(url, HTTP_X_CONVERSATION_TOKEN=token)
    as_staff = client.get(url, **auth(agent_key))
    anonymous = client.get(url)
    wrong = client.get(url, HTTP_X_CONVERSATION_TOKEN=other_token)
    bad_key = client.get(url, HTTP_AUTHORIZATION="Bearer ck_nope_nope")
    # then
    assert as_visitor.status_code == 200
    assert as_visitor.json() == {
        "id": str(conversation.pk),
        "status": "bot",
        "assignee": None,
        "messages": [],
    }
    assert as_staff.status_code == 200
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert bad_key.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthenticated"


def test_unknown_conversation_is_404_json(client, agent_key):
    # when
    response = client.get("/api/v1/conversations/not-a-uuid", **auth(agent_key))
    # then
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_knowledge_base_create_needs_an_admin_key(client, admin_key, agent_key):
    # when
    anonymous = client.post(
        "/api/v1/knowledge-bases", {"name": "FAQ"}, content_type="application/json"
    )
    as_agent = client.post(
        "/api/v1/knowledge-bases",
        {"name": "FAQ"},
        content_type="application/json",
        **auth(agent_key),
    )
    as_admin = client.post(
        "/api/v1/knowledge-bases",
        {"name": "FAQ"},
        content_type="application/json",
        **auth(admin_key),
    )
    duplicate = client.post(
        "/api/v1/knowledge-bases",
        {"name": "FAQ"},
        content_type="application/json",
        **auth(admin_key),
    )
    # then
    assert anonymous.status_code == 401
    assert as_agent.status_code == 403
    assert as_admin.status_code == 201
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "duplicate"
    assert KnowledgeBase.objects.filter(name="FAQ").count() == 1


def test_document_json_upload_is_queued(client, admin_key, indexed_later, committed):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    with committed():
        response = client.post(
            f"/api/v1/knowledge-bases/{kb.pk}/documents",
            {"title": "Refunds", "text": "# Refunds\n\nRefunds take 5 days."},
            content_type="application/json",
            **auth(admin_key),
        )
    # then
    assert response.status_code == 202
    doc = Document.objects.get()
    assert response.json() == {"id": doc.pk, "status": "queued"}
    assert indexed_later == [doc.pk]
    status = client.get(f"/api/v1/documents/{doc.pk}", **auth(admin_key)).json()
    assert status == {
        "id": doc.pk,
        "knowledge_base_id": kb.pk,
        "title": "Refunds",
        "status": "queued",
        "chunks": 0,
        "error": None,
    }


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("empty.md", b"", 400),
        ("tool.exe", b"MZ\x90\x00", 415),
    ],
)
def test_bad_uploads_are_refused_at_once(client, admin_key, indexed_later, name, data, status):
    # given
    from django.core.files.uploadedfile import SimpleUploadedFile

    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"file": SimpleUploadedFile(name, data)},
        **auth(admin_key),
    )
    # then
    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_document"
    assert Document.objects.count() == 0


def test_a_multipart_body_without_a_boundary_is_400_not_500(client, admin_key, indexed_later):
    # given: what the REST fuzz run sent (tests/e2e/test_fuzz_api.py)
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        data=b'{"title": "", "text": ""}',
        content_type="multipart/form-data",
        **auth(admin_key),
    )
    # then
    assert response.status_code == 400
    # (the documents view names the field at fault, as for its other validation errors)
    assert response.json() == {
        "error": {
            "code": "invalid_request",
            "detail": "The multipart body cannot be read: Invalid boundary in multipart: None",
            "fields": [{"field": "file", "message": "Invalid boundary in multipart: None"}],
        }
    }
    assert Document.objects.count() == 0


def test_method_not_allowed_is_json(client):
    # when
    response = client.get("/api/v1/conversations")
    # then
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_endpoint_is_json_404(client):
    # when
    response = client.get("/api/v1/nothing-here")
    # then
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "detail": "No such endpoint."}}


def test_openapi_lists_the_contract(client):
    # when
    spec = client.get("/api/v1/openapi.json").json()
    # then
    assert spec["openapi"] == "3.1.0"
    assert "/api/v1/conversations" in spec["paths"]
    assert "/api/v1/knowledge-bases/{kb_id}/search" in spec["paths"]


def test_openapi_documents_every_api_route(client):
    # given: every route of the API, in OpenAPI's {name} form (less the document and its page)
    import re

    from chatapp.api.app import PREFIX, api

    patterns, _, _ = api.urls
    routes = {
        f"/{PREFIX}" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern))
        for p in patterns
        if str(p.pattern) not in ("", "openapi.json", "docs")
    }
    routes.add("/healthz")
    # when
    documented = set(client.get("/api/v1/openapi.json").json()["paths"])
    # then
    assert routes - documented == set()
