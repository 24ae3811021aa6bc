"""Tampering done directly in SQL on the event store (SQLite and PostgreSQL) is detected by
`verify`, which names the position, and a checkpoint kept earlier no longer holds."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete, select, update

from domain.application import QualityRecords
from domain.calibration import instrument_id
from domain.records import Provenance
from projections.ledger.audit import (
    BAD_SIGNATURE,
    CHANGED,
    EXTRA,
    HEADS_WRONG,
    LEDGER_CHANGED,
    MISSING,
    OUT_OF_ORDER,
    consistent_with,
    verify_store,
)
from projections.ledger.keys import Keyring
from projections.ledger.store import (
    Base,
    Ledger,
    LedgerCheckpoint,
    LedgerHeadBucket,
    LedgerLeaf,
    LedgerPolicy,
    leaf_digest,
    split_entries,
)
from projections.ledger.verifier import (
    Checkpoint,
    bucket_hash,
    event_leaf_hash,
    head_bucket,
)
from services.composition import build_ledger, build_records
from services.settings import Settings

EVENTS = 40
POLICY = LedgerPolicy(page_size=10, checkpoint_every=16, checkpoint_seconds=3600)


class EventTable:
    """The stored events table, reached around qrec with plain SQL (as an intruder would).

    Positions are 0-based like the ledger's; notification ids start at 1."""

    def __init__(self, settings: Settings) -> None:
        if settings.uses_postgres:
            self.conn: Any = psycopg.connect(settings.store_url, autocommit=True)
            self.table, self.nid, self.mark = f'"{settings.pg_schema}".qrec_events', \
                "notification_id", "%s"
        else:
            self.conn = sqlite3.connect(settings.events_path, isolation_level=None)
            self.table, self.nid, self.mark = "stored_events", "rowid", "?"

    def sql(self, statement: str, *params: Any) -> list[Any]:
        statement = statement.format(t=self.table, nid=self.nid).replace("%s", self.mark)
        cursor = self.conn.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []

    def state(self, position: int) -> bytes:
        return bytes(self.sql("SELECT state FROM {t} WHERE {nid} = %s", position + 1)[0][0])

    def set_state(self, position: int, state: bytes) -> None:
        self.sql("UPDATE {t} SET state = %s WHERE {nid} = %s", state, position + 1)

    def renumber(self, start: int, by: int) -> None:
        """Move notification ids >= start by `by`, in two steps around the unique index."""
        self.sql("UPDATE {t} SET {nid} = {nid} + 1000000 WHERE {nid} >= %s", start)
        self.sql("UPDATE {t} SET {nid} = {nid} - 1000000 + %s WHERE {nid} >= 1000000", by)

    def close(self) -> None:
        self.conn.close()


@dataclass
class History:
    settings: Settings
    records: QualityRecords
    ledger: Ledger
    events: EventTable
    earlier: Checkpoint  # exported before the tampering, kept by an auditor

    def verify(self, keys: dict[str, bytes] | None = None) -> Any:
        keys = self.ledger.keyring.public_keys() if keys is None else keys
        return verify_store(self.ledger, self.records.recorder, keys, page_size=7)

    def still_extends_earlier(self) -> str | None:
        return consistent_with(self.ledger, self.records.recorder, self.earlier, page_size=7)


@pytest.fixture
def history(store_settings: Settings, clock: Any) -> Iterator[History]:
    # Forty instruments are registered; the ledger takes them in ten at a time and signs
    # checkpoints at 10 (its first page), 16, 32 and 40 (sealed); an auditor keeps the last.
    records = build_records(store_settings, clock=clock)
    for i in range(EVENTS):
        records.register_instrument(f"G-{i:04d}", "bore gauge", "mm", (10, 15), 0.001, 0.002,
                                    180, "Line 1", Provenance(actor="qe-1"))
    ledger = build_ledger(store_settings, records, clock=clock, policy=POLICY)
    ledger.catch_up(seal=True)
    earlier = ledger.latest_checkpoint()
    assert earlier is not None and earlier.tree_size == EVENTS
    events = EventTable(store_settings)
    yield History(store_settings, records, ledger, events, earlier)
    events.close()
    ledger.engine.dispose()


def test_an_untouched_history_verifies_and_extends_the_earlier_checkpoint(
        history: History) -> None:
    report = history.verify()
    assert report.ok, report.finding
    assert (report.checked, report.checkpoints) == (EVENTS, 4)
    assert history.still_extends_earlier() is None


