"""Simulated production lines: several lines, stations and gauges publishing inspection
results and process readings (contracts v1, docs/streams.md) at a steady rate, with the
occasional out-of-spec result, a lab calibrating the gauges, and the ERP shipping lots.

It also loads the sample master data (instruments, inspection and control plans) it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js import JetStreamContext

from domain.application import QualityRecords
from services.contracts import (
    CalibrationV1,
    InspectionV1,
    LotMovementV1,
    PointV1,
    ProcessV1,
    ResultV1,
    StandardV1,
    Topology,
)
from services.masterdata import MasterDataIn, import_master_data

SAMPLE_MASTER_DATA: dict[str, Any] = {
    "instruments": [
        {"tag": "G-0042", "kind": "bore gauge", "unit": "mm", "range": [10, 15],
         "resolution": 0.001, "tolerance": 0.002, "interval_days": 180, "location": "Line 1"},
        {"tag": "G-0043", "kind": "bore gauge", "unit": "mm", "range": [10, 15],
         "resolution": 0.001, "tolerance": 0.002, "interval_days": 180, "location": "Line 2"},
        {"tag": "C-0101", "kind": "caliper", "unit": "mm", "range": [0, 150],
         "resolution": 0.01, "tolerance": 0.02, "interval_days": 365, "location": "Line 1"},
        {"tag": "C-0102", "kind": "caliper", "unit": "mm", "range": [0, 150],
         "resolution": 0.01, "tolerance": 0.02, "interval_days": 365, "location": "Line 2"},
        {"tag": "H-0201", "kind": "height gauge", "unit": "mm", "range": [0, 300],
         "resolution": 0.001, "tolerance": 0.003, "interval_days": 365, "location": "Line 3"},
        {"tag": "G-0301", "kind": "bore gauge", "unit": "mm", "range": [5, 10],
         "resolution": 0.001, "tolerance": 0.002, "interval_days": 180, "location": "Line 3"},
    ],
    "inspection_plans": [
        {"id": "IP-100", "revision": "A", "product": "P-7", "stage": "in_process",
         "sample_size": 5, "characteristics": [
             {"id": "bore_dia", "nominal": 12.0, "lsl": 11.99, "usl": 12.01, "unit": "mm",
              "gauge_kind": "bore gauge"},
             {"id": "length", "nominal": 45.0, "lsl": 44.95, "usl": 45.05, "unit": "mm",
              "gauge_kind": "caliper"}]},
        {"id": "IP-200", "revision": "A", "product": "P-9", "stage": "final",
         "sample_size": 3, "characteristics": [
             {"id": "flatness", "nominal": 0.005, "lsl": 0.0, "usl": 0.02, "unit": "mm",
              "gauge_kind": "height gauge"},
             {"id": "bore_dia", "nominal": 8.0, "lsl": 7.992, "usl": 8.008, "unit": "mm",
              "gauge_kind": "bore gauge"}]},
    ],
    "control_plans": [
        {"id": "CP-7", "revision": "A", "product": "P-7", "operations": [
            {"id": "cure", "parameters": [
                {"name": "temperature", "unit": "degC", "target": 180, "lsl": 175, "usl": 185,
                 "reaction": "hold lot, notify quality engineer"},
                {"name": "pressure", "unit": "bar", "target": 6.0, "lsl": 5.5, "usl": 6.5,
                 "reaction": "adjust and re-check"}]}]},
        {"id": "CP-9", "revision": "A", "product": "P-9", "operations": [
            {"id": "anneal", "parameters": [
                {"name": "temperature", "unit": "degC", "target": 450, "lsl": 440, "usl": 460,
                 "reaction": "hold lot, notify quality engineer"}]}]},
    ],
}


def load_master_data(records: QualityRecords, data: dict[str, Any], actor: str = "simulator"
                     ) -> None:
    """Master data of the import-file shape (README, services/samples/masterdata.yaml), as
    `qrec import` loads it; loading twice is a no-op."""
    import_master_data(records, MasterDataIn.model_validate(data), actor)


@dataclass(frozen=True)
class Line:
    name: str
    plan: str
    stage: str
    stations: tuple[str, ...]
    gauges: dict[str, str]  # characteristic -> gauge tag
    operation: str
    oven: str
    parameters: tuple[str, ...]


LINES = (
    Line("L1", "IP-100", "in_process", ("CMM-1", "CMM-2"), {"bore_dia": "G-0042",
         "length": "C-0101"}, "cure", "OVEN-1", ("temperature", "pressure")),
    Line("L2", "IP-100", "in_process", ("CMM-3",), {"bore_dia": "G-0043",
         "length": "C-0102"}, "cure", "OVEN-2", ("temperature", "pressure")),
    Line("L3", "IP-200", "final", ("FQC-1",), {"flatness": "H-0201", "bore_dia": "G-0301"},
         "anneal", "FURNACE-1", ("temperature",)),
)


class LineSimulator:
    """Deterministic for a seed: message ids carry a run token, so a restarted simulator
    never repeats an id an earlier run used."""

    def __init__(self, topology: Topology, seed: int | None = None, out_of_spec: float = 0.02,
                 bad_messages: float = 0.002, lot_size: int = 200) -> None:
        self.topology = topology
        self.random = random.Random(seed)
        self.out_of_spec, self.bad_messages, self.lot_size = out_of_spec, bad_messages, lot_size
        self.run = format(int(time.time()), "x")
        self.counts = dict.fromkeys((line.name for line in LINES), 0)
        self.limits = self._limits()
        self.published = 0

    def _limits(self) -> dict[tuple[str, str], tuple[float, float, float, str]]:
        out = {}
        for p in SAMPLE_MASTER_DATA["inspection_plans"]:
            for c in p["characteristics"]:
                out[(p["id"], c["id"])] = (c["nominal"], c["lsl"], c["usl"], c["unit"])
        for cp in SAMPLE_MASTER_DATA["control_plans"]:
            for o in cp["operations"]:
                for x in o["parameters"]:
                    out[(o["id"], x["name"])] = (x["target"], x["lsl"], x["usl"], x["unit"])
        return out

    def value(self, key: tuple[str, str]) -> tuple[float, str]:
        nominal, lsl, usl, unit = self.limits[key]
        half = (usl - lsl) / 2
        if self.random.random() < self.out_of_spec:
            return round(nominal + self.random.choice((-1, 1)) * half * 1.3, 4), unit
        return round(self.random.gauss(nominal, half / 4), 4), unit

    def lot(self, line: Line, n: int) -> str:
        return f"{line.name}-LOT-{self.run}-{n // self.lot_size:04d}"

    def inspection(self, line: Line, now: datetime) -> tuple[str, bytes, str]:
        n = self.counts[line.name] = self.counts[line.name] + 1
        results = []
        for char, gauge in line.gauges.items():
            value, unit = self.value((line.plan, char))
            if self.random.random() < self.bad_messages:
                unit = "in"  # a station misconfigured: refused, dead-lettered with the reason
            results.append(ResultV1(characteristic=char, value=value, unit=unit, gauge=gauge))
        msg = InspectionV1(message_id=f"{line.name}-{self.run}-{n:07d}", line=line.name,
                           station=self.random.choice(line.stations), lot=self.lot(line, n),
                           part=f"SN-{line.name}-{self.run}-{n:07d}", stage=line.stage,
                           plan=line.plan, inspector=f"op-{self.random.randint(10, 30)}",
                           occurred_at=now, results=results)
        return self.topology.line_subject(line.name, "inspection"), msg.to_json(), \
            f"{line.name}:{msg.message_id}"

    def reading(self, line: Line, now: datetime) -> tuple[str, bytes, str]:
        n = self.counts[line.name]
        parameter = self.random.choice(line.parameters)
        value, unit = self.value((line.operation, parameter))
        msg = ProcessV1(message_id=f"{line.name}-P-{self.run}-{n:07d}", line=line.name,
                        station=line.oven, lot=self.lot(line, n), operation=line.operation,
                        parameter=parameter, value=value, unit=unit, occurred_at=now)
        return self.topology.line_subject(line.name, "process"), msg.to_json(), \
            f"{line.name}:{msg.message_id}"

    def calibrations(self, now: datetime) -> Iterator[tuple[str, bytes, str]]:
        for i in SAMPLE_MASTER_DATA["instruments"]:
            nominal = (i["range"][0] + i["range"][1]) / 2
            msg = CalibrationV1(
                message_id=f"LAB-{self.run}-{i['tag']}", instrument=i["tag"],
                performed_at=now - timedelta(days=1), performed_by="tech-3",
                certificate=f"C-{self.run}-{i['tag']}",
                standard=StandardV1(tag="REF-7", certificate="NMI-2026-77"),
                uncertainty=i["resolution"] / 2, result="pass",
                points=[PointV1(nominal=nominal, as_found=nominal, as_left=nominal,
                                unit=i["unit"])])
            yield self.topology.calibrations, msg.to_json(), f"lab:{msg.message_id}"

    def shipment(self, line: Line, n: int, now: datetime) -> tuple[str, bytes, str]:
        lot = self.lot(line, n - self.lot_size)
        msg = LotMovementV1(message_id=f"ERP-{lot}", lot=lot, movement="shipped",
                            customer=self.random.choice(("ACME", "Globex", "Initech")),
                            occurred_at=now)
        return self.topology.lot_movements, msg.to_json(), f"erp:{msg.message_id}"

    def tick(self, now: datetime) -> Iterator[tuple[str, bytes, str]]:
        """One inspection per line, a reading now and then, a shipment per finished lot."""
        for line in LINES:
            yield self.inspection(line, now)
            n = self.counts[line.name]
            if n % 3 == 0:
                yield self.reading(line, now)
            if n % self.lot_size == 0 and n > self.lot_size:
                yield self.shipment(line, n, now)

    async def run_until(self, js: JetStreamContext, stop: asyncio.Event,
                        rate: float = 30.0) -> None:
        """Publish about `rate` ticks a second (each a message per line) until stopped."""
        await self.publish(js, list(self.calibrations(datetime.now(UTC))))
        while not stop.is_set():
            started = time.monotonic()
            await self.publish(js, list(self.tick(datetime.now(UTC))))
            pause = max(0.0, 1 / rate - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def publish(self, js: JetStreamContext, messages: list[tuple[str, bytes, str]]
                      ) -> None:
        """Lines set Nats-Msg-Id, so a message they re-send in the window is dropped."""
        acks = [await js.publish_async(subject, body, headers={"Nats-Msg-Id": msg_id})
                for subject, body, msg_id in messages]
        await asyncio.gather(*acks)
        self.published += len(messages)
