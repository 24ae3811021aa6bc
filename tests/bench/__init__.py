"""Benchmarks: `make bench` (python -m tests.bench [NAME ...]).

Each `bench_<name>.py` module here has `run(scale: float) -> None`; it prints its figures
and, in the same run, the same work done by the best plain alternative, ending with one
machine-readable line: `BENCH <name> <value> <unit> plain=<value> ratio=<value>`.
"""
