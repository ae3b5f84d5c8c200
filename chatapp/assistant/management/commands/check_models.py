"""``manage.py check_models``: fail fast and clearly when a model is missing or corrupt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from typing_extensions import override

from workers.inference.base import ModelError
from workers.inference.prepare import verify
from workers.inference.registry import resolve_embedder_spec


class Command(BaseCommand):
    help = "Verify the configured model folders against their sha256 manifests."

    @override
    def handle(self, *args: Any, **options: Any) -> None:
        try:
            embedder = resolve_embedder_spec(settings.CHATAPP_EMBEDDING_MODEL)
            if not embedder.exists():
                raise ModelError(f"embedding model folder {embedder} does not exist")
            for spec in {settings.CHATAPP_LLM_MODEL, settings.CHATAPP_REVIEW_MODEL}:
                if spec.startswith("openai:"):
                    continue  # a server; /healthz and the first turn tell if it is reachable
                verify(Path(spec))
        except ModelError as exc:
            raise CommandError(f"{exc}\nRun `make models` (or fix CHATAPP_*_MODEL).") from exc
        self.stdout.write("models ok")
