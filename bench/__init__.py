"""Benchmarks. Each ``bench_*.py`` measures a baseline and the candidate in the same run and reports ratios."""
