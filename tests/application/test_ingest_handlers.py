"""The ingest handlers, driven through FastStream's TestNatsBroker (no server) on the real
SQLite event store: what gets recorded, what is dead-lettered and why."""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import orjson
import pytest
from faststream.nats import JStream, TestNatsBroker

from domain.inspection import inspection_id
from services.composition import build_records
from services.contracts import Topology
from services.ingest import IngestService, TimeoutsNatsCanName
from services.log_identity import log_id
from services.settings import Settings
from services.simulator import SAMPLE_MASTER_DATA, load_master_data

TOPOLOGY = Topology(prefix="handlers")


def inspection(message_id: str, line: str = "L1", **changes: Any) -> dict[str, Any]:
    body = {"schema": "qrec.inspection.v1", "message_id": message_id, "line": line,
            "station": "CMM-2", "lot": "LOT-0001", "part": "SN-1", "stage": "in_process",
            "plan": "IP-100", "inspector": "op-17", "occurred_at": "2026-11-26T12:00:00.123Z",
            "results": [{"characteristic": "bore_dia", "value": 12.003, "unit": "mm",
                         "gauge": "G-0042"}]}
    return body | changes


def send_all(settings: Settings, messages: list[tuple[str, bytes]]
             ) -> tuple[IngestService, list[dict[str, Any]]]:
    records = build_records(settings)
    load_master_data(records, SAMPLE_MASTER_DATA)
    service = IngestService(records, "nats://127.0.0.1:4222", TOPOLOGY,
                            log_id=log_id(settings))
    dead: list[dict[str, Any]] = []

    @service.broker.subscriber(TOPOLOGY.dlq("*"),
                               stream=JStream(TOPOLOGY.dlq_stream, declare=False))
    async def collect(body: dict[str, Any]) -> None:
        dead.append(body)

    async def scenario() -> None:
        async with TestNatsBroker(service.broker) as broker:
            for subject, body in messages:
                await broker.publish(body, subject)
            # A handler returns once its batch is committing; wait for the last commits.
            assert await service.ingest.settle(timeout=10)

    asyncio.run(scenario())
    return service, dead


def on_line(line: str, body: dict[str, Any] | bytes) -> tuple[str, bytes]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return TOPOLOGY.line_subject(line, "inspection"), data


def test_good_inspections_are_recorded_and_a_resent_message_id_is_recorded_once(
        sqlite_settings: Settings) -> None:
    service, dead = send_all(sqlite_settings, [
        on_line("L1", inspection("L1-1")), on_line("L1", inspection("L1-2")),
        on_line("L1", inspection("L1-1")),  # the line sends the first one again
    ])
    stats = service.ingest.stats
    assert (stats.recorded, stats.duplicates, dead) == (2, 1, [])
    inspection_record = service.ingest.records.repository.get(inspection_id("line:L1", "L1-1"))
    assert inspection_record.header.line == "L1"


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "bad JSON"),
    (orjson.dumps(inspection("L1-9", schema="qrec.inspection.v2")), "wrong schema"),
    (orjson.dumps(inspection("L1-9", stage="shipping")), "invalid message: stage"),
    (orjson.dumps(inspection("L1-9", plan="IP-999")), "no inspection plan record IP-999"),
    (orjson.dumps(inspection("L1-9", results=[{"characteristic": "bore_dia", "value": 1,
                                               "unit": "in"}])), "WrongUnit"),
    (orjson.dumps(inspection("L1-9", results=[{"characteristic": "colour", "value": 1,
                                               "unit": "mm"}])), "colour"),
    (orjson.dumps(inspection("L1-9", line="L2")), "came on handlers.line.L1.inspection"),
])
def test_a_message_that_cannot_be_interpreted_goes_to_the_dead_letters_with_its_reason(
        sqlite_settings: Settings, body: bytes, reason: str) -> None:
    service, dead = send_all(sqlite_settings, [on_line("L1", body),
                                               on_line("L1", inspection("L1-10"))])
    assert len(dead) == 1
    assert reason in dead[0]["reason"]
    assert dead[0]["subject"] == "handlers.line.L1.inspection"
    assert dead[0]["message"] == body.decode("utf-8", errors="replace")
    assert service.ingest.stats.recorded == 1  # the good one behind it is not held up


