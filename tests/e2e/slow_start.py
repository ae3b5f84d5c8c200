"""The project's Celery app, with pool processes that start too slowly while a flag file exists.

Reproduces the failure /healthz must report: a replacement pool process that does not send its
ready message within ``worker_proc_alive_timeout`` (4 s) is killed, and so is the next one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init

from chatapp.config.celery import app

__all__ = ["app"]

SLOW_START_S = 10  # past Celery's 4 s: the pool kills the process before it reports ready


@worker_process_init.connect
def start_slowly(**kwargs: Any) -> None:
    flag = os.environ.get("CHATAPP_TEST_SLOW_START_FLAG", "")
    if flag and Path(flag).exists():
        time.sleep(SLOW_START_S)
