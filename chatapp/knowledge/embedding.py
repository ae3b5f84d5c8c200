"""The process-wide embedder, loaded lazily once (in a worker, or in the web process for search)."""

from __future__ import annotations

from django.conf import settings

from workers.inference.base import Embedder
from workers.inference.registry import get_embedder


def embedder() -> Embedder:
    """Return the configured embedder (cached per process by the registry)."""
    return get_embedder(settings.CHATAPP_EMBEDDING_MODEL, device=settings.CHATAPP_DEVICE or None)
