"""Benchmarks for chatapp: retrieval quality, search latency, indexing throughput (make bench)."""
