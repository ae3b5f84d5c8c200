"""``manage.py check_models``: fail fast and clearly when a model is missing or corrupt.

Also reports how each local LLM will run: engine, dtype, the CPU facts behind the choice and the
figures measured by the engine check (``python -m workers.inference.engines``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from typing_extensions import override

from chatapp.knowledge.embedding import embedder as load_embedder
from workers.inference import hardware
from workers.inference.base import ModelError, pick_device
from workers.inference.engines import EngineSpec, resolve_engine, stored_choice
from workers.inference.prepare import verify
from workers.inference.registry import resolve_embedder_spec


def _dtype(spec: EngineSpec, device: str) -> str:
    """The dtype the engine will compute in, with the reason when it is decided at load."""
    if spec.backend == "ct2":
        from workers.inference.generator_ct2 import choose_compute_type

        return spec.dtype or choose_compute_type(device)
    if spec.dtype is not None:
        return spec.dtype
    from workers.inference.generator_local import explain_dtype

    config = json.loads((spec.folder / "config.json").read_text())
    dtype, reason = explain_dtype(device, config)
    return f"{dtype} ({reason})"


class Command(BaseCommand):
    help = "Verify the configured model folders against their sha256 manifests; report engines."

    @override
    def handle(self, *args: Any, **options: Any) -> None:
        device = settings.CHATAPP_DEVICE or pick_device()
        lines: list[str] = []
        try:
            embedder = resolve_embedder_spec(settings.CHATAPP_EMBEDDING_MODEL)
            if not embedder.exists():
                raise ModelError(f"embedding model folder {embedder} does not exist")
            for model in sorted({settings.CHATAPP_LLM_MODEL, settings.CHATAPP_REVIEW_MODEL}):
                if model.startswith("openai:"):
                    continue  # a server; /healthz and the first turn tell if it is reachable
                folder = Path(model)
                verify(folder)
                engine, why = resolve_engine(folder, device, settings.CHATAPP_LLM_ENGINE)
                if engine.folder != folder:
                    verify(engine.folder)
                lines += self._report(folder, device, engine, why)
            # Loaded last (the folders above fail faster): loading is the check that it works,
            # and it picks the embedder's engine.
            loaded = load_embedder()
            lines[:0] = [
                f"embedder {loaded.name} on {device}: engine {loaded.engine}",
                f"  why: {loaded.engine_reason}",
            ]
        except ModelError as exc:
            raise CommandError(f"{exc}\nRun `make models` (or fix CHATAPP_*_MODEL).") from exc
        for line in lines:
            self.stdout.write(line)
        self.stdout.write("models ok")

    def _report(self, folder: Path, device: str, engine: EngineSpec, why: str) -> list[str]:
        lines = [
            f"llm {folder.name} on {device}: engine {engine.name}, dtype {_dtype(engine, device)}",
            f"  why: {why}",
            f"  cpu: {hardware.cpu_info().describe()}",
        ]
        choice = stored_choice(folder, device)
        if choice is None:
            lines.append("  measured: not yet on this machine (`make run` measures it)")
        lines.extend(
            f"  measured {entry.engine}: load {entry.load_s:.1f} s, prefill "
            f"{entry.prefill_tok_s:.0f} tok/s, decode {entry.decode_tok_s:.1f} tok/s, "
            f"typical turn ~{entry.turn_s():.1f} s"
            for entry in (choice.measured if choice is not None else [])
        )
        return lines
