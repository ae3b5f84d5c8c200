"""The page origins allowed to embed the chat widget (an admin setting)."""

from __future__ import annotations

from django.db import models
from typing_extensions import override

from chatapp.core.models import TimeStampedModel

ORIGIN_MAX_CHARS = 200


class WidgetOrigin(TimeStampedModel):
    """One site that may mount ``/widget.js`` and frame ``/widget/frame/``.

    ``origin`` is normalised by ``validators.origin_normalize``: ``scheme://host[:port]``, lower
    case, no default port; ``https://*.example.com`` allows every subdomain.
    """

    origin = models.CharField(max_length=ORIGIN_MAX_CHARS, unique=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["origin"]

    @override
    def __str__(self) -> str:
        return self.origin
