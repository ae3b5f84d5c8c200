"""The bulk import API: JSON lines, zip and multipart in one request, job progress, re-index."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from chatapp.accounts.services import api_key_create
from chatapp.knowledge.models import Document, ImportJob
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.factories.documents import make_zip
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db

JSONL = "application/x-ndjson"


@pytest.fixture
def agent_key() -> str:
    return api_key_create(user=AgentFactory.create())


@pytest.fixture
def admin_key() -> str:
    return api_key_create(user=AdminFactory.create())


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _lines(*docs: object) -> bytes:
    return "".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs).encode()


def test_json_lines_store_the_good_documents_and_report_each_bad_line(
    client, admin_key, indexed_later, committed
):
    # given
    kb = KnowledgeBaseFactory.create()
    body = _lines(
        {"title": "Refunds", "text": "# Refunds\n\nFive days."},
        '{"title": "Broken", "text": ',
        {"title": "Shipping", "text": "Two days.", "source_url": "https://shop.test/shipping"},
        {"title": "No text"},
        {"title": "Returns", "text": "Thirty days."},
    )

    # when
    with committed():
        response = client.post(
            f"/api/v1/knowledge-bases/{kb.pk}/imports", body, content_type=JSONL, **auth(admin_key)
        )

    # then
    assert response.status_code == 202
    job = ImportJob.objects.get()
    assert response["Location"] == f"/api/v1/imports/{job.pk}"
    data = response.json()
    assert (data["id"], data["status"], data["source"], data["kind"]) == (
        job.pk,
        "queued",
        "jsonl",
        "import",
    )
    assert data["documents"] == {
        "total": 5,
        "done": 2,
        "pending": 3,
        "refused": 2,
        "unchanged": 0,
        "queued": 3,
        "indexing": 0,
        "ready": 0,
        "failed": 0,
        "superseded": 0,
    }
    assert data["errors"] == [
        {
            "position": 2,
            "name": "line 2",
            "status": "refused",
            "error": "invalid_json: the line is not valid JSON (Expecting value).",
            "document_id": None,
        },
        {
            "position": 4,
            "name": "line 4",
            "status": "refused",
            "error": "invalid_line: text: Field required",
            "document_id": None,
        },
    ]
    docs = Document.objects.order_by("pk")
    assert list(docs.values_list("title", "source_url", "status")) == [
        ("Refunds", "", "queued"),
        ("Shipping", "https://shop.test/shipping", "queued"),
        ("Returns", "", "queued"),
    ]
    assert indexed_later == [d.pk for d in docs]


def test_a_zip_stores_its_files_and_reports_the_ones_it_cannot_take(
    client, admin_key, indexed_later
):
    # given
    kb = KnowledgeBaseFactory.create()
    archive = make_zip(
        {
            "help/refunds.md": b"# Refunds\n\nFive days.\n",
            "help/logo.png": b"\x89PNG",
            "help/empty.txt": b"",
            "help/notes/shipping.html": b"<h1>Shipping</h1><p>Two days.</p>",
        }
    )

    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports",
        archive,
        content_type="application/zip",
        **auth(admin_key),
    )

    # then
    assert response.status_code == 202
    data = response.json()
    assert (data["source"], data["documents"]["queued"], data["documents"]["refused"]) == (
        "zip",
        2,
        2,
    )
    assert [(e["name"], e["error"]) for e in data["errors"]] == [
        ("help/logo.png", "unsupported_type: use one of .md, .markdown, .txt, .html, .htm, .pdf."),
        ("help/empty.txt", "empty: help/empty.txt is empty."),
    ]
    assert list(Document.objects.order_by("pk").values_list("filename", "title")) == [
        ("help/refunds.md", "help/refunds.md"),
        ("help/notes/shipping.html", "help/notes/shipping.html"),
    ]


def test_multipart_takes_every_file_and_unpacks_a_zip_among_them(client, admin_key, indexed_later):
    # given
    kb = KnowledgeBaseFactory.create()
    files = [
        SimpleUploadedFile("faq.md", b"# FAQ\n\nAnswers.\n"),
        SimpleUploadedFile("more.zip", make_zip({"guide/a.txt": b"A guide.\n"})),
        SimpleUploadedFile("tool.exe", b"MZ\x90\x00"),
    ]

    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports", {"file": files}, **auth(admin_key)
    )

    # then
    assert response.status_code == 202
    data = response.json()
    assert (data["source"], data["documents"]["total"], data["documents"]["queued"]) == (
        "multipart",
        3,
        2,
    )
    assert [e["name"] for e in data["errors"]] == ["tool.exe"]
    assert sorted(Document.objects.values_list("filename", flat=True)) == [
        "faq.md",
        "guide/a.txt",
    ]


@pytest.mark.parametrize(
    ("content_type", "body", "code", "status"),
    [
        ("text/plain", b"hello", "unsupported_media_type", 415),
        ("application/json", b'{"title": "a", "text": "b"}', "unsupported_media_type", 415),
        (JSONL, b"\n \n", "empty_import", 400),
        (
            JSONL,
            _lines(*[{"title": f"t{n}", "text": "x"} for n in range(4)]),
            "too_many_documents",
            413,
        ),
        (JSONL, b"x" * 2000, "too_large", 413),
        ("application/zip", b"this is not a zip", "invalid_archive", 400),
        (
            "application/zip",
            make_zip({"a.md": b"# a"} | {f"{n}.md": b"# x" for n in range(3)}),
            "too_many_documents",
            413,
        ),
    ],
)
@override_settings(CHATAPP_IMPORT_MAX_DOCUMENTS=3, CHATAPP_IMPORT_MAX_BYTES=1000)
def test_a_request_wrong_as_a_whole_is_refused_and_stores_nothing(
    client, admin_key, indexed_later, content_type, body, code, status
):
    # given
    kb = KnowledgeBaseFactory.create()

    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports",
        body,
        content_type=content_type,
        **auth(admin_key),
    )

    # then
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert ImportJob.objects.count() == 0
    assert Document.objects.count() == 0
    assert indexed_later == []


def test_multipart_without_files_is_refused(client, admin_key):
    # given
    kb = KnowledgeBaseFactory.create()

    # when
    response = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports", {"title": "x"}, **auth(admin_key)
    )

    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_import"
    assert ImportJob.objects.count() == 0


def test_imports_need_staff_and_a_known_knowledge_base(client, agent_key):
    # given
    kb = KnowledgeBaseFactory.create()
    body = _lines({"title": "a", "text": "b"})

    # when
    anonymous = client.post(f"/api/v1/knowledge-bases/{kb.pk}/imports", body, content_type=JSONL)
    unknown = client.post(
        "/api/v1/knowledge-bases/999999/imports", body, content_type=JSONL, **auth(agent_key)
    )

    # then
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "unauthenticated")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert ImportJob.objects.count() == 0


def test_a_job_is_read_back_alone_and_in_its_knowledge_base_list(
    client, admin_key, agent_key, indexed_later, django_assert_num_queries
):
    # given: an admin imports (agents read knowledge, only admins write it)
    kb = KnowledgeBaseFactory.create()
    posted = client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports",
        _lines({"title": "a", "text": "b"}, "nope"),
        content_type=JSONL,
        **auth(admin_key),
    ).json()

    # when: an agent reads it: an API key lookup, then the job with its counts, then its errors
    with django_assert_num_queries(4):
        detail = client.get(f"/api/v1/imports/{posted['id']}", **auth(agent_key))
    listed = client.get(f"/api/v1/knowledge-bases/{kb.pk}/imports", **auth(agent_key))
    missing = client.get("/api/v1/imports/999999", **auth(agent_key))

    # then
    assert detail.json() == posted
    results = listed.json()["results"]
    assert [r["id"] for r in results] == [posted["id"]]
    assert "errors" not in results[0]
    assert results[0]["documents"] == posted["documents"]
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


def test_reindex_is_for_admins_and_runs_one_at_a_time(client, admin_key, agent_key, indexed_later):
    # given
    kb = KnowledgeBaseFactory.create()
    client.post(
        f"/api/v1/knowledge-bases/{kb.pk}/imports",
        _lines({"title": "a", "text": "b"}, {"title": "c", "text": "d"}),
        content_type=JSONL,
        **auth(admin_key),
    )

    # when
    as_agent = client.post(f"/api/v1/knowledge-bases/{kb.pk}/reindex", **auth(agent_key))
    first = client.post(f"/api/v1/knowledge-bases/{kb.pk}/reindex", **auth(admin_key))
    second = client.post(f"/api/v1/knowledge-bases/{kb.pk}/reindex", **auth(admin_key))

    # then
    assert as_agent.status_code == 403
    assert first.status_code == 202
    body = first.json()
    assert (body["kind"], body["status"], body["documents"]["queued"]) == ("reindex", "queued", 2)
    assert (second.status_code, second.json()["error"]["code"]) == (409, "job_running")
    assert ImportJob.objects.filter(kind="reindex").count() == 1
