"""`qrec audit verify` over N stored events on PostgreSQL, against plain SHA-256 of the same
stored bytes read the same way; also ledger catch-up and proofs per second.

The events table is filled with a direct binary COPY of realistic stored-event rows
(instrument registrations as the app writes them, orjson bodies with distinct record ids and
recorded times): building 1M events through the app would take most of the run.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from psycopg import sql

from projections.ledger.audit import verify_store
from projections.ledger.store import LedgerPolicy
from projections.ledger.verifier import event_leaf_hash, verify_consistency, verify_inclusion
from services.composition import build_ledger, build_records
from services.settings import Settings
from tests.bench.common import bench_line

PG_URL = os.environ.get("QREC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TOPIC = "domain.calibration:Instrument.Registered"
PAGE = 10_000


def stored_rows(n: int):  # noqa: ANN201 - a generator of COPY rows
    start = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    for i in range(n):
        tag = f"G-{i:07d}"
        body = {"timestamp": (start + timedelta(milliseconds=i)).isoformat(),
                "originator_topic": "domain.calibration:Instrument",
                "provenance": {"actor": "qe-1", "occurred_at": None, "source": "api",
                               "source_message_id": None, "reason": None,
                               "correlation_id": None, "causation_id": None,
                               "signature_meaning": None},
                "tag": tag, "kind": "bore gauge", "unit": "mm", "range": [10.0, 15.0],
                "resolution": 0.001, "tolerance": 0.002, "interval_days": 180,
                "location": f"Line {i % 7 + 1}"}
        yield (uuid.uuid5(uuid.NAMESPACE_URL, tag), 1, TOPIC, orjson.dumps(body))


def fill(settings: Settings, n: int) -> None:
    with psycopg.connect(PG_URL) as conn, conn.cursor() as cur:
        table = sql.SQL("{}.qrec_events").format(sql.Identifier(settings.pg_schema))
        with cur.copy(sql.SQL("COPY {} (originator_id, originator_version, topic, state) "
                              "FROM STDIN (FORMAT BINARY)").format(table)) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for row in stored_rows(n):
                copy.write_row(row)


def timed(label: str, fn, *args, **kwargs):  # noqa: ANN001, ANN201
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    elapsed = time.perf_counter() - t0
    print(f"  {label}: {elapsed:.2f} s", flush=True)
    return result, elapsed


def plain_hashing(recorder) -> int:  # noqa: ANN001
    """The best plain alternative: read the same rows the same way, SHA-256 each state."""
    count, start, sha256 = 0, 1, hashlib.sha256
    while True:
        page = recorder.select_notifications(start, PAGE)
        for n in page:
            sha256(n.state).digest()
        count += len(page)
        if len(page) < PAGE:
            return count
        start = page[-1].id + 1


def run(scale: float) -> None:
    n = max(1000, int(1_000_000 * scale))
    schema = f"qrec_bench_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), store_url=PG_URL, pg_schema=schema)
        try:
            measure(settings, n)
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))


def measure(settings: Settings, n: int) -> None:
    records = build_records(settings)
    print(f"verify: {n} events on PostgreSQL (schema {settings.pg_schema})", flush=True)
    timed("fill events table (binary COPY)", fill, settings, n)
    ledger = build_ledger(settings, records, policy=LedgerPolicy(page_size=1000,
                                                                 checkpoint_every=100_000))
    _, append_s = timed("ledger catch-up (1,000 events per transaction)",
                        ledger.catch_up, seal=True)
    print(f"  catch-up: {n / append_s:,.0f} events/s", flush=True)
    keys = ledger.keyring.public_keys()
    report, verify_s = timed("qrec audit verify", verify_store, ledger, records.recorder, keys,
                             page_size=PAGE)
    assert report.ok and report.checked == n, report
    count, plain_s = timed("plain SHA-256 of the same stored bytes, same reads",
                           plain_hashing, records.recorder)
    assert count == n
    states = [n_.state for n_ in records.recorder.select_notifications(1, min(n, 100_000))]
    t0 = time.perf_counter()
    for s in states:
        hashlib.sha256(s).digest()
    memory_rate = len(states) / (time.perf_counter() - t0)
    print(f"  (for context: SHA-256 alone on bytes in memory, {memory_rate:,.0f} events/s)")
    proofs(ledger, n)
    bench_line("verify", n / verify_s, "events/s", n / plain_s)


def proofs(ledger, n: int) -> None:  # noqa: ANN001
    rng = random.Random(7)
    cp = ledger.latest_checkpoint()
    positions = [rng.randrange(n) for _ in range(300)]
    leaves = {p: ledger.leaves(p, p + 1)[0].leaf_hash for p in positions}
    t0 = time.perf_counter()
    made = [(p, ledger.inclusion_proof(p, cp.tree_size)) for p in positions]
    gen = len(made) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(10):
        for p, proof in made:
            assert verify_inclusion(leaves[p], p, cp.tree_size, proof, cp.root_hash)
    check = 10 * len(made) / (time.perf_counter() - t0)
    firsts = [rng.randrange(1, n) for _ in range(100)]
    t0 = time.perf_counter()
    cons = [(m, ledger.consistency_proof(m, n), ledger.root_at(m)) for m in firsts]
    cgen = len(cons) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for m, proof, root in cons:
        assert verify_consistency(m, n, root, cp.root_hash, proof)
    ccheck = len(cons) / (time.perf_counter() - t0)
    print(f"  inclusion proofs: {gen:,.0f} generated/s (one database round trip each), "
          f"{check:,.0f} verified/s", flush=True)
    print(f"  consistency proofs: {cgen:,.0f} generated/s (with the old root), "
          f"{ccheck:,.0f} verified/s", flush=True)
    assert event_leaf_hash  # the verify loop's leaf function, imported for readers
