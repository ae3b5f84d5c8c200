"""The Django project: wiring only."""

from chatapp.config.celery import app as celery_app

__all__ = ["celery_app"]
