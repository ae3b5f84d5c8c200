"""``manage.py load_demo``: demo users and the Lumen & Oak help centre (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from typing_extensions import override

from chatapp.accounts.models import User
from chatapp.accounts.services import user_ensure
from chatapp.knowledge.models import KnowledgeBase
from chatapp.knowledge.services import document_create, knowledge_base_create

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo" / "pages"
DEMO_KB = "Lumen & Oak Help Centre"


def _front_matter(text: str) -> dict[str, str]:
    if not text.startswith("---\n"):
        return {}
    head, _, _ = text[4:].partition("\n---")
    meta = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


class Command(BaseCommand):
    help = "Create the demo users and queue the demo knowledge base for indexing."

    @override
    def handle(self, *args: Any, **options: Any) -> None:
        user_ensure(
            username="agent", role=User.Role.AGENT, password=settings.CHATAPP_DEMO_AGENT_PASSWORD
        )
        user_ensure(
            username="admin", role=User.Role.ADMIN, password=settings.CHATAPP_DEMO_ADMIN_PASSWORD
        )
        kb = KnowledgeBase.objects.filter(name=DEMO_KB).first() or knowledge_base_create(
            name=DEMO_KB, description="Help centre of the fictional Lumen & Oak shop."
        )
        queued = 0
        pages = sorted(DEMO_DIR.glob("*.md"))
        for page in pages:
            text = page.read_text()
            meta = _front_matter(text)
            _, created = document_create(
                knowledge_base=kb,
                title=meta.get("title") or page.stem,
                text=text,
                source_url=meta.get("source_url", ""),
            )
            queued += created
        self.stdout.write(
            f"demo: {len(pages)} pages in {DEMO_KB!r}, {queued} queued for indexing, "
            f"{len(pages) - queued} unchanged"
        )
