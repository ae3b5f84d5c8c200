"""Tests for workers.inference.engines: choice logic on fake timings, storage, resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workers.inference import engine_check, hardware
from workers.inference.base import ModelError
from workers.inference.engines import (
    CHOICE_FILE,
    EngineMeasurement,
    EngineSpec,
    candidates,
    pick_fastest,
    resolve_engine,
    stored_choice,
)
from workers.inference.hardware import CpuInfo

AVX2 = CpuInfo("Test EPYC", "AVX2", ("avx2", "fma"), False, 2)
AMX = CpuInfo("Test Xeon", "AVX512", ("avx2", "avx512_bf16", "amx_bf16"), True, 2)


def _measured(engine: str, prefill_tok_s: float, decode_tok_s: float) -> EngineMeasurement:
    return EngineMeasurement(engine, 1.0, 200, 200 / prefill_tok_s, 15, 15 / decode_tok_s)


@pytest.fixture
def cpu(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Sets the CPU the engine module sees (AVX2 only unless a test switches it)."""

    def use(info: CpuInfo) -> None:
        monkeypatch.setattr(hardware, "cpu_info", lambda: info)

    use(AVX2)
    return use


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A model folder with a CTranslate2 folder beside it (files are stand-ins)."""
    folder = tmp_path / "models" / "qwen"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    ct2 = tmp_path / "models" / "qwen-ct2-int8"
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"q")
    return folder


def test_turn_estimate_adds_prefill_and_decode() -> None:
    # given: 100 prompt tokens/s and 4 tokens/s decoding
    entry = _measured("torch-fp32", 100.0, 4.0)

    # when / then
    assert entry.turn_s() == pytest.approx(600 / 100 + 80 / 4)
    assert entry.turn_s(prompt_tokens=200, new_tokens=8) == pytest.approx(4.0)


def test_pick_fastest_weighs_prefill_against_decode() -> None:
    # given: the AVX2 figures of MODELS.md, roughly
    measured = [
        _measured("torch-fp32", 25.0, 1.4),  # 24 + 57 = 81 s
        _measured("torch-bf16", 4.7, 2.3),  # 128 + 35 = 163 s
        _measured("ct2-int8", 60.0, 2.9),  # 10 + 28 = 38 s
    ]

    # when
    engine, reason = pick_fastest(measured)

    # then
    assert engine == "ct2-int8"
    assert reason.startswith(
        "fastest estimated turn (600-token prompt + 80 tokens): ct2-int8 37.6 s"
    )
    assert reason.index("torch-fp32") < reason.index("torch-bf16")


def test_a_fast_decoder_can_win_despite_a_slow_prefill() -> None:
    # given
    measured = [_measured("ct2-int8", 300.0, 2.0), _measured("torch-bf16", 100.0, 10.0)]

    # when / then: 2 + 40 s vs 6 + 8 s
    assert pick_fastest(measured)[0] == "torch-bf16"


def test_candidates_list_bf16_only_where_native(cpu: Any, model: Path) -> None:
    # given / when
    avx2 = [spec.name for spec in candidates(model, "cpu")]
    forced = [spec.name for spec in candidates(model, "cpu", force_bf16=True)]
    cpu(AMX)
    amx = [spec.name for spec in candidates(model, "cpu")]
    cuda = [spec.name for spec in candidates(model, "cuda")]

    # then
    assert avx2 == ["torch-fp32", "ct2-int8"]
    assert forced == amx == ["torch-fp32", "torch-bf16", "ct2-int8"]
    assert cuda == ["torch-bf16", "ct2-int8"]


def test_candidates_skip_engines_whose_files_are_missing(cpu: Any, model: Path) -> None:
    # given
    (model.parent / "qwen-ct2-int8" / "model.bin").unlink()

    # when / then
    assert [spec.name for spec in candidates(model, "cpu")] == ["torch-fp32"]


def test_measure_and_choose_stores_the_choice_keyed_by_machine(
    cpu: Any, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    rates = {"torch-fp32": (25.0, 1.4), "ct2-int8": (60.0, 2.9)}
    monkeypatch.setattr(
        engine_check, "measure_engine", lambda spec, device: _measured(spec.name, *rates[spec.name])
    )
    lines: list[str] = []

    # when
    choice = engine_check.measure_and_choose(model, "cpu", progress=lines.append)

    # then
    stored = json.loads((model.parent / CHOICE_FILE).read_text())
    assert list(stored) == [f"qwen@cpu:{AVX2.signature()}"]
    assert stored[f"qwen@cpu:{AVX2.signature()}"]["engine"] == "ct2-int8"
    assert stored[f"qwen@cpu:{AVX2.signature()}"]["machine"]["flags"] == ["avx2", "fma"]
    assert choice.engine == "ct2-int8"
    assert [entry.engine for entry in choice.measured] == ["torch-fp32", "ct2-int8"]
    assert len(lines) == 4
    assert stored_choice(model, "cpu") == choice


def test_a_choice_stored_on_another_machine_kind_is_not_used(
    cpu: Any, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: measured on an AMX machine, where torch bf16 won
    cpu(AMX)
    monkeypatch.setattr(
        engine_check,
        "measure_engine",
        lambda spec, device: _measured(spec.name, 200.0 if "bf16" in spec.name else 50.0, 8.0),
    )
    engine_check.measure_and_choose(model, "cpu")

    # when: the same var/models on an AVX2-only machine
    cpu(AVX2)
    spec, why = resolve_engine(model, "cpu")

    # then
    assert stored_choice(model, "cpu") is None
    assert spec.name == "ct2-int8"
    assert why == "not measured here yet; CTranslate2 on CPU"


def test_resolve_auto_uses_the_stored_choice(
    cpu: Any, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setattr(
        engine_check,
        "measure_engine",
        lambda spec, device: _measured(spec.name, 100.0 if "torch" in spec.name else 10.0, 5.0),
    )
    engine_check.measure_and_choose(model, "cpu")

    # when
    spec, why = resolve_engine(model, "cpu", "auto")

    # then
    assert spec == EngineSpec("torch-fp32", "torch", model, "float32")
    assert why.startswith("measured ")


def test_resolve_explicit_settings(cpu: Any, model: Path) -> None:
    # given / when
    torch_spec, torch_why = resolve_engine(model, "cpu", "torch")
    ct2_spec, _ = resolve_engine(model, "cpu", "ct2")

    # then
    assert torch_spec == EngineSpec("torch", "torch", model, None)
    assert torch_why == "CHATAPP_LLM_ENGINE=torch"
    assert ct2_spec == EngineSpec("ct2-int8", "ct2", model.parent / "qwen-ct2-int8", None)


def test_resolve_auto_without_measurement_follows_the_cheap_rule(cpu: Any, model: Path) -> None:
    # given / when
    on_cpu = resolve_engine(model, "cpu")[0].name
    on_cuda = resolve_engine(model, "cuda")[0].name
    (model.parent / "qwen-ct2-int8" / "model.bin").unlink()
    without_ct2 = resolve_engine(model, "cpu")[0].name

    # then
    assert (on_cpu, on_cuda, without_ct2) == ("ct2-int8", "torch", "torch")


def test_resolve_refuses_unknown_settings_and_missing_ct2(cpu: Any, model: Path) -> None:
    # given
    (model.parent / "qwen-ct2-int8" / "model.bin").unlink()

    # when / then
    with pytest.raises(
        ModelError, match="CHATAPP_LLM_ENGINE='vllm' is not one of auto, torch, ct2"
    ):
        resolve_engine(model, "cpu", "vllm")
    with pytest.raises(ModelError, match=r"its CTranslate2 folder .*qwen-ct2-int8 is missing"):
        resolve_engine(model, "cpu", "ct2")


def test_cli_reports_a_stored_choice_without_measuring(
    cpu: Any, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    monkeypatch.setattr(
        engine_check, "measure_engine", lambda spec, device: _measured(spec.name, 50, 5)
    )
    engine_check.measure_and_choose(model, "cpu")
    monkeypatch.setattr(
        engine_check, "measure_engine", lambda spec, device: pytest.fail("measured")
    )

    # when
    status = engine_check.main(["--model", str(model), "--device", "cpu"])

    # then
    err = capsys.readouterr().err
    assert status == 0
    assert "stored choice for this machine kind" in err
    assert "[engines] engine torch-fp32 chosen for qwen because fastest estimated turn" in err


@pytest.mark.slow
def test_measure_engine_times_a_real_small_model(real_models: dict[str, Path]) -> None:
    # given
    spec = EngineSpec("ct2-int8", "ct2", real_models["generator_ct2"])

    # when
    entry = engine_check.measure_engine(spec, "cpu", prompt_tokens=60, new_tokens=4)

    # then
    assert entry.engine == "ct2-int8"
    assert entry.prompt_tokens >= 60
    assert entry.decode_tokens == 3
    assert entry.turn_s() > 0
