"""Sentence embeddings with sentence-transformers, from a local model folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from typing_extensions import override

from workers.inference.base import Embedder, ModelError, embedder_name, pick_device

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["DEFAULT_BATCH_SIZE", "SentenceTransformerEmbedder"]

DEFAULT_BATCH_SIZE = 32  # MiniLM on 2 cores: ~0.2 s a batch, memory stays under 100 MB
ERR_NOT_A_MODEL = "{folder} is not a sentence-transformers model folder (no modules.json)"
ERR_LOAD = "cannot load the embedding model from {folder}: {error}"


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a folder, never from a hub.

    Args:
        folder: A sentence-transformers folder (with ``modules.json``).
        device: ``"cpu"``, ``"cuda"``...; ``pick_device()`` when None.
        name: Shown in logs; the folder name (or its parent's, for a ``model`` subfolder)
            when None.

    Raises:
        ModelError: The folder is missing, is not a sentence-transformers folder, or fails to load.
    """

    engine = "torch"

    def __init__(
        self, folder: str | Path, *, device: str | None = None, name: str | None = None
    ) -> None:
        folder = Path(folder)
        if not (folder / "modules.json").is_file():
            raise ModelError(ERR_NOT_A_MODEL.format(folder=folder))
        # Belt and braces: a folder naming a hub model id must never trigger a download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self._model: SentenceTransformer = SentenceTransformer(
                str(folder), device=device or pick_device(), local_files_only=True
            )
        except (OSError, ValueError) as error:
            raise ModelError(ERR_LOAD.format(folder=folder, error=error)) from error
        self._model.eval()
        self.folder = folder
        self.name = name or embedder_name(folder)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelError(ERR_LOAD.format(folder=folder, error="unknown embedding size"))
        self.dim = int(dim)

    @override
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Embeds texts into unit vectors.

        Args:
            texts: The texts; those longer than the model's limit (256 tokens for MiniLM) are
                truncated.
            batch_size: Texts per forward pass; ``DEFAULT_BATCH_SIZE`` when None.

        Returns:
            A float32 array of shape ``(len(texts), dim)`` with L2-normalised rows.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size or DEFAULT_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    @override
    def count_tokens(self, text: str) -> int:
        """Counts word pieces with the model's own tokenizer (special tokens included).

        Chunks are sized with this so none is cut at the model's limit (256 for MiniLM).
        """
        tokenizer = self._model.tokenizer
        # Sections are counted whole but never fed to the model whole: mark transformers'
        # "sequence longer than the maximum" warning as already given.
        tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = (
            True
        )
        return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])
