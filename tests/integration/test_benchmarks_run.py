"""Every benchmark still runs, at a tiny scale: a change to a view or a contract that
breaks `make bench` fails here, not weeks later. (Their figures are not judged here.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.__main__ import bench_names
from tests.conftest import NATS_URL, PG_URL, need_service

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.nats
@pytest.mark.parametrize("name", bench_names())
def test_the_benchmark_runs_and_prints_its_bench_line(name: str) -> None:
    need_service(PG_URL, "PostgreSQL")
    need_service(NATS_URL, "NATS")
    done = subprocess.run([sys.executable, "-m", "tests.bench", name, "--scale", "0.002"],
                          cwd=REPO, env={**os.environ}, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert any(line.startswith("BENCH ") and " ratio=" in line
               for line in done.stdout.splitlines()), done.stdout[-2000:]
