"""Which engine runs the embedder (torch or CTranslate2), chosen by a check when it loads.

``CHATAPP_EMBED_ENGINE`` = ``auto`` (default) | ``torch`` | ``ct2``. With ``auto`` on a CPU both
engines are loaded, their vectors compared (they must agree to a cosine of 0.9999: stored chunks
may come from either) and a few query-sized texts timed on each, the two called in turn; the
faster one stays and the choice is logged with its figures. Loading MiniLM both ways and timing
it takes about a second, so every process measures its own machine instead of trusting
another's. On a GPU it is torch.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workers.inference.base import Embedder, ModelError, embedder_name

__all__ = [
    "EMBED_ENGINE_ENV",
    "EMBED_ENGINE_SETTINGS",
    "build_embedder",
    "ct2_embedder_folder",
    "prepare_ct2_embedder",
    "vectors_agree",
]

logger = logging.getLogger(__name__)

EMBED_ENGINE_ENV = "CHATAPP_EMBED_ENGINE"
EMBED_ENGINE_SETTINGS = ("auto", "torch", "ct2")
MIN_COSINE = 0.9999
PROBE_TEXTS = (
    "how do I reset my password",
    "what does the plus plan cost per month and can I pay yearly",
    "my order arrived damaged, can I get a refund or a replacement?",
    "is there a limit on invoices",
)
PROBE_ROUNDS = 5
ERR_SETTING = EMBED_ENGINE_ENV + "={value!r} is not one of auto, torch, ct2"


def ct2_embedder_folder(source: Path, models_dir: Path) -> Path:
    """Where the CTranslate2 copy of an embedder goes: under ``models_dir``, never beside it.

    Args:
        source: The sentence-transformers folder (often inside a package).
        models_dir: The app's models folder (``CHATAPP_MODELS_DIR``).

    Returns:
        ``<models_dir>/<embedder name>-ct2-float32``; the manifest's source stamp checks that
        it was made from this source's files.
    """
    return Path(models_dir) / f"{embedder_name(source)}-ct2-float32"


def vectors_agree(first: Embedder, second: Embedder, texts: tuple[str, ...]) -> float:
    """The smallest cosine between the two embedders' vectors of the same texts."""
    a, b = first.embed(list(texts)), second.embed(list(texts))
    return float(np.min(np.sum(a * b, axis=1)))


def _probe_ms(embedder: Embedder, text: str) -> float:
    """Milliseconds to embed one text."""
    started = time.perf_counter()
    embedder.embed([text])
    return (time.perf_counter() - started) * 1000


def _compare_ms(fast: Embedder, baseline: Embedder) -> tuple[float, float, float]:
    """Both engines timed on the same query-sized texts, called in turn (after a warm-up each).

    Several processes often start at once (``make run``'s web server and workers), so the load
    changes while they measure: timing one engine after the other once chose torch in a process
    whose CTranslate2 probe ran while its neighbours loaded. Calling the two in turn, first one
    then the other, puts the same load on both.

    Returns:
        The median ms of ``fast`` and of ``baseline``, and the median of their per-text ratio
        (fast over baseline), which decides.
    """
    fast.embed([PROBE_TEXTS[0]])
    baseline.embed([PROBE_TEXTS[0]])
    fast_ms, baseline_ms, ratios = [], [], []
    for number in range(PROBE_ROUNDS * len(PROBE_TEXTS)):
        text = PROBE_TEXTS[number % len(PROBE_TEXTS)]
        if number % 2:  # who goes first alternates
            b, f = _probe_ms(baseline, text), _probe_ms(fast, text)
        else:
            f, b = _probe_ms(fast, text), _probe_ms(baseline, text)
        fast_ms.append(f)
        baseline_ms.append(b)
        ratios.append(f / b if b > 0 else 1.0)
    return statistics.median(fast_ms), statistics.median(baseline_ms), statistics.median(ratios)


def _threads() -> int:
    """The intra-op threads the process set up for torch (the workers' and web's own count)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else 0


def _torch(source: Path, device: str) -> Embedder:
    from workers.inference.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(source, device=device)


def prepare_ct2_embedder(
    source: Path, models_dir: Path, progress: Callable[[str, float], None]
) -> Path:
    """Converts an embedder to CTranslate2 float32 under ``models_dir`` unless already done.

    ``make models`` calls this so no process converts at start-up; a process that finds no
    conversion makes it itself (about a second for MiniLM).

    Raises:
        ModelError: ctranslate2 is missing, or the model's layout or type is not supported.
    """
    from workers.inference.convert_ct2 import ensure_ct2
    from workers.inference.embedder_ct2 import QUANTIZATION, pooling_mode

    pooling_mode(source)  # refuses an unsupported layout before converting anything
    target = ct2_embedder_folder(source, models_dir)
    return ensure_ct2(source, quantization=QUANTIZATION, target=target, progress=progress)


def _ct2(source: Path, models_dir: Path) -> Embedder:
    from workers.inference.embedder_ct2 import CT2Embedder

    def log(step: str, fraction: float) -> None:
        if fraction >= 1.0:
            logger.info("%s", step)

    converted = prepare_ct2_embedder(source, models_dir, log)
    return CT2Embedder(source, converted, threads=_threads())


def build_embedder(
    source: Path, *, device: str, setting: str | None = None, models_dir: Path
) -> tuple[Embedder, str]:
    """Loads an embedder on the engine the setting (or the check) picks.

    Args:
        source: A sentence-transformers folder.
        device: ``"cpu"``, ``"cuda"``...
        setting: ``auto``, ``torch`` or ``ct2``; ``CHATAPP_EMBED_ENGINE`` (default ``auto``)
            when None.
        models_dir: Where the CTranslate2 conversion is kept.

    Returns:
        The embedder and why its engine was chosen (for the log and ``check_models``).

    Raises:
        ModelError: The setting is unknown, the model cannot load, or ``ct2`` was asked for
            and cannot run this model.
    """
    setting = setting or os.environ.get(EMBED_ENGINE_ENV) or "auto"
    if setting not in EMBED_ENGINE_SETTINGS:
        raise ModelError(ERR_SETTING.format(value=setting))
    if setting == "torch":
        return _torch(source, device), f"{EMBED_ENGINE_ENV}=torch"
    if device.startswith("cuda"):
        if setting == "ct2":
            raise ModelError("the CTranslate2 embedder runs on the CPU only; use torch on cuda")
        return _torch(source, device), "on a GPU torch is the engine"
    try:
        fast = _ct2(source, models_dir)
    except ModelError as error:
        if setting == "ct2":
            raise
        return _torch(source, device), f"CTranslate2 cannot run it ({error})"
    if setting == "ct2":
        return fast, f"{EMBED_ENGINE_ENV}=ct2"
    baseline = _torch(source, device)
    cosine = vectors_agree(fast, baseline, PROBE_TEXTS)
    if cosine < MIN_COSINE:
        return baseline, f"CTranslate2's vectors differ from torch's (cosine {cosine:.5f})"
    fast_ms, baseline_ms, ratio = _compare_ms(fast, baseline)
    figures = (
        f"{fast_ms:.1f} ms a query on ct2 vs {baseline_ms:.1f} ms on torch "
        f"(ratio {ratio:.2f} per query), measured at load"
    )
    if ratio < 1.0:
        return fast, figures
    return baseline, figures
