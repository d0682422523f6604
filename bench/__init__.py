"""Benchmarks of mfprov against a local moto server: ``python -m bench`` (see BENCHMARKS.md)."""