def test_postgresql_digests_intact_leaves_as_verify_does_so_pages_are_not_read_row_by_row(
        history: History) -> None:
    events = history.records.recorder.select_notifications(1, EVENTS)
    keys = [(n.originator_id, n.originator_version,
             event_leaf_hash(n.originator_id, n.originator_version, n.topic, n.state))
            for n in events]
    stored = history.ledger.leaf_digest(3, 30)
    if history.settings.uses_postgres:
        assert stored == leaf_digest(keys[3:30])
        assert stored != leaf_digest(keys[3:29]) and stored != leaf_digest(keys[4:30])
    else:
        assert stored is None  # SQLite: verify reads the leaves row by row


def test_a_changed_event_body_is_named_at_its_position(history: History) -> None:
    history.events.set_state(21, history.events.state(21).replace(b'"Line 1"', b'"Line 2"'))
    assert_found(history, 21, CHANGED)


def test_a_changed_recorded_time_inside_the_event_is_named_at_its_position(
        history: History) -> None:
    state = history.events.state(5)
    assert b'"timestamp":"2026-11-26T08:00:00.006' in state
    history.events.set_state(5, state.replace(b"T08:00:00.006", b"T07:59:00.006"))
    assert_found(history, 5, CHANGED)


def test_a_deleted_event_is_named_as_missing_at_its_position(history: History) -> None:
    history.events.sql("DELETE FROM {t} WHERE {nid} = %s", 13 + 1)
    assert_found(history, 13, MISSING)


def test_an_inserted_forged_event_is_named_as_extra_at_its_position(history: History) -> None:
    # The intruder makes room at notification 10 and slips a registration in there.
    forged_id = uuid.uuid4()
    state = history.events.state(9).replace(b'"G-0009"', b'"G-FORGED"')
    topic = history.events.sql("SELECT topic FROM {t} WHERE {nid} = 10")[0][0]
    history.events.renumber(10, 1)
    oid: Any = forged_id if history.settings.uses_postgres else str(forged_id)
    history.events.sql("INSERT INTO {t} ({nid}, originator_id, originator_version, topic, "
                       "state) VALUES (%s, %s, %s, %s, %s)", 10, oid, 1, topic, state)
    assert_found(history, 9, EXTRA)


def test_two_swapped_events_are_named_as_out_of_order(history: History) -> None:
    history.events.sql("UPDATE {t} SET {nid} = 999999 WHERE {nid} = 8")
    history.events.sql("UPDATE {t} SET {nid} = 8 WHERE {nid} = 30")
    history.events.sql("UPDATE {t} SET {nid} = 30 WHERE {nid} = 999999")
    assert_found(history, 7, OUT_OF_ORDER)


def test_truncating_the_newest_events_is_named_where_the_store_now_ends(
        history: History) -> None:
    history.events.sql("DELETE FROM {t} WHERE {nid} > 35")
    report = assert_found(history, 35, MISSING)
    assert "truncated" in report.finding.detail


@pytest.mark.parametrize("edit", ["hash", "record", "deleted"])
@pytest.mark.parametrize("position", [21, 35])  # in a whole tile; in the last, open one
def test_an_edited_leaf_of_the_ledger_is_named_though_the_events_are_intact(
        history: History, edit: str, position: int) -> None:
    # The events and the stored tree nodes are untouched; one stored leaf row is not: its
    # hash, the record it names (what an export looks an event's position up by), or the
    # row itself. Proofs through it would fail; verify says so first.
    where = LedgerLeaf.position == position
    with history.ledger.engine.begin() as conn:
        if edit == "deleted":
            conn.execute(delete(LedgerLeaf).where(where))
        else:
            values = {"leaf_hash": bytes(32)} if edit == "hash" else \
                {"originator_id": str(uuid.uuid4())}
            conn.execute(update(LedgerLeaf).where(where).values(**values))
    report = history.verify()
    assert report.finding is not None, "tampering went unnoticed"
    assert (report.finding.position, report.finding.kind) == (position, LEDGER_CHANGED)
    assert f"leaf at position {position}" in report.finding.detail
    # The records themselves are intact: they still extend the checkpoint kept earlier.
    assert history.still_extends_earlier() is None


def test_a_ledger_rewritten_with_a_fresh_key_fails_at_the_first_checkpoint(
        history: History, tmp_path: Any) -> None:
    # The intruder edits an event, then rebuilds the whole ledger over the edited history
    # and signs it with a key of their own: every table agrees with every other.
    history.events.set_state(3, history.events.state(3).replace(b'"Line 1"', b'"Line 7"'))
    rebuild_ledger(history, Keyring(tmp_path / "intruder-keys"))
    report = assert_found(history, 9, BAD_SIGNATURE)
    assert "not a trusted key" in report.finding.detail


