"""Load this worker's models once per process, after the fork, without delaying its start.

A pool process must report ready (Celery's WORKER_UP message) within ``worker_proc_alive_timeout``
(4 s) of its fork, or the pool kills it and forks another. Loading the models before reporting
ready took longer than that, so after one pool process died every replacement was killed in turn
("Timed out waiting for UP message") and the queue was never served again. The models now load
in a thread started at the fork: the process reports ready at once, and a task that needs the
models waits for the load (``wait_for_models``), bounded by its own time limits.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from celery.signals import worker_process_init
from celery.utils.log import get_task_logger

logger = get_task_logger(f"{__name__}.celery")

# Set when this process's warm-up finished (loaded, or failed and logged); None: none started.
_warm_done: threading.Event | None = None
# How often a waiting task wakes up: a soft time limit (a signal) is handled between waits.
WAIT_SLICE_S = 1.0


@worker_process_init.connect
def start_warmup(**kwargs: Any) -> None:
    """Start loading the models named in ``CHATAPP_WARM`` (``embedder``, ``llm``) in a thread."""
    global _warm_done
    wanted = [w for w in os.environ.get("CHATAPP_WARM", "").split(",") if w]
    _warm_done = threading.Event()
    threading.Thread(
        target=warm_models, args=(wanted, _warm_done), name="warm-models", daemon=True
    ).start()


def warm_models(wanted: list[str], done: threading.Event) -> None:
    """Set torch's thread count and load the ``wanted`` models, then set ``done``.

    Args:
        wanted: ``embedder`` and/or ``llm``.
        done: Set at the end, whether the load succeeded or not.
    """
    started = time.monotonic()
    try:
        from django.conf import settings

        if settings.CHATAPP_TORCH_THREADS > 0:
            import torch

            # Global (every thread's parallel regions start from it), so setting it here holds
            # for the tasks that run on the process's main thread.
            torch.set_num_threads(settings.CHATAPP_TORCH_THREADS)
        if "embedder" in wanted:
            from chatapp.knowledge.embedding import embedder

            logger.info("loaded embedder %s", embedder().name)
        if "llm" in wanted:
            from chatapp.assistant.runtime import answer_generator, review_generator

            logger.info("loaded %s and %s", answer_generator().name, review_generator().name)
    except Exception:  # the first task will retry the load and fail its turn with a clear error
        logger.exception("model warm-up failed")
    finally:
        logger.info("warm-up done in %.1f s", time.monotonic() - started)
        done.set()


def wait_for_models() -> None:
    """Block until this process's warm-up is over (return at once when none was started).

    The caller's time limits bound the wait: a soft limit interrupts it like any other work.
    """
    done = _warm_done
    if done is None:
        return
    while not done.wait(WAIT_SLICE_S):
        pass
