"""App config."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chatapp.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
