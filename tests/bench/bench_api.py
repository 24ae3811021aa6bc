"""The HTTP API under 16 concurrent clients, against the same use cases called in process.

`qrec serve` runs as users run it (its own process, PostgreSQL, an API key per caller); 16
client threads with keep-alive connections send:
- api-history: the history of a 1,000-event record (GET /api/v1/records/{ref}/history),
  against `read_history` called in process by 16 threads (no HTTP, no JSON);
- api-view: a page of 100 rows of a view (GET /api/v1/views/history?record_id=...),
  against `read_page` in process;
- api-disposition: nonconformances dispositioned per second (POST .../disposition, each
  with its own Idempotency-Key), against `QualityRecords.disposition` in process.
Latencies are p50/p99 in milliseconds; the BENCH value is the p99 (dispositions: per second).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from domain.records import Provenance
from projections.history import HistoryRow
from projections.paging import read_page
from services.composition import build_credentials, build_records
from services.embedded_nats import free_port
from services.history import read_history
from services.identity.people import People
from services.settings import Settings
from services.views import build_projection_runner, build_views_reader
from tests.bench.common import bench_line, percentile
from tests.conftest import PG_URL, drop_pg_schema

CLIENTS = 16
EVENTS = 1_000  # of the record whose history is read, at scale 1
READS = 800  # per measured read, at scale 1
DISPOSITIONS = 1_600  # at scale 1
REPO = Path(__file__).resolve().parents[2]
WHY = Provenance(actor="bench", source="bench", reason="benchmark")


def run(scale: float) -> None:
    schema = f"qrec_bench_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), store_url=PG_URL, pg_schema=schema,
                            api_addr=f"127.0.0.1:{free_port()}")
        try:
            measure(settings, scale)
        finally:
            drop_pg_schema(PG_URL, schema)


def measure(settings: Settings, scale: float) -> None:
    records = build_records(settings)
    people = People(records, build_credentials(settings))
    reader = people.create_api_key("bench-auditor", "auditor", WHY)
    engineer = people.create_api_key("bench-qe", "quality_engineer", WHY)
    gauge = long_record(records, max(20, int(EVENTS * scale)))
    reads = max(2 * CLIENTS, int(READS * scale))
    count = max(2 * CLIENTS, int(DISPOSITIONS * scale))
    http_ncs, local_ncs = open_nonconformances(records, "H", count), \
        open_nonconformances(records, "L", count)
    runner = build_projection_runner(settings, records=records)
    runner.acquire()
    runner.catch_up()
    runner.release()
    views = build_views_reader(settings)
    record_id = str(records.instrument(gauge).id)

    def local_history() -> Any:
        return read_history(records, f"instrument:{gauge}")

    def local_view() -> Any:
        with views.connect() as conn:
            return read_page(conn, HistoryRow.__table__, ("position",),  # type: ignore[arg-type]
                             equal={"record_id": record_id}, limit=100)

    with serving(settings) as url:
        auditor = {"Authorization": f"Bearer {reader}"}
        history = latencies(url, auditor, f"/api/v1/records/instrument:{gauge}/history", reads)
        view = latencies(url, auditor, f"/api/v1/views/history?record_id={record_id}"
                                       "&limit=100", reads)
        per_second = http_dispositions(url, engineer, http_ncs)
    report("api-history", f"history of a {len(local_history().events)}-event record",
           history, timed_calls(local_history, reads))
    report("api-view", "a 100-row page of the history view", view,
           timed_calls(local_view, reads))
    local_rate = local_dispositions(records, local_ncs)
    print(f"  dispositions: {per_second:,.0f}/s over HTTP, {local_rate:,.0f}/s in process "
          f"({CLIENTS} clients, {count} each)", flush=True)
    bench_line("api-disposition", per_second, "per_s", local_rate)
    records.close()


def long_record(records: Any, events: int) -> str:
    tag = "G-LONG"
    records.register_instrument(tag, "bore gauge", "mm", (10, 15), 0.001, 0.002, 180, "L1",
                                WHY)
    for k in range(events - 1):  # quarantined and released in turn
        change = records.release_instrument if k % 2 else records.quarantine_instrument
        change(tag, Provenance("bench", reason=f"check {k}"))
    return tag


def open_nonconformances(records: Any, prefix: str, count: int) -> list[str]:
    numbers = [f"NC-{prefix}-{i:05d}" for i in range(count)]
    for number in numbers:
        records.raise_nonconformance(number, "audit", "label missing", (), WHY, hold=False)
    return numbers


class serving:  # noqa: N801 - used as a context manager, like open()
    """`qrec serve` in its own process on the settings' stores, until the block ends."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"http://{settings.api_addr}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        s = self.settings
        env = {**os.environ, "QREC_DATA_DIR": str(s.data_dir), "QREC_STORE_URL": s.store_url,
               "QREC_PG_SCHEMA": s.pg_schema, "QREC_API_ADDR": s.api_addr,
               "QREC_BROKER_URL": ""}
        self.process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve"],
                                        cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"qrec serve did not answer at {self.url}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)


def latencies(url: str, headers: dict[str, str], path: str, count: int) -> list[float]:
    """Seconds each of ``count`` GETs took, from 16 clients at once (after a warm-up)."""
    local = threading.local()

    def get(_: int) -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=url, headers=headers, timeout=60)
        started = time.perf_counter()
        answer = client.get(path)
        answer.raise_for_status()
        return time.perf_counter() - started

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(get, range(CLIENTS)))  # warm-up: connections, caches
        return list(pool.map(get, range(count)))


def timed_calls(call: Callable[[], Any], count: int) -> list[float]:
    def timed(_: int) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(timed, range(CLIENTS)))
        return list(pool.map(timed, range(count)))


def http_dispositions(url: str, key: str, numbers: list[str]) -> float:
    local = threading.local()

    def disposition(number: str) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        answer = client.post(f"/api/v1/nonconformances/{number}/disposition",
                             json={"disposition": "scrap", "reason": "benchmark"},
                             headers={"Idempotency-Key": number})
        answer.raise_for_status()

    with ThreadPoolExecutor(CLIENTS) as pool:
        started = time.perf_counter()
        list(pool.map(disposition, numbers))
        return len(numbers) / (time.perf_counter() - started)


def local_dispositions(records: Any, numbers: list[str]) -> float:
    def disposition(number: str) -> None:
        records.disposition(number, "scrap", "bench-qe", WHY)

    with ThreadPoolExecutor(CLIENTS) as pool:
        started = time.perf_counter()
        list(pool.map(disposition, numbers))
        return len(numbers) / (time.perf_counter() - started)


def report(name: str, what: str, http: list[float], local: list[float]) -> None:
    def ms(samples: list[float], q: float) -> float:
        return percentile(samples, q) * 1000

    print(f"  {what}, {CLIENTS} clients, {len(http)} reads: over HTTP p50 {ms(http, 50):.1f} "
          f"ms p99 {ms(http, 99):.1f} ms; in process p50 {ms(local, 50):.1f} ms p99 "
          f"{ms(local, 99):.1f} ms", flush=True)
    bench_line(name, ms(http, 99), "ms_p99", ms(local, 99))
