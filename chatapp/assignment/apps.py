"""App config."""

from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "chatapp.assignment"
    label = "assignment"
    default_auto_field = "django.db.models.BigAutoField"
