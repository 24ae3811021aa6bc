"""What every benchmark prints the same way."""

from __future__ import annotations


def bench_line(name: str, value: float, unit: str, plain: float) -> str:
    ratio = value / plain if plain else float("nan")
    line = f"BENCH {name} {value:.1f} {unit} plain={plain:.1f} ratio={ratio:.3f}"
    print(line, flush=True)
    return line


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
