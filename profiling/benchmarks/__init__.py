"""Benchmarks that print figures for notes and READMEs (never asserted in tests)."""
