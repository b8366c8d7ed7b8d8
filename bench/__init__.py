"""Benchmarks: each prints a JSON line of figures beside the raw limit measured in the same run."""
