"""Celery tasks, the stage messages they pass, and Django-free inference code."""
