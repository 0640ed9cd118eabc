"""Benchmarks run by `affectstream bench`."""
