"""`qrec run --simulate` as a user runs it: its own NATS server, simulated lines, a live
summary, and a clean stop on SIGTERM with everything committed published."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.composition import build_records
from services.relay import Relay
from services.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_qrec_run_simulate_records_the_lines_and_stops_cleanly_on_sigterm(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "qrec-data"
    env = {**os.environ, "QREC_DATA_DIR": str(data_dir), "QREC_STORE_URL": "",
           "QREC_BROKER_URL": ""}
    run = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--simulate",
                            "--for", "60"], cwd=REPO, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(7)  # the summary comes every 2 s
    finally:
        run.send_signal(signal.SIGTERM)
        out, _ = run.communicate(timeout=60)
    assert run.returncode == 0, out
    assert "(embedded)" in out
    final = out.strip().splitlines()[-1]
    assert final.startswith("[stopped]"), out
    recorded = int(re.search(r"ingest (\d+) recorded", final).group(1))  # type: ignore[union-attr]
    assert recorded > 50
    # Everything committed was relayed before the process ended.
    records = build_records(Settings(data_dir=data_dir), create_tables=False)
    last = records.recorder.max_notification_id()
    assert Relay.tracking_recorder(records).max_tracking_id("qrec.relay") == last
