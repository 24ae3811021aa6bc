"""`qrec run --simulate` as a user runs it: its own NATS server, simulated lines, a live
summary, and a clean stop on SIGTERM with everything committed published."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from eventsourcing.utils import get_topic

from domain.trace import GaugeUsage
from projections.runner import view_positions
from services.composition import build_ledger, build_records
from services.relay import Relay
from services.settings import Settings
from services.views import build_views_engine

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_qrec_run_simulate_records_the_lines_and_stops_cleanly_on_sigterm(
        store_settings: Settings) -> None:
    # On the embedded store and on PostgreSQL, with qrec's own NATS server.
    settings = store_settings
    env = {**os.environ, "QREC_DATA_DIR": str(settings.data_dir),
           "QREC_STORE_URL": settings.store_url, "QREC_PG_SCHEMA": settings.pg_schema,
           "QREC_BROKER_URL": ""}
    run = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--simulate",
                            "--for", "60"], cwd=REPO, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(run.stdout or ()), daemon=True)
    reader.start()
    try:
        # Started (a busy machine takes a while) once the first summary is out; it comes
        # every 2 s: let a few go by.
        deadline = time.monotonic() + 60
        while not any(line.startswith("[") for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(6)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        reader.join(timeout=10)
    out = "".join(lines)
    assert run.returncode == 0, out
    assert "(embedded)" in out
    final = out.strip().splitlines()[-1]
    assert final.startswith("[stopped]"), out
    recorded = int(re.search(r"ingest (\d+) recorded", final).group(1))  # type: ignore[union-attr]
    assert recorded > 50
    records = build_records(settings, create_tables=False)
    last = records.recorder.max_notification_id()
    # Everything committed was relayed before the process ended...
    assert Relay.tracking_recorder(records).max_tracking_id("qrec.relay") == last
    # ...the policies followed the same log (gauge usage is noted for every inspection)...
    uses = records.recorder.select_notifications(
        None, 1, topics=[get_topic(GaugeUsage.UsesRecorded)])
    assert uses, out
    # ...the views applied it, and the ledger sealed a checkpoint over all of it.
    positions = view_positions(build_views_engine(settings))
    assert positions and all(position > 0 for position, _ in positions.values()), positions
    stored = len(records.recorder.select_notifications(None, 10_000_000))
    assert build_ledger(settings, records).tree_size() == stored
    records.close()
