"""Tests for the Celery workers and their inference code."""
