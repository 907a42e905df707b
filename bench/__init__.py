"""Benchmarks: instruments that watch the product from outside; the page is bench/README.md."""
