"""App config."""

from django.apps import AppConfig
from typing_extensions import override


class KnowledgeConfig(AppConfig):
    name = "chatapp.knowledge"
    label = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    @override
    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from chatapp.knowledge.selectors.hnsw import hnsw_session_configure

        connection_created.connect(hnsw_session_configure, dispatch_uid="knowledge.hnsw_session")
