"""The context budget: passages cut to the sentences that matter to the question.

On a CPU the prompt is the cost of a turn (prefill is compute-bound: about 2 x 1.5e9 operations
per prompt token for a 1.5B model), so the answerer reads excerpts, not whole chunks. Citations
still point at the chunk; only the text the models read is shorter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workers.inference.answerer import split_sentences
from workers.inference.base import Embedder

__all__ = ["GAP", "Excerpt", "compress_passages"]

GAP = " … "  # marks left-out sentences, so the model does not read two far-apart ones as one


@dataclass(frozen=True)
class Excerpt:
    """What the answerer reads of one passage.

    Attributes:
        text: The kept sentences in their original order, ``GAP`` between non-neighbours.
        kept: How many of the passage's sentences were kept.
        total: How many it has.
    """

    text: str
    kept: int
    total: int


def _words(text: str) -> int:
    return len(text.split())


def compress_passages(
    query: str, texts: Sequence[str], embedder: Embedder, *, budget_words: int
) -> list[Excerpt]:
    """Keeps, across all passages, the sentences most similar to the query within a budget.

    Every passage keeps at least its best sentence (the retriever ranked it for a reason); the
    rest of the budget goes to the best-scoring sentences wherever they are. When everything
    fits, nothing is embedded and the texts come back whole.

    Args:
        query: What the visitor asked (the search query, for follow-ups).
        texts: The passages' texts, in rank order.
        embedder: Scores sentences by cosine similarity to the query (one batched call).
        budget_words: Upper bound on the words kept in all (0 or less: no budget).

    Returns:
        One excerpt per text, in the same order.
    """
    sentences = [split_sentences(text) or [text.strip()] for text in texts]
    if budget_words <= 0 or sum(_words(t) for t in texts) <= budget_words:
        return [
            Excerpt(text.strip(), len(s), len(s)) for text, s in zip(texts, sentences, strict=True)
        ]
    flat = [
        (i, j, sentence) for i, group in enumerate(sentences) for j, sentence in enumerate(group)
    ]
    vectors = embedder.embed([query, *(sentence for _, _, sentence in flat)])
    scores = vectors[1:] @ vectors[0]
    order = [int(k) for k in np.argsort(-scores, kind="stable")]
    kept: set[tuple[int, int]] = set()
    used = 0
    for i in range(len(texts)):  # the best sentence of each passage first
        k = next(k for k in order if flat[k][0] == i)
        kept.add((i, flat[k][1]))
        used += _words(flat[k][2])
    for k in order:
        i, j, sentence = flat[k]
        if (i, j) in kept or used + _words(sentence) > budget_words:
            continue
        kept.add((i, j))
        used += _words(sentence)
    excerpts = []
    for i, group in enumerate(sentences):
        chosen = sorted(j for (p, j) in kept if p == i)
        parts: list[str] = []
        for n, j in enumerate(chosen):
            if n and j != chosen[n - 1] + 1:
                parts.append(GAP.strip())
            parts.append(group[j])
        text = " ".join(parts)
        if chosen and chosen[0] > 0:
            text = f"{GAP.strip()} {text}"
        if chosen and chosen[-1] < len(group) - 1:
            text = f"{text} {GAP.strip()}"
        excerpts.append(Excerpt(text, len(chosen), len(group)))
    return excerpts
