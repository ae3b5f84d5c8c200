"""Tests for workers.inference."""
