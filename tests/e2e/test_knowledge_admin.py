"""Browser flow in headless Chromium: an admin builds a knowledge base and tries a question."""

from __future__ import annotations

import uuid

import pytest

from chatapp.accounts.models import User
from chatapp.accounts.services import user_ensure
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