def test_a_ledger_with_a_new_root_under_the_old_signatures_fails_at_the_first_checkpoint(
        history: History, tmp_path: Any) -> None:
    # Same rewrite, but the intruder keeps the genuine key id and signatures on new roots.
    genuine = {cp.tree_size: cp for cp in history.ledger.checkpoints()}
    history.events.set_state(3, history.events.state(3).replace(b'"Line 1"', b'"Line 7"'))
    rebuild_ledger(history, Keyring(tmp_path / "intruder-keys"))
    with history.ledger.engine.begin() as conn:
        for size, cp in genuine.items():
            conn.execute(update(LedgerCheckpoint).where(LedgerCheckpoint.tree_size == size)
                         .values(key_id=cp.key_id, signature=cp.signature,
                                 timestamp=cp.timestamp))
    report = assert_found(history, 9, BAD_SIGNATURE)
    assert "bad signature" in report.finding.detail


def test_rewriting_the_ledger_consistently_with_its_own_key_still_breaks_the_kept_checkpoint(
        history: History) -> None:
    # Worst case: the signing key leaked too. Verify cannot tell from inside, but the
    # checkpoint the auditor kept (or the copy on the stream) can.
    history.events.set_state(3, history.events.state(3).replace(b'"Line 1"', b'"Line 7"'))
    rebuild_ledger(history, history.ledger.keyring)
    report = verify_store(history.ledger, history.records.recorder,
                          history.ledger.keyring.public_keys(), trusted=[history.earlier])
    assert report.finding is not None and report.finding.position == EVENTS - 1
    assert report.finding.kind == "checkpoint inconsistent"
    assert "does not extend" in (history.still_extends_earlier() or "")


def rebuild_ledger(history: History, keyring: Keyring) -> None:
    with history.ledger.engine.begin() as conn:
        for table in Base.metadata.sorted_tables:  # every ledger table
            conn.execute(delete(table))
    rebuilt = Ledger(history.ledger.engine, history.records.recorder, keyring,
                     clock=history.ledger.clock, policy=POLICY, origin=history.ledger.origin)
    rebuilt.catch_up(seal=True)


def assert_found(history: History, position: int, kind: str,
                 check: Callable[[Any], None] | None = None) -> Any:
    report = history.verify()
    assert report.finding is not None, "tampering went unnoticed"
    assert (report.finding.position, report.finding.kind) == (position, kind), \
        str(report.finding)
    assert history.still_extends_earlier() is not None
    return report


def test_a_checkpoint_whose_heads_map_leaves_a_record_out_is_named(history: History) -> None:
    # The intruder drops gauge G-0005 from the stored heads map, its bucket's hash made to
    # agree, so that the next checkpoint vouches for a pack of G-0005 with no events at all.
    rid = instrument_id("G-0005")
    bucket = head_bucket(rid)
    with history.ledger.engine.begin() as conn:
        entries = conn.execute(select(LedgerHeadBucket.entries).where(
            LedgerHeadBucket.bucket == bucket)).scalar_one()
        rest = [e for e in split_entries(entries) if e[:16] != rid.bytes]
        conn.execute(update(LedgerHeadBucket).where(LedgerHeadBucket.bucket == bucket)
                     .values(entries=b"".join(rest), hash=bucket_hash(rest)))
    rebuilt = Ledger(history.ledger.engine, history.records.recorder, history.ledger.keyring,
                     clock=history.ledger.clock, policy=POLICY, origin=history.ledger.origin)
    history.records.register_instrument("G-NEW", "bore gauge", "mm", (10, 15), 0.001, 0.002,
                                        180, "Line 1", Provenance(actor="qe-1"))
    rebuilt.catch_up(seal=True)
    report = history.verify()
    assert report.finding is not None, "a map leaving a record out went unnoticed"
    assert (report.finding.position, report.finding.kind) == (EVENTS, HEADS_WRONG)
    assert f"tree size {EVENTS + 1}" in report.finding.detail


def test_a_stored_heads_map_edited_under_signed_checkpoints_is_named(history: History) -> None:
    with history.ledger.engine.begin() as conn:
        conn.execute(update(LedgerHeadBucket).where(
            LedgerHeadBucket.bucket == head_bucket(instrument_id("G-0007"))).values(
            hash=bytes(32)))
    report = history.verify()
    assert report.finding is not None and report.finding.kind == LEDGER_CHANGED
    assert "stored record heads map" in report.finding.detail
    assert report.heads_checked == 4  # every signed checkpoint's map held up
