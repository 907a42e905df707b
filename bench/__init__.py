"""Benchmarks; each writes its results under `bench/results/` (SPEC section 1)."""
