"""``manage.py load_demo``: demo users and the Lumen & Oak help centre (idempotent).

The demo users are created only when missing (a changed password stays changed) and never under
the production settings, where an operator creates staff with ``createsuperuser``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from typing_extensions import override

from chatapp.accounts.models import User
from chatapp.accounts.services import user_create_if_missing
from chatapp.knowledge.demo import demo_pages
from chatapp.knowledge.models import KnowledgeBase
from chatapp.knowledge.services import document_create, knowledge_base_create

DEMO_KB = "Lumen & Oak Help Centre"
NO_DEMO_USERS_IN_PRODUCTION = "demo users: none under the production settings"


class Command(BaseCommand):
    help = "Create the demo users and queue the demo knowledge base for indexing."

    @override
    def handle(self, *args: Any, **options: Any) -> None:
        self._demo_users()
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

    def _demo_users(self) -> None:
        if settings.CHATAPP_PRODUCTION:
            self.stdout.write(NO_DEMO_USERS_IN_PRODUCTION)
            return
        demo = [
            ("agent", User.Role.AGENT, settings.CHATAPP_DEMO_AGENT_PASSWORD),
            ("admin", User.Role.ADMIN, settings.CHATAPP_DEMO_ADMIN_PASSWORD),
        ]
        for username, role, password in demo:
            _, created = user_create_if_missing(username=username, role=role, password=password)
            self.stdout.write(f"demo user {username}: {'created' if created else 'kept as it is'}")
