"""Benchmarks that print figures for notes and the docs (never asserted in tests)."""
