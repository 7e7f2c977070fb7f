"""Benchmarks (`make bench`): each module ``bench/bench_*.py`` defines ``run(console) -> dict`` and prints
ratios measured in one run. Not part of the tests."""
