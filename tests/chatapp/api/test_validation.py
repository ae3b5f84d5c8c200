"""Every REST text field is bounded and every validation error is a 400 with its fields."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from chatapp.accounts.services import api_key_create
from chatapp.conversations.models import Message, Note
from chatapp.conversations.services import conversation_assign
from chatapp.knowledge.models import CuratedAnswer, Document, KnowledgeBase
from tests.factories.accounts import AdminFactory
from tests.factories.conversations import make_conversation
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return AdminFactory.create()


@pytest.fixture
def headers(admin) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=admin)}"}


def _invalid(response, field: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["detail"]
    assert field in [f["field"] for f in error["fields"]], error["fields"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<b>x</b>",
        "file:///etc/passwd",
        "http://",
    ],
)
def test_a_source_url_that_is_not_http_is_refused_in_json(client, headers, url, indexed_later):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"title": "Refunds", "text": "Refunds take 5 days.", "source_url": url},
        "application/json",
        **headers,
    )
    # then
    _invalid(response, "source_url")
    assert Document.objects.count() == 0


def test_a_source_url_that_is_not_http_is_refused_beside_a_file(client, headers, indexed_later):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"file": SimpleUploadedFile("a.md", b"# A\n\ntext"), "source_url": "javascript:x"},
        **headers,
    )
    long_title = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"file": SimpleUploadedFile("a.md", b"# A\n\ntext"), "title": "t" * 501},
        **headers,
    )
    # then
    _invalid(response, "source_url")
    _invalid(long_title, "title")
    assert Document.objects.count() == 0


def test_https_source_urls_are_kept(client, headers, indexed_later):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"title": "Refunds", "text": "Refunds.", "source_url": "https://help.example/refunds"},
        "application/json",
        **headers,
    )
    # then
    assert response.status_code == 202
    assert Document.objects.get().source_url == "https://help.example/refunds"


def test_a_missing_file_field_names_the_field(client, headers):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents", {"title": "no file"}, **headers
    )
    # then
    _invalid(response, "file")


def test_a_javascript_url_in_an_import_line_refuses_that_line_only(client, headers):
    # given
    kb = KnowledgeBaseFactory.create()
    body = (
        b'{"title": "Bad", "text": "x", "source_url": "javascript:alert(1)"}\n'
        b'{"title": "Good", "text": "y", "source_url": "https://help.example/good"}\n'
    )
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports", body, "application/x-ndjson", **headers
    )
    # then
    assert response.status_code == 202
    job = response.json()
    assert job["documents"]["refused"] == 1
    assert "source_url" in job["errors"][0]["error"]
    assert list(Document.objects.values_list("title", flat=True)) == ["Good"]


def test_agent_messages_and_notes_are_bounded(client, headers, admin, settings):
    # given
    settings.CHATAPP_MESSAGE_MAX_CHARS = 100
    conversation, _ = make_conversation()
    conversation_assign(conversation=conversation, agent=admin, by=admin)
    base = f"/api/v1/conversations/{conversation.pk}"
    # when
    long_message = client.post(
        f"{base}/messages", {"text": "x" * 101}, "application/json", **headers
    )
    huge_message = client.post(
        f"{base}/messages", {"text": "x" * 200_000}, "application/json", **headers
    )
    long_note = client.post(f"{base}/notes", {"text": "x" * 10_001}, "application/json", **headers)
    fits = client.post(f"{base}/messages", {"text": "x" * 100}, "application/json", **headers)
    # then
    _invalid(long_message, "text")
    _invalid(huge_message, "text")
    _invalid(long_note, "text")
    assert fits.status_code == 201
    assert Message.objects.filter(role="agent").count() == 1
    assert Note.objects.count() == 0


def test_json_document_text_is_bounded_by_the_upload_limit(client, headers, settings):
    # given
    settings.CHATAPP_UPLOAD_MAX_BYTES = 1000
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"title": "Big", "text": "é" * 501},  # 1002 bytes in UTF-8
        "application/json",
        **headers,
    )
    # then
    _invalid(response, "text")
    assert Document.objects.count() == 0


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/knowledge-bases", {"name": "n" * 201}, "name"),
        ("/api/v1/knowledge-bases", {"name": "FAQ", "description": "d" * 5001}, "description"),
        ("/api/v1/knowledge-bases", {"name": "FAQ", "is_default": "maybe"}, "is_default"),
    ],
)
def test_knowledge_base_fields_are_bounded(client, headers, url, body, field):
    # when
    response = client.post(url, body, "application/json", **headers)
    # then
    _invalid(response, field)
    assert KnowledgeBase.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "q" * 2001, "answer": "a"}, "question"),
        ({"question": "q", "answer": "a" * 10_001}, "answer"),
        ({"question": "", "answer": "a"}, "question"),
    ],
)
def test_curated_answer_fields_are_bounded(client, headers, body, field):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/curated-answers", body, "application/json", **headers
    )
    # then
    _invalid(response, field)
    assert CuratedAnswer.objects.count() == 0


def test_a_model_validation_error_in_a_service_is_a_400_not_a_500(client, headers, monkeypatch):
    # given: a check only the model knows (full_clean), e.g. a URL the schema let through
    from django.core.exceptions import ValidationError

    def refuse(**kwargs):
        raise ValidationError({"source_url": ["Enter a valid URL."]})

    monkeypatch.setattr("chatapp.knowledge.services.document_create", refuse)
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/documents",
        {"title": "A", "text": "B"},
        "application/json",
        **headers,
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == [
        {"field": "source_url", "message": "Enter a valid URL."}
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/knowledge-bases", {"name": "Help\x00desk"}, "name"),
        ("/api/v1/knowledge-bases", {"name": "Help", "description": "a\x00b"}, "description"),
        ("/api/v1/knowledge-bases", {"name": "Help \ud800"}, "name"),
    ],
)
def test_text_postgres_cannot_store_is_a_400_not_a_500(client, headers, path, body, field):
    # when: a NUL or a lone surrogate, which a Postgres text column refuses
    response = client.post(path, body, "application/json", **headers)
    # then
    _invalid(response, field)
    assert KnowledgeBase.objects.count() == 0


def test_a_curated_answer_with_a_nul_is_a_400(client, headers):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/curated-answers",
        {"question": "Refunds?\x00", "answer": "5 days."},
        "application/json",
        **headers,
    )
    # then
    _invalid(response, "question")
    assert CuratedAnswer.objects.count() == 0
