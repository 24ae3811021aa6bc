from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tests.bench as package
from services.runtime import tune_garbage_collector


def bench_names() -> list[str]:
    return sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules(package.__path__)
                  if m.name.startswith("bench_"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=package.__doc__)
    parser.add_argument("names", nargs="*", help=f"which ones (default all: {bench_names()})")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the work sizes (0.1 for a quick look)")
    args = parser.parse_args()
    tune_garbage_collector()  # as every `qrec` process runs (both sides of each benchmark)
    for name in args.names or bench_names():
        print(f"== {name}", flush=True)
        importlib.import_module(f"tests.bench.bench_{name}").run(args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
