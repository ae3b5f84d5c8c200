"""App config."""

from django.apps import AppConfig


class WidgetConfig(AppConfig):
    name = "chatapp.widget"
    label = "widget"
    default_auto_field = "django.db.models.BigAutoField"
