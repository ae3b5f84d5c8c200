"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def brand(request: HttpRequest) -> dict[str, str]:
    """The site name shown in headers (also on Django's own login view)."""
    return {"brand_name": settings.CHATAPP_SITE_NAME}
