"""The pipeline's models in this process, loaded lazily once (registry caches per spec)."""

from __future__ import annotations

from django.conf import settings

from workers.inference.base import Generator
from workers.inference.registry import get_generator


def answer_generator() -> Generator:
    return get_generator(
        settings.CHATAPP_LLM_MODEL,
        device=settings.CHATAPP_DEVICE or None,
        engine=settings.CHATAPP_LLM_ENGINE,
    )


def review_generator() -> Generator:
    return get_generator(
        settings.CHATAPP_REVIEW_MODEL,
        device=settings.CHATAPP_DEVICE or None,
        engine=settings.CHATAPP_LLM_ENGINE,
    )
