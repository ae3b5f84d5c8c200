"""Metrics (Prometheus, every process) and logs (JSON lines carrying the turn's ids)."""
