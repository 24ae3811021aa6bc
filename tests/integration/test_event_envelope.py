"""The events' envelope names each record by key, from the demo plant's whole history (every
kind of record qrec keeps): the key is the one `qrec history` takes, it names the very
record, and the relay reads a record's first event at most once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import UUID

import orjson

from services.demo import run_demo
from services.history import resolve_record
from services.record_keys import RecordKeys
from services.relay import envelope, event_kind


def test_every_event_names_its_record_by_the_key_qrec_history_takes(tmp_path: Path) -> None:
    records = run_demo(tmp_path / "demo", messages=300, say=lambda _: None)
    notifications = records.recorder.select_notifications(1, 1_000_000)

    def first_event(record: UUID) -> tuple[str, dict[str, object]]:
        stored = records.recorder.select_events(record, limit=1)[0]
        return event_kind(stored.topic).record_class, records.mapper.decode_state(  # type: ignore[attr-defined]
            stored.state)

    keys = RecordKeys(first_event)
    bodies = [orjson.loads(envelope(n, records.mapper, "log-1", keys)[2]) for n in notifications]
    unnamed = Counter(b["record_kind"] for b in bodies if b["record_key"] is None)
    named = {b["record_key"] for b in bodies if b["record_key"] is not None}
    kinds = {key.partition(":")[0] for key in named}
    assert all(resolve_record(b["record_key"]) == UUID(b["record_id"])
               for b in bodies if b["record_key"] is not None)
    assert {"lot:LOT-L1-01", "instrument:G-0042", "inspection-plan:IP-100",
            "control-plan:CP-7", "register:control-plans", "inspection:line:L1/L1-000000",
            "reading:line:L1/L1-P-0000"} <= named
    assert {"nonconformance", "corrective-action", "control-chart", "chart-baseline",
            "gauge-usage", "lot-acceptance", "switching"} <= kinds
    # Only the inspection opened by hand: its number is in no event.
    assert set(unnamed) == {"inspection"}
    assert len({b["record_id"] for b in bodies if b["record_key"] is None}) == 1
    # A record's first event is read once at most (and not at all when it came by).
    assert keys.reads <= len({b["record_id"] for b in bodies if b["version"] > 1})
