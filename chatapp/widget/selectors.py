"""Reads of the widget setting."""

from __future__ import annotations

from django.db.models import QuerySet

from chatapp.widget.models import WidgetOrigin
from chatapp.widget.validators import origin_matches


def widget_origin_list() -> QuerySet[WidgetOrigin]:
    """Every allowed origin, alphabetically."""
    return WidgetOrigin.objects.order_by("origin")


def widget_origin_patterns() -> list[str]:
    """The allowed origins as strings (one query): CSP frame-ancestors and the loader's check."""
    return list(WidgetOrigin.objects.order_by("origin").values_list("origin", flat=True))


def widget_origin_allowed(origin: str | None) -> bool:
    """Whether a host page at ``origin`` may mount the widget (None: the browser sent none)."""
    return origin is not None and origin_matches(origin, widget_origin_patterns())
