"""The process-wide embedder, loaded lazily once (in a worker, or in the web process for search)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings

from chatapp.core.errors import ApplicationError
from workers.inference.base import Embedder, pick_device
from workers.inference.registry import get_embedder

logger = logging.getLogger(__name__)
_query_threads_set = False
ERR_QUERY_MODEL = "The search model is unavailable; try again later or ask an operator."


def embedder() -> Embedder:
    """Return the configured embedder (cached per process by the registry)."""
    return get_embedder(
        settings.CHATAPP_EMBEDDING_MODEL,
        device=settings.CHATAPP_DEVICE or None,
        engine=settings.CHATAPP_EMBED_ENGINE,
        models_dir=settings.CHATAPP_MODELS_DIR,
    )


def query_embedder() -> Embedder:
    """The embedder a web process uses for its own queries (``/search``, curated answers).

    A query is a few dozen tokens, too little work to share between threads: on 2 busy cores
    one intra-op thread embedded a query in ~25 ms and two in ~100-160 ms (their barriers wait
    on a core that is elsewhere), and a web process serves requests side by side anyway.
    """
    global _query_threads_set
    if not _query_threads_set:
        _query_threads_set = True
        if settings.CHATAPP_QUERY_THREADS > 0 and not _on_gpu():
            import torch

            torch.set_num_threads(settings.CHATAPP_QUERY_THREADS)
    return embedder()


# Query embeddings computed beside the request's database work (``PendingQueryVector``). A few
# threads: requests served side by side each get theirs at once, as when they embedded inline.
_query_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="query-embed")


class PendingQueryVector:
    """A query's embedding being computed in another thread; calling it waits for the vector.

    The search's word statistics and keyword candidates need no vector, so a request starts
    the embedding first and runs those queries meanwhile (``chunk_search_hybrid`` calls this
    once, when it needs the vector): on 2 cores the model and Postgres each get one.

    Attributes:
        waited_ms: How long the caller was blocked waiting for the vector (0 until called).
    """

    def __init__(self, text: str) -> None:
        self.waited_ms = 0.0
        self._future: Future[list[float]] = _query_pool.submit(embed_query, text)

    def __call__(self) -> list[float]:
        started = time.perf_counter()
        try:
            return self._future.result()  # re-raises the embedder's error, if any
        finally:
            self.waited_ms = (time.perf_counter() - started) * 1000.0


def embed_query(text: str) -> list[float]:
    """One query's vector from the web process's embedder.

    Raises:
        ApplicationError: ``model_unavailable`` (503) when the model cannot load or run; the
            cause is logged for operators, the client gets no internals.
    """
    try:
        return [float(value) for value in query_embedder().embed([text])[0]]
    except Exception as error:  # any failure of the model is the same to the client
        logger.exception("query embedding failed")
        raise ApplicationError("model_unavailable", ERR_QUERY_MODEL, status=503) from error


def warm_query_embedder_in_background() -> None:
    """Load the web process's embedder in a thread at start-up, not in the first request."""

    def load() -> None:
        started = time.monotonic()
        try:
            query_embedder().embed(["warm up"])
            logger.info("query embedder ready in %.1f s", time.monotonic() - started)
        except Exception:  # the first search loads it again and reports the error
            logger.exception("query embedder warm-up failed")

    threading.Thread(target=load, name="warm-query-embedder", daemon=True).start()


# Chunks per model call when indexing. On 2 idle CPU cores MiniLM embeds 55-64 chunks/s in
# batches of 8-16, ~50 at 32 and ~44 at 64 (larger batches leave the caches); with another process
# busy on one core, 32-64 hold up best (~15-16/s vs ~14 at 16). An indexing worker mostly has its
# cores to itself (bench/results/indexing.md); a GPU keeps gaining well past that.
CPU_BATCH_SIZE = 16
GPU_BATCH_SIZE = 256


# Documents (and their raw bytes) per indexing task of an import job. On 2 CPU cores 64 short
# documents or 256 kB of long ones (~250 chunks) take ~2-12 s, so a visitor's turn queued behind
# a batch waits that long at most; a GPU embeds thousands of chunks a second.
CPU_INDEX_BATCH = (64, 256 * 1024)
GPU_INDEX_BATCH = (512, 4 * 1024 * 1024)


def _on_gpu() -> bool:
    return (settings.CHATAPP_DEVICE or pick_device()).startswith("cuda")


def embed_batch_size() -> int:
    """Passages per embedding batch: the setting, else a size suited to the device."""
    if settings.CHATAPP_EMBED_BATCH_SIZE > 0:
        return int(settings.CHATAPP_EMBED_BATCH_SIZE)
    return GPU_BATCH_SIZE if _on_gpu() else CPU_BATCH_SIZE


def index_batch_limits() -> tuple[int, int]:
    """Documents and raw bytes one indexing task takes: the settings, else sized to the device.

    Returns:
        ``(documents, bytes)``; a task always takes at least one document, however large.
    """
    documents, size = GPU_INDEX_BATCH if _on_gpu() else CPU_INDEX_BATCH
    if settings.CHATAPP_INDEX_BATCH_DOCUMENTS > 0:
        documents = int(settings.CHATAPP_INDEX_BATCH_DOCUMENTS)
    if settings.CHATAPP_INDEX_BATCH_BYTES > 0:
        size = int(settings.CHATAPP_INDEX_BATCH_BYTES)
    return documents, size
