"""Benchmark suite of the identifier resolution node: `python -m bench` (or `make bench`)."""
