from __future__ import annotations

import numpy as np

from workers.inference.base import Embedder
from workers.inference.context import compress_passages


class WordEmbedder(Embedder):
    """Bag-of-words unit vectors: similarity is shared words (a pure-logic stand-in)."""

    name = "words"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts, *, batch_size=None):
        self.calls.append(list(texts))
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").replace("?", " ").split():
                vectors[row, sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-9)


REFUNDS = (
    "Our shop opened in 1998 in Leeds. Refunds take 5 to 10 business days. "
    "The founders like oak furniture. Refunds go back to the card you paid with."
)
DELIVERY = "Delivery takes 3 days. Couriers work on weekdays. Orders ship from Leeds."


def test_texts_within_the_budget_come_back_whole_without_embedding():
    # given
    embedder = WordEmbedder()

    # when
    excerpts = compress_passages("refunds", [REFUNDS, DELIVERY], embedder, budget_words=500)

    # then
    assert [e.text for e in excerpts] == [REFUNDS, DELIVERY]
    assert [(e.kept, e.total) for e in excerpts] == [(4, 4), (3, 3)]
    assert embedder.calls == []


def test_a_zero_budget_keeps_everything():
    excerpts = compress_passages("refunds", [REFUNDS], WordEmbedder(), budget_words=0)
    assert excerpts[0].text == REFUNDS


def test_the_budget_keeps_the_sentences_closest_to_the_question_in_their_order():
    # given: room for about three short sentences
    embedder = WordEmbedder()

    # when
    excerpts = compress_passages(
        "how long do refunds take", [REFUNDS, DELIVERY], embedder, budget_words=20
    )

    # then: each passage keeps its best sentence; gaps are marked
    assert excerpts[0].text.startswith("… Refunds take 5 to 10 business days.")
    assert "1998" not in excerpts[0].text
    assert excerpts[1].kept >= 1
    assert sum(len(e.text.replace("…", "").split()) for e in excerpts) <= 20
    assert len(embedder.calls) == 1  # question and all sentences in one batch
    assert embedder.calls[0][0] == "how long do refunds take"


def test_every_passage_keeps_at_least_one_sentence_even_over_budget():
    # given
    excerpts = compress_passages("refunds", [REFUNDS, DELIVERY], WordEmbedder(), budget_words=1)

    # then
    assert [e.kept for e in excerpts] == [1, 1]
