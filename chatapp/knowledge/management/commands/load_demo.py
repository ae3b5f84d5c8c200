"""``manage.py load_demo``: demo users and the Lumen & Oak help centre (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from typing_extensions import override

from chatapp.accounts.models import User
from chatapp.accounts.services import user_ensure
from chatapp.knowledge.demo import demo_pages
from chatapp.knowledge.models import KnowledgeBase
from chatapp.knowledge.services import document_create, knowledge_base_create

DEMO_KB = "Lumen & Oak Help Centre"


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
            name=DEMO_KB,
            description="Help centre of the fictional Lumen & Oak shop.",
            visibility=KnowledgeBase.Visibility.PUBLIC,  # the visitor chat answers from it
        )
        queued = 0
        pages = demo_pages()
        for page in pages:
            _, created = document_create(
                knowledge_base=kb, title=page.title, text=page.text, source_url=page.source_url
            )
            queued += created
        self.stdout.write(
            f"demo: {len(pages)} pages in {DEMO_KB!r}, {queued} queued for indexing, "
            f"{len(pages) - queued} unchanged"
        )
