"""Browser flow in headless Chromium: an admin builds a knowledge base and tries a question."""

from __future__ import annotations

import json
import uuid

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import user_ensure
from chatapp.knowledge.services import knowledge_base_create
from tests.e2e.conftest import SHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Indexing a short page takes a few seconds; the first search loads the embedder in the server.
INDEX_TIMEOUT_MS = 120_000
SEARCH_TIMEOUT_MS = 120_000
PAGE = """# Gift wrapping

We wrap any order in recycled kraft paper for 3 euros. Choose gift wrapping at checkout,
and add a handwritten card with your own message for free.
"""


@pytest.fixture
def admin(stack) -> str:
    """An admin who can log in (made before the browser: Playwright's loop forbids the ORM)."""
    user_ensure(username="kb-admin", role=User.Role.ADMIN, password="kb-admin-pass-1")
    return "kb-admin"


def test_admin_uploads_a_page_and_finds_it_with_try_it(stack, admin, browser, tmp_path):
    # given: an admin, and a Markdown page on disk
    upload = tmp_path / "gift-wrapping.md"
    upload.write_text(PAGE)
    kb_name = f"Gifts {uuid.uuid4().hex[:6]}"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.base_url}/accounts/login/?next=/dashboard/knowledge/")
    page.fill("#id_username", admin)
    page.fill("#id_password", "kb-admin-pass-1")
    page.click("#login-submit")
    page.wait_for_url("**/dashboard/knowledge/")

    # when: they create a knowledge base and open it
    page.fill("#kb-name", kb_name)
    page.click("#kb-create-submit")
    page.click(f".kb-row a:text-is('{kb_name}')")
    page.wait_for_selector("#knowledge-base")
    # ... add a second document by pasting text, so the ranking has something to rank
    page.fill("#paste-title-input", "Opening hours")
    page.fill("#paste-text", "# Opening hours\n\nOur team answers Monday to Friday, 9 to 17.")
    page.click("#paste-submit")
    # ... and upload the page through the file input
    page.set_input_files("#file-input", str(upload))
    row = page.wait_for_selector(
        "#upload-list .upload[data-state=ready]:has(.upload-name:text-is('gift-wrapping.md'))",
        timeout=INDEX_TIMEOUT_MS,
    )
    doc_id = row.get_attribute("data-document-id")
    page.wait_for_selector(
        f"tr.doc-row[data-document-id='{doc_id}'][data-status=ready]", timeout=10_000
    )
    page.wait_for_selector(
        "#upload-list .upload[data-state=ready]:has(.upload-name:text-is('Opening hours'))",
        timeout=INDEX_TIMEOUT_MS,
    )
    page.fill("#search-query", "Can you wrap my order as a present?")
    page.click("#search-submit")
    first = page.wait_for_selector("#search-results .result", timeout=SEARCH_TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "knowledge-admin.png"), full_page=True)

    # then
    assert first.get_attribute("data-document-id") == doc_id
    assert "kraft paper" in first.inner_text()
    assert first.query_selector(".found-by .retriever") is not None
    assert page.inner_text("[data-testid=stat-ready] .stat-value") == "2"
    assert page.inner_text("[data-testid=stat-failed] .stat-value") == "0"


@pytest.fixture
def bulk_kb(stack) -> int:
    """A knowledge base for the bulk import (made before the browser, like ``admin``)."""
    return knowledge_base_create(name=f"Bulk {uuid.uuid4().hex[:6]}", is_default=False).pk


def test_admin_bulk_imports_json_lines_and_watches_the_job_until_done(
    stack, admin, bulk_kb, browser, tmp_path
):
    # given: a knowledge base, and a JSON lines file with a broken third line
    lines = [
        json.dumps({"title": f"Topic {n}", "text": f"# Topic {n}\n\nAnswer number {n}."})
        for n in range(1, 6)
    ]
    lines[2] = '{"title": "Broken", "text": '
    upload = tmp_path / "topics.jsonl"
    upload.write_text("\n".join(lines))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{stack.base_url}/accounts/login/?next=/dashboard/knowledge/{bulk_kb}/")
    page.fill("#id_username", admin)
    page.fill("#id_password", "kb-admin-pass-1")
    page.click("#login-submit")
    page.wait_for_selector("#knowledge-base")

    # when: the file is imported, and once done the whole base is indexed again
    page.set_input_files("#import-input", str(upload))
    imported = page.wait_for_selector(
        "#import-jobs .import-job[data-status=done]", timeout=INDEX_TIMEOUT_MS
    )
    counts = imported.query_selector(".import-counts").inner_text()
    errors = imported.query_selector(".import-errors").text_content() or ""
    page.wait_for_selector("[data-testid=stat-ready] .stat-value:text-is('4')", timeout=10_000)
    page.click("#reindex-submit")
    page.wait_for_selector(
        "#import-jobs .import-job[data-status=done]:has(.upload-name:text-is('Re-index #"
        f"{int(imported.get_attribute('data-job-id') or 0) + 1}'))",
        timeout=INDEX_TIMEOUT_MS,
    )
    page.screenshot(path=str(SHOTS / "knowledge-bulk-import.png"), full_page=True)

    # then
    assert counts.startswith("5 of 5 documents: 4 ready, 1 refused")
    assert "line 3: invalid_json" in errors
    assert page.inner_text("[data-testid=stat-documents] .stat-value") == "4"
    assert page.locator("tr.doc-row[data-status=ready]").count() == 4
