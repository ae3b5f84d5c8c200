"""App config."""

from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "chatapp.knowledge"
    label = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"
