"""Load this worker's models once per process, right after the fork, not on the first task."""

from __future__ import annotations

import os
from typing import Any

from celery.signals import worker_process_init
from celery.utils.log import get_task_logger

logger = get_task_logger(f"{__name__}.celery")


@worker_process_init.connect
def warm_models(**kwargs: Any) -> None:
    """Load the models named in ``CHATAPP_WARM`` (``embedder``, ``llm``), set by the launcher."""
    from django.conf import settings

    if settings.CHATAPP_TORCH_THREADS > 0:
        import torch

        torch.set_num_threads(settings.CHATAPP_TORCH_THREADS)
    wanted = {w for w in os.environ.get("CHATAPP_WARM", "").split(",") if w}
    try:
        if "embedder" in wanted:
            from chatapp.knowledge.embedding import embedder

            logger.info("loaded embedder %s", embedder().name)
        if "llm" in wanted:
            from chatapp.assistant.runtime import answer_generator, review_generator

            logger.info("loaded %s and %s", answer_generator().name, review_generator().name)
    except Exception:  # the first task will retry the load and fail its turn with a clear error
        logger.exception("model warm-up failed")
