"""App config."""

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "chatapp.observability"
    label = "observability"
    default_auto_field = "django.db.models.BigAutoField"
