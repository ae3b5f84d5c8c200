"""System checks: the public development secret key must never go live; every rate limit parses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from chatapp.core.ratelimit import Rate

DEV_KEY_ERROR = "SECRET_KEY is the public development key from the source."
DEV_KEY_HINT = (
    "Set DJANGO_SECRET_KEY to a long random value, e.g. the output of "
    '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
)


@register(Tags.security, deploy=True)
def check_secret_key_not_dev(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Error in ``check --deploy`` when the development key is used with DEBUG off or in production.

    Django's own key check (security.W009) passes it: it is long and not ``django-insecure-``.
    """
    if settings.SECRET_KEY != settings.CHATAPP_DEV_SECRET_KEY:
        return []
    if settings.DEBUG and not settings.CHATAPP_PRODUCTION:
        return []
    return [Error(DEV_KEY_ERROR, hint=DEV_KEY_HINT, id="chatapp.E001")]


@register()
def rate_limits_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, value in settings.CHATAPP_RATE_LIMITS.items():
        try:
            Rate.parse(value)
        except ValueError as exc:
            errors.append(Error(f"CHATAPP_RATE_LIMITS[{name!r}]: {exc}", id="chatapp.E101"))
    return errors
