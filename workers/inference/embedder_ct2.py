"""Sentence embeddings on CTranslate2: the same model and vectors as sentence-transformers, faster.

The encoder is converted once in float32 (``ensure_ct2``), so its vectors match torch's to
within float rounding (cosine >= 0.99999 on MiniLM) and chunks embedded by either engine can be
searched with queries embedded by the other. On 2 CPU cores a 14-token query took ~10 ms here
against ~20 ms for sentence-transformers on torch, most of torch's time being per-call
overhead; ``bench search-http`` measures both.

Only the plain layout is supported: a transformer, mean or CLS pooling, optional normalisation
(MiniLM's and most retrieval embedders'). Anything else raises ``ModelError`` and the registry
stays on torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import override

from workers.inference.base import Embedder, ModelError, embedder_name

__all__ = ["CT2Embedder", "pooling_mode"]

QUANTIZATION = "float32"  # int8 would change the vectors; stored chunks were embedded in fp32
DEFAULT_BATCH_SIZE = 32
# Class names only: sentence-transformers has moved them between module paths across versions.
PLAIN_MODULES = ("Transformer", "Pooling", "Normalize")
ERR_LAYOUT = "{folder}: CTranslate2 embeds only transformer + pooling (+ normalize), not {modules}"
ERR_POOLING = "{folder}: pooling {mode!r} is not supported on CTranslate2 (mean or cls only)"
ERR_LOAD = "cannot load the CTranslate2 encoder {folder}: {error}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read {path}: {error}") from error


def pooling_mode(folder: Path) -> str:
    """How a sentence-transformers folder pools token vectors: ``"mean"`` or ``"cls"``.

    Args:
        folder: A sentence-transformers model folder.

    Returns:
        The pooling mode.

    Raises:
        ModelError: The folder's modules are not the plain layout, or it pools another way.
    """
    modules = _read_json(folder / "modules.json")
    types = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules]
    if not types or types[0] != PLAIN_MODULES[0] or any(t not in PLAIN_MODULES for t in types):
        raise ModelError(ERR_LAYOUT.format(folder=folder, modules=types))
    pooling = next((m for m, t in zip(modules, types, strict=True) if t == PLAIN_MODULES[1]), None)
    if pooling is None:
        return "mean"  # sentence-transformers' default for a bare transformer
    config = _read_json(folder / pooling["path"] / "config.json")
    named = config.get("pooling_mode")
    if isinstance(named, str):  # newer sentence-transformers: one "pooling_mode" by name
        mode = {"mean": "mean", "mean_tokens": "mean", "cls": "cls", "cls_token": "cls"}.get(named)
        if mode is None:
            raise ModelError(ERR_POOLING.format(folder=folder, mode=named))
        return mode
    enabled = [key for key, value in config.items() if key.startswith("pooling_mode") and value]
    if enabled == ["pooling_mode_mean_tokens"]:
        return "mean"
    if enabled == ["pooling_mode_cls_token"]:
        return "cls"
    raise ModelError(ERR_POOLING.format(folder=folder, mode=enabled))


class CT2Embedder(Embedder):
    """A sentence-transformers model run by a CTranslate2 encoder.

    Args:
        source: The sentence-transformers folder (tokenizer, pooling, sequence limit).
        converted: Its CTranslate2 conversion (``ensure_ct2(..., quantization="float32")``).
        threads: Intra-op threads; 0 lets CTranslate2 choose.
        name: Shown in logs; the source's name (or its parent's, for ``model``) when None.

    Raises:
        ModelError: The layout is not supported or the encoder fails to load.
    """

    engine = "ct2-float32"

    def __init__(
        self,
        source: Path,
        converted: Path,
        *,
        threads: int = 0,
        name: str | None = None,
    ) -> None:
        self._pooling = pooling_mode(source)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import ctranslate2
        from transformers import AutoTokenizer

        try:
            self._encoder = ctranslate2.Encoder(
                # CPU only: on a GPU torch is fast already and the vectors would need a copy back.
                str(converted),
                device="cpu",
                compute_type=QUANTIZATION,
                intra_threads=threads,
            )
            self._tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelError(ERR_LOAD.format(folder=converted, error=error)) from error
        limits = (
            _read_json(source / "sentence_bert_config.json")
            if (source / "sentence_bert_config.json").is_file()
            else {}
        )
        self._max_tokens = int(limits.get("max_seq_length") or self._tokenizer.model_max_length)
        # Counting whole sections (chunk sizing) must not warn that they exceed the limit.
        self._tokenizer.deprecation_warnings[
            "sequence-length-is-longer-than-the-specified-maximum"
        ] = True
        self.name = name or embedder_name(source)
        self.dim = int(self.embed(["dimension probe"]).shape[1])

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self._tokenizer(
            list(texts), truncation=True, max_length=self._max_tokens, add_special_tokens=True
        )
        return [list(ids) for ids in encoded["input_ids"]]

    def _pool(self, hidden: npt.NDArray[np.float32], lengths: list[int]) -> npt.NDArray[np.float32]:
        if self._pooling == "cls":
            vectors = hidden[:, 0, :]
        else:
            positions = np.arange(hidden.shape[1])[None, :]
            mask = (positions < np.asarray(lengths)[:, None]).astype(np.float32)
            vectors = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    @override
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Embeds texts into unit vectors (see ``Embedder.embed``).

        Texts are sorted by length before batching, as sentence-transformers does, so a batch
        pads little; the rows come back in the caller's order.
        """
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        ids = self._ids(texts)
        size = batch_size or DEFAULT_BATCH_SIZE
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        rows: list[npt.NDArray[np.float32]] = [np.empty(0, dtype=np.float32)] * len(ids)
        for start in range(0, len(order), size):
            picked = order[start : start + size]
            batch = [ids[i] for i in picked]
            output = self._encoder.forward_batch(batch)
            hidden = np.asarray(output.last_hidden_state, dtype=np.float32)
            for index, vector in zip(
                picked, self._pool(hidden, [len(b) for b in batch]), strict=True
            ):
                rows[index] = vector
        return np.stack(rows)

    @override
    def count_tokens(self, text: str) -> int:
        """Counts word pieces with the model's own tokenizer (special tokens included)."""
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])
