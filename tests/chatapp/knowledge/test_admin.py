"""The Django admin's import jobs: read-only pages listing each job and its items."""

from __future__ import annotations

import pytest

from chatapp.accounts.models import User
from chatapp.knowledge.jobs import ImportSource, import_job_submit
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


def test_import_jobs_are_listed_and_shown_with_their_items_but_never_added(client, indexed_later):
    # given
    admin = User.objects.create_superuser(username="boss", password="x", role=User.Role.ADMIN)
    kb = KnowledgeBaseFactory.create(name="Help")
    job = import_job_submit(
        knowledge_base=kb,
        sources=[
            ImportSource(name="line 1", title="Refunds", text="Five days."),
            ImportSource(name="line 2", error="invalid_line: text: Field required"),
        ],
        source="jsonl",
    )
    client.force_login(admin)

    # when
    listing = client.get("/admin/knowledge/importjob/")
    detail = client.get(f"/admin/knowledge/importjob/{job.pk}/change/")
    add = client.get("/admin/knowledge/importjob/add/")

    # then
    assert listing.status_code == 200
    assert f"import #{job.pk} (queued)" in listing.content.decode()
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "invalid_line: text: Field required" in html
    assert "line 1" in html
    assert add.status_code == 403
