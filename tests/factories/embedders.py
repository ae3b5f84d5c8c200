"""Embedding-model test doubles, for tests that check plumbing rather than the model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from typing_extensions import override

from workers.inference.base import Embedder


class FakeEmbedder(Embedder):
    """Stands in for the model where the test checks plumbing; refuses texts with "EXPLODE"."""

    name = "fake"
    dim = 384

    @override
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        if any("EXPLODE" in t for t in texts):
            raise RuntimeError("model ran out of memory")
        rows = [np.random.default_rng(len(t)).standard_normal(self.dim) for t in texts]
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
