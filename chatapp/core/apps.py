"""App config."""

from django.apps import AppConfig
from typing_extensions import override


class CoreConfig(AppConfig):
    name = "chatapp.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    @override
    def ready(self) -> None:
        from chatapp.core import checks  # noqa: F401  (registers the system checks)
