"""Tests for workers.inference.embed_engines: which engine the embedder runs on, and why."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from workers.inference import embed_engines
from workers.inference.base import Embedder, ModelError
from workers.inference.embed_engines import build_embedder, ct2_embedder_folder, vectors_agree


def test_the_conversion_goes_under_the_models_dir_not_beside_the_package() -> None:
    # given / when
    folder = ct2_embedder_folder(Path("/site-packages/minilm/model"), Path("var/models"))
    named = ct2_embedder_folder(Path("/models/st"), Path("var/models"))

    # then: named after the package for a "model" subfolder, else after the folder
    assert folder == Path("var/models/minilm-ct2-float32")
    assert named == Path("var/models/st-ct2-float32")


def test_torch_when_asked(tiny_embedder_dir: Path, tmp_path: Path) -> None:
    # given / when
    embedder, why = build_embedder(
        tiny_embedder_dir, device="cpu", setting="torch", models_dir=tmp_path
    )

    # then
    assert embedder.engine == "torch"
    assert why == "CHATAPP_EMBED_ENGINE=torch"
    assert not any(tmp_path.iterdir())  # nothing converted


def test_ct2_when_asked(tiny_embedder_dir: Path, tmp_path: Path) -> None:
    # given / when
    embedder, why = build_embedder(
        tiny_embedder_dir, device="cpu", setting="ct2", models_dir=tmp_path
    )

    # then
    assert embedder.engine == "ct2-float32"
    assert (tmp_path / "st-ct2-float32" / "model.bin").is_file()
    assert why == "CHATAPP_EMBED_ENGINE=ct2"


def test_auto_keeps_the_faster_engine_and_says_by_how_much(
    tiny_embedder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the timings are scripted; the agreement check runs for real
    timings = {"ct2-float32": 4.0, "torch": 9.0}
    monkeypatch.setattr(embed_engines, "_probe_ms", lambda embedder, text: timings[embedder.engine])

    # when
    fast, why_fast = build_embedder(tiny_embedder_dir, device="cpu", models_dir=tmp_path)
    timings["ct2-float32"] = 12.0
    slow, why_slow = build_embedder(tiny_embedder_dir, device="cpu", models_dir=tmp_path)

    # then
    assert fast.engine == "ct2-float32"
    assert why_fast == (
        "4.0 ms a query on ct2 vs 9.0 ms on torch (ratio 0.44 per query), measured at load"
    )
    assert slow.engine == "torch"
    assert why_slow == (
        "12.0 ms a query on ct2 vs 9.0 ms on torch (ratio 1.33 per query), measured at load"
    )


def test_auto_times_the_engines_in_turn_so_a_burst_of_load_falls_on_both(
    tiny_embedder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: ct2 is the faster engine, but every call in the first half of the probes is 30 ms
    # slower (neighbour processes loading); timed one engine after the other, ct2 would take
    # the whole burst
    base = {"ct2-float32": 4.0, "torch": 9.0}
    calls: list[str] = []
    probes = embed_engines.PROBE_ROUNDS * len(embed_engines.PROBE_TEXTS) * 2

    def probe(embedder: Embedder, text: str) -> float:
        calls.append(embedder.engine)
        return base[embedder.engine] + (30.0 if len(calls) <= probes // 2 else 0.0)

    monkeypatch.setattr(embed_engines, "_probe_ms", probe)

    # when
    embedder, why = build_embedder(tiny_embedder_dir, device="cpu", models_dir=tmp_path)

    # then: the calls alternate, and ct2 stays
    assert len(calls) == probes
    assert all(calls[i] != calls[i + 1] for i in range(0, probes, 2))
    assert calls[:4] == ["ct2-float32", "torch", "torch", "ct2-float32"]
    assert embedder.engine == "ct2-float32"
    assert "ratio" in why


def test_auto_stays_on_torch_when_the_vectors_differ(
    tiny_embedder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setattr(embed_engines, "vectors_agree", lambda first, second, texts: 0.98)

    # when
    embedder, why = build_embedder(tiny_embedder_dir, device="cpu", models_dir=tmp_path)

    # then
    assert embedder.engine == "torch"
    assert why == "CTranslate2's vectors differ from torch's (cosine 0.98000)"


def test_auto_falls_back_to_torch_for_a_layout_ct2_cannot_run(
    tiny_embedder_dir: Path, tmp_path: Path
) -> None:
    # given: max pooling
    folder = tmp_path / "st"
    shutil.copytree(tiny_embedder_dir, folder)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": 32, "pooling_mode": "max"})
    )

    # when
    embedder, why = build_embedder(folder, device="cpu", models_dir=tmp_path / "models")

    # then
    assert embedder.engine == "torch"
    assert why.startswith("CTranslate2 cannot run it (")
    with pytest.raises(ModelError, match="pooling"):
        build_embedder(folder, device="cpu", setting="ct2", models_dir=tmp_path / "models")


def test_a_gpu_runs_torch_and_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    # given / when / then
    with pytest.raises(ModelError, match="CPU only"):
        build_embedder(tmp_path, device="cuda", setting="ct2", models_dir=tmp_path)
    with pytest.raises(ModelError, match="is not one of auto, torch, ct2"):
        build_embedder(tmp_path, device="cpu", setting="onnx", models_dir=tmp_path)


def test_vectors_agree_is_the_smallest_cosine(tiny_embedder_dir: Path, tmp_path: Path) -> None:
    # given
    torch_embedder, _ = build_embedder(
        tiny_embedder_dir, device="cpu", setting="torch", models_dir=tmp_path
    )
    ct2_embedder, _ = build_embedder(
        tiny_embedder_dir, device="cpu", setting="ct2", models_dir=tmp_path
    )

    # when
    cosine = vectors_agree(ct2_embedder, torch_embedder, ("a", "refunds take five days"))

    # then
    assert cosine == pytest.approx(1.0, abs=1e-5)


def test_the_registry_logs_the_choice(
    tiny_embedder_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    from workers.inference import registry

    registry.clear_cache()
    caplog.set_level(logging.INFO, logger="workers.inference.registry")

    # when
    embedder = registry.get_embedder(
        str(tiny_embedder_dir), device="cpu", engine="ct2", models_dir=tmp_path
    )

    # then
    assert embedder.engine == "ct2-float32"
    assert "embedder st on cpu: engine ct2-float32: CHATAPP_EMBED_ENGINE=ct2" in caplog.text
    registry.clear_cache()
