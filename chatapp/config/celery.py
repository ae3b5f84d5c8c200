"""The Celery app: configured from Django settings (CELERY_*), tasks in workers.tasks."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.config.settings.base")

app = Celery(
    "chatapp",
    include=[
        "workers.tasks.retrieval",
        "workers.tasks.answering",
        "workers.tasks.review",
        "workers.tasks.sweep",
        "workers.tasks.assignment",
        "workers.tasks.warmup",
        "workers.tasks.health",
        "workers.tasks.webhooks",
        "workers.tasks.observe",
    ],
)
app.config_from_object("django.conf:settings", namespace="CELERY")
