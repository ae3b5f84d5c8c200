"""`manage.py check_models` (run by `make run` before anything starts) refuses bad model folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from workers.inference.prepare import write_manifest


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "llm"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights" * 1000)
    (folder / "config.json").write_text("{}")
    write_manifest(folder, {"name": "llm"})
    return folder


def test_a_verified_folder_passes(settings, model_folder, capsys):
    # given
    settings.CHATAPP_LLM_MODEL = settings.CHATAPP_REVIEW_MODEL = str(model_folder)
    # when
    call_command("check_models")
    # then
    assert capsys.readouterr().out.strip() == "models ok"


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
    # when
    call_command("check_models")
    # then
    assert capsys.readouterr().out.strip() == "models ok"
