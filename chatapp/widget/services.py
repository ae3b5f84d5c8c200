"""Writes of the widget setting: the origins allowed to embed the chat."""

from __future__ import annotations

from django.db import transaction

from chatapp.core.errors import Conflict, NotFound
from chatapp.widget.models import WidgetOrigin
from chatapp.widget.validators import origin_normalize

ERR_DUPLICATE = "This origin is already allowed."
ERR_NOT_FOUND = "No such allowed origin."


@transaction.atomic
def widget_origin_create(origin: str, *, note: str = "") -> WidgetOrigin:
    """Allow a site to embed the widget.

    Args:
        origin: ``scheme://host[:port]``, normalised first (``https://*.example.com`` allowed).
        note: Free text for admins (which site this is).

    Returns:
        The stored origin.

    Raises:
        django.core.exceptions.ValidationError: not an http(s) origin.
        Conflict: ``duplicate`` when it is already allowed.
    """
    normalised = origin_normalize(origin)
    if WidgetOrigin.objects.filter(origin=normalised).exists():
        raise Conflict("duplicate", ERR_DUPLICATE)
    item = WidgetOrigin(origin=normalised, note=note.strip())
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def widget_origin_ensure(origin: str, *, note: str = "") -> WidgetOrigin:
    """Allow ``origin`` unless it already is (the demo host page of ``make run``)."""
    normalised = origin_normalize(origin)
    existing = WidgetOrigin.objects.filter(origin=normalised).first()
    return existing or widget_origin_create(normalised, note=note)


@transaction.atomic
def widget_origin_delete(origin_id: int) -> None:
    """Stop allowing an origin: its pages no longer mount or frame the widget.

    Raises:
        NotFound: no such id.
    """
    deleted, _ = WidgetOrigin.objects.filter(pk=origin_id).delete()
    if not deleted:
        raise NotFound(ERR_NOT_FOUND)
