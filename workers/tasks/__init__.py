"""Thin Celery tasks, one module per stage queue."""
