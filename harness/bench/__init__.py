"""Benchmarks: each prints one ``key=value`` line with a ratio against a baseline measured in the same run."""
