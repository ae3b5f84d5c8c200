"""System checks of core settings: every rate limit must parse (a typo fails at boot)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from chatapp.core.ratelimit import Rate


@register()
def rate_limits_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, value in settings.CHATAPP_RATE_LIMITS.items():
        try:
            Rate.parse(value)
        except ValueError as exc:
            errors.append(Error(f"CHATAPP_RATE_LIMITS[{name!r}]: {exc}", id="chatapp.E101"))
    return errors