def test_readings_calibrations_and_lot_movements_are_recorded_and_unknown_ones_refused(
        sqlite_settings: Settings) -> None:
    reading = {"schema": "qrec.process.v1", "message_id": "L1-P-1", "line": "L1",
               "station": "OVEN-1", "lot": "LOT-0001", "operation": "cure",
               "parameter": "temperature", "value": 190.5, "unit": "degC",
               "occurred_at": "2026-11-26T12:00:00Z"}
    calibration = {"schema": "qrec.calibration.v1", "message_id": "LAB-1",
                   "instrument": "G-0042", "performed_at": "2026-11-26T09:00:00Z",
                   "performed_by": "tech-3", "certificate": "C-124", "result": "pass",
                   "points": [{"nominal": 12.0, "as_found": 12.0, "as_left": 12.0,
                               "unit": "mm"}]}
    shipped = {"schema": "qrec.lot.v1", "message_id": "ERP-1", "lot": "LOT-0001",
               "movement": "shipped", "customer": "ACME", "occurred_at": "2026-11-27T16:00:00Z"}
    service, dead = send_all(sqlite_settings, [
        on_line("L1", inspection("L1-1")),
        (TOPOLOGY.line_subject("L1", "process"), orjson.dumps(reading)),
        (TOPOLOGY.calibrations, orjson.dumps(calibration)),
        (TOPOLOGY.calibrations, orjson.dumps(calibration | {"message_id": "LAB-2",
                                                            "instrument": "G-9999"})),
        (TOPOLOGY.lot_movements, orjson.dumps(shipped)),
        (TOPOLOGY.lot_movements, orjson.dumps(shipped | {"lot": "LOT-404"})),
    ])
    assert service.ingest.stats.recorded == 4
    assert sorted(d["subject"] for d in dead) == [TOPOLOGY.lot_movements, TOPOLOGY.calibrations]
    assert all("RecordNotFound" in d["reason"] for d in dead)
    assert service.ingest.records.lot("LOT-0001").product == "P-7"


def test_a_fetch_that_times_out_the_asyncio_way_is_a_nats_timeout_so_the_pull_loop_goes_on(
        ) -> None:
    class LateFetch:
        async def fetch(self, batch: int, timeout: float) -> list[Any]:
            raise TimeoutError  # asyncio.TimeoutError: what nats-py raises past its deadline

    async def fetch_once() -> None:
        await TimeoutsNatsCanName(LateFetch()).fetch(10, timeout=0.1)

    with pytest.raises(nats.errors.TimeoutError):  # the one FastStream's loop catches
        asyncio.run(fetch_once())


def genealogy(message_id: str, lot: str, *consumed: str, **changes: Any) -> tuple[str, bytes]:
    body = {"schema": "qrec.genealogy.v1", "message_id": message_id, "lot": lot,
            "product": "P-9", "quantity": 500, "unit": "pcs",
            "consumed": [{"lot": c, "quantity": 100} for c in consumed],
            "occurred_at": "2026-11-27T10:00:00Z"} | changes
    return TOPOLOGY.genealogy, orjson.dumps(body)


def test_genealogy_is_recorded_once_and_a_cycle_or_unknown_lot_is_dead_lettered_with_why(
        sqlite_settings: Settings) -> None:
    service, dead = send_all(sqlite_settings, [
        genealogy("ERP-G-1", "RAW-1", supplier="SUP-1"),
        genealogy("ERP-G-2", "SUB-1", "RAW-1"),
        genealogy("ERP-G-3", "ASSY-1", "SUB-1"),
        genealogy("ERP-G-3", "ASSY-1", "SUB-1"),  # the ERP sends it again
        genealogy("ERP-G-4", "RAW-1", "ASSY-1"),  # RAW-1 made from what was made from it
        genealogy("ERP-G-5", "ASSY-2", "SUB-404"),
        genealogy("ERP-G-6", "ASSY-3", quantity=0),
    ])
    assert (service.ingest.stats.recorded, service.ingest.stats.duplicates) == (3, 1)
    reasons = sorted(d["reason"] for d in dead)
    assert len(reasons) == 3
    assert reasons[0].startswith("GenealogyCycle: genealogy cycle refused: "
                                 "RAW-1 -> SUB-1 -> ASSY-1 -> RAW-1")
    assert "RecordNotFound: no lot record SUB-404" in reasons[1]
    assert reasons[2].startswith("invalid message: quantity")
    records = service.ingest.records
    assert records.lot("RAW-1").consumers == ("SUB-1",)
    assert records.lot("RAW-1").components == []  # the refused cycle left nothing behind
    assert (records.lot("RAW-1").quantity, records.lot("RAW-1").supplier) == (500.0, "SUP-1")
