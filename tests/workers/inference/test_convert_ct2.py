"""Tests for workers.inference.convert_ct2 (the real conversion runs in the slow SmolLM2 tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.inference.convert_ct2 import (
    CT2_FORMAT,
    TOKENIZER_DIR,
    _source_stamp,
    ct2_folder_for,
    ensure_ct2,
    is_converted,
)
from workers.inference.prepare import MANIFEST_NAME, verify, write_manifest


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "llm"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"w" * 100)
    write_manifest(folder, {"name": "llm"})
    return folder


def _fake_conversion(source: Path) -> Path:
    """A CTranslate2 folder laid out (and stamped) as ``ensure_ct2`` leaves it."""
    target = ct2_folder_for(source)
    (target / TOKENIZER_DIR).mkdir(parents=True)
    (target / "model.bin").write_bytes(b"q" * 50)
    extra = {"ct2_format": CT2_FORMAT, "source_manifest_sha256": _source_stamp(source)}
    write_manifest(target, extra)
    return target


def test_ct2_folder_sits_beside_its_source() -> None:
    # given / when / then
    assert ct2_folder_for(Path("var/models/qwen")) == Path("var/models/qwen-ct2-int8")
    assert ct2_folder_for(Path("m/x"), "int8_float16") == Path("m/x-ct2-int8_float16")


def test_is_converted_needs_a_manifest_matching_the_current_source(source: Path) -> None:
    # given
    target = _fake_conversion(source)

    # when
    before = is_converted(source, target)
    write_manifest(source, {"name": "llm", "changed": True})  # the source was re-prepared
    after = is_converted(source, target)

    # then
    assert before is True
    assert after is False
    assert is_converted(source, source.parent / "missing") is False


def test_is_converted_detects_a_truncated_file(source: Path) -> None:
    # given
    target = _fake_conversion(source)

    # when
    (target / "model.bin").write_bytes(b"q")

    # then
    assert is_converted(source, target) is False


def test_ensure_ct2_skips_a_finished_conversion(source: Path) -> None:
    # given
    target = _fake_conversion(source)
    before = (target / "model.bin").stat().st_mtime_ns
    steps: list[tuple[str, float]] = []

    # when
    result = ensure_ct2(source, progress=lambda step, fraction: steps.append((step, fraction)))

    # then
    assert result == target
    assert (target / "model.bin").stat().st_mtime_ns == before
    assert steps == [(f"llm-ct2-int8: up to date ({MANIFEST_NAME} matches), skipped", 1.0)]


@pytest.mark.slow
def test_real_smollm2_conversion_is_stamped_and_verifies(real_models: dict[str, Path]) -> None:
    # given
    target = real_models["generator_ct2"]

    # when
    verify(target)
    manifest = json.loads((target / MANIFEST_NAME).read_text())

    # then
    assert target == ct2_folder_for(real_models["generator"])
    assert is_converted(real_models["generator"], target)
    assert (manifest["quantization"], manifest["ctranslate2"]) == ("int8", "4.8.5")
    assert {"model.bin", "tokenizer/tokenizer.json", "tokenizer/generation_config.json"} <= set(
        manifest["files"]
    )
