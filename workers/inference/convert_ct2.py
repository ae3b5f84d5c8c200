"""Converts a prepared transformers folder into a CTranslate2 folder, once, with a manifest.

The CTranslate2 folder sits beside its source (``<name>-ct2-int8``) and carries the source's
tokenizer and generation config, so ``CT2Generator`` needs nothing else. On the target CPUs
(AVX2, no native bf16) CTranslate2 int8 reached the first token of an 850-token prompt in
12-16 s, vs 34 s for torch fp32 and 180 s for torch bf16 (see MODELS.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workers.inference.base import ModelError
from workers.inference.prepare import (
    MANIFEST_NAME,
    ProgressFn,
    sha256_file,
    write_manifest,
)

__all__ = ["CT2_FORMAT", "TOKENIZER_DIR", "ct2_folder_for", "ensure_ct2", "is_converted"]

CT2_FORMAT = 1  # bump when the conversion changes, so old folders are rebuilt
CT2_REQUIREMENT = "ctranslate2==4.8.5"
# Copied from the transformers folder into TOKENIZER_DIR: the tokenizer with its chat template,
# and the generation config (its eos_token_id list). A subfolder, because CTranslate2 writes its
# own config.json, which transformers would read as a pre-5.0 model's config and warn that the
# tokenizer may need its "mistral regex" fix.
TOKENIZER_DIR = "tokenizer"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
)
# Qwen2.5-1.5B converted in 49 s on 2 cores; the progress bar extrapolates by size from that.
SECONDS_PER_SOURCE_GB = 49 / 3.1
HEARTBEAT_S = 1.0

ERR_NO_CT2 = "ctranslate2 is not installed: pip install " + CT2_REQUIREMENT
ERR_CONVERT = "cannot convert {folder} to CTranslate2: {error}"


def ct2_folder_for(folder: Path, quantization: str = "int8") -> Path:
    """The CTranslate2 folder that goes with a transformers model folder.

    Args:
        folder: The transformers folder (e.g. ``var/models/qwen2.5-coder-1.5b-instruct``).
        quantization: The weight type it was converted to.

    Returns:
        ``<folder>-ct2-<quantization>`` beside it (it may not exist).
    """
    folder = Path(folder)
    return folder.with_name(f"{folder.name}-ct2-{quantization}")


def _source_stamp(folder: Path) -> str:
    """What identifies the source's content, cheaply (no hashing of weights).

    The sha256 of its manifest where it has one (a folder we prepared); else, for a folder a
    package carries (the embedder), the sha256 of its file names and sizes, which changes
    when a new package version replaces them.
    """
    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        return sha256_file(manifest)
    listing = sorted(
        (str(path.relative_to(folder)), path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file()
    )
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def is_converted(source: Path, target: Path) -> bool:
    """Cheap check (no hashing of weights) that ``target`` is a finished conversion of ``source``.

    Args:
        source: The transformers folder.
        target: The CTranslate2 folder.

    Returns:
        True when the target's manifest matches this conversion format and the source's current
        manifest, and every listed file is present with its recorded size.
    """
    try:
        manifest: dict[str, Any] = json.loads((target / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("ct2_format") != CT2_FORMAT:
        return False
    if manifest.get("source_manifest_sha256") != _source_stamp(source):
        return False
    files = manifest.get("files")
    return isinstance(files, dict) and all(
        (target / name).is_file() and (target / name).stat().st_size == entry.get("size")
        for name, entry in files.items()
    )


@contextmanager
def _heartbeat(step: str, expected_s: float, progress: ProgressFn) -> Iterator[None]:
    """Reports an estimated fraction every second while a step that has no progress runs."""
    stop = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            # Never shows 100% before the step is done: the estimate may be short.
            progress(step, min(0.95, (time.monotonic() - started) / expected_s))

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _convert(source: Path, staging: Path, quantization: str) -> None:
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as error:
        raise ModelError(ERR_NO_CT2) from error
    try:
        # low_cpu_mem_usage: Qwen's bf16 weights are loaded once, not twice (~3 GB less peak).
        converter = TransformersConverter(str(source), low_cpu_mem_usage=True)
        converter.convert(str(staging), quantization=quantization, force=True)
    # The converter raises whatever its model loader raises; for the operator it is one
    # problem: these files cannot be converted.
    except Exception as error:
        raise ModelError(ERR_CONVERT.format(folder=source, error=error)) from error
    (staging / TOKENIZER_DIR).mkdir()
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / TOKENIZER_DIR / name)


def ensure_ct2(
    source: Path,
    *,
    quantization: str = "int8",
    progress: ProgressFn,
    target: Path | None = None,
) -> Path:
    """Converts a transformers folder to CTranslate2 unless already done.

    Args:
        source: A folder written by ``workers.inference.prepare`` (with its manifest), or a
            model folder a package carries (the embedder's).
        quantization: CTranslate2 weight type; ``"int8"`` runs on every CPU and GPU.
        progress: Receives ``(step description, fraction done)``.
        target: Where the conversion goes; ``ct2_folder_for(source, quantization)`` when None
            (a package's folder is not ours to write beside).

    Returns:
        The CTranslate2 folder.

    Raises:
        ModelError: ctranslate2 is missing or the conversion failed.
    """
    try:
        import ctranslate2
    except ImportError as error:
        raise ModelError(ERR_NO_CT2) from error

    target = target if target is not None else ct2_folder_for(source, quantization)
    if is_converted(source, target):
        progress(f"{target.name}: up to date ({MANIFEST_NAME} matches), skipped", 1.0)
        return target
    # A staging folder of this process's own: of two processes converting at once (web and
    # worker starting together), the first to finish puts its copy in place; the other drops its.
    work = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    staging = work / "model"
    size_gb = sum(path.stat().st_size for path in source.glob("*.safetensors")) / 1e9
    expected_s = max(1.0, size_gb * SECONDS_PER_SOURCE_GB)
    step = f"convert {source.name} to {target.name} (about {expected_s:.0f} s)"
    progress(step, 0.0)
    started = time.monotonic()
    try:
        with _heartbeat(step, expected_s, progress):
            _convert(source, staging, quantization)
        progress(f"{step}: done in {time.monotonic() - started:.0f} s", 1.0)
        # The manifest goes in last: a folder with one is complete.
        write_manifest(
            staging,
            {
                "name": target.name,
                "ct2_format": CT2_FORMAT,
                "quantization": quantization,
                "ctranslate2": ctranslate2.__version__,
                "source": source.name,
                "source_manifest_sha256": _source_stamp(source),
            },
            progress=progress,
        )
        if is_converted(source, target):
            return target  # another process finished first; its copy may be in use already
        shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            # Another process renamed its finished copy in between: use that one.
            if not is_converted(source, target):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
