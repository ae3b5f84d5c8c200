"""The process-wide embedder, loaded lazily once (in a worker, or in the web process for search)."""

from __future__ import annotations

from django.conf import settings

from workers.inference.base import Embedder, pick_device
from workers.inference.registry import get_embedder


def embedder() -> Embedder:
    """Return the configured embedder (cached per process by the registry)."""
    return get_embedder(settings.CHATAPP_EMBEDDING_MODEL, device=settings.CHATAPP_DEVICE or None)


# Batches of 64 embed 6x faster than one at a time on 2 CPU cores and 128 gains nothing more
# (bench/results/indexing.md); a GPU keeps gaining well past that.
CPU_BATCH_SIZE = 64
GPU_BATCH_SIZE = 256


def embed_batch_size() -> int:
    """Passages per embedding batch: the setting, else a size suited to the device."""
    if settings.CHATAPP_EMBED_BATCH_SIZE > 0:
        return int(settings.CHATAPP_EMBED_BATCH_SIZE)
    device = settings.CHATAPP_DEVICE or pick_device()
    return GPU_BATCH_SIZE if device.startswith("cuda") else CPU_BATCH_SIZE
