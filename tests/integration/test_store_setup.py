"""Several processes setting up the same PostgreSQL store at the same moment (two `qrec run`
started together, a runner and a CLI command) all come up.

eventsourcing's CREATE ... IF NOT EXISTS and CREATE OR REPLACE statements still fail when
run concurrently ("tuple concurrently updated", duplicate keys in the catalog); qrec makes
the processes take turns."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.settings import Settings

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4

# Everything `qrec run` sets up at start: the event store's tables (write model, the
# policies' and the relay's tracking), the views' positions table and the ledger's tables.
SET_UP = """
import sys, time
from services.composition import build_ledger, build_records
from services.runner import Runner, RunOptions
from services.settings import Settings
from services.views import build_projection_runner
start_at = float(sys.argv[1])
while time.time() < start_at:
    pass
settings = Settings.from_env()
Runner(settings, RunOptions()).prepare_store()
records = build_records(settings, create_tables=False)
build_projection_runner(settings, records=records).prepare()
build_ledger(settings, records)
records.close()
"""


def test_processes_setting_up_one_store_together_all_come_up(pg_settings: Settings) -> None:
    env = {**os.environ, "QREC_DATA_DIR": str(pg_settings.data_dir),
           "QREC_STORE_URL": pg_settings.store_url, "QREC_PG_SCHEMA": pg_settings.pg_schema,
           "PYTHONPATH": str(ROOT)}
    start_at = time.time() + 2.0  # after every interpreter has imported qrec
    processes = [subprocess.Popen([sys.executable, "-c", SET_UP, str(start_at)], env=env,
                                  cwd=ROOT, stderr=subprocess.PIPE)
                 for _ in range(PROCESSES)]
    failures = []
    for proc in processes:
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            failures.append(err.decode(errors="replace").strip().splitlines()[-1])
    assert failures == []
