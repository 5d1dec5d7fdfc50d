"""Benchmarks: `python -m bench.<name>`; results are written to bench/results/."""
