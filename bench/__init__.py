"""Benchmarks: each prints one JSON line of figures beside the raw limit measured in the same run."""
