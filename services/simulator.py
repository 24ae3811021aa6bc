"""Simulated production lines, believable ones: processes mostly in control, with now and
then a shift, a drift or a gauge going bad, which the SPC charts, the lots' acceptance by
sampling and the lab's calibrations then catch. Lines publish inspection results and
process readings (contracts v1, docs/streams.md); the ERP announces each lot with its
quantity and, for the final line, the lots it is made from (qrec.genealogy.v1), and ships
finished lots; the lab calibrates the gauges now and then, and finds the one that went bad
out of tolerance.

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
    ComponentV1,
    GenealogyV1,
    InspectionV1,
    LotMovementV1,
    PointV1,
    ProcessV1,
    ResultV1,
    StandardV1,
    Topology,
)
from services.masterdata import MasterDataIn, import_master_data

SPC: dict[str, Any] = {"spc_rules": ["nelson-1", "nelson-2", "nelson-3"], "spc_baseline": 50}
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
        # Lots are sampled (ISO 2859-1, level II, AQL 1.0; 500 parts a lot until the ERP
        # says otherwise): an out-of-spec unit counts against its lot's acceptance number;
        # the charts watch for shifts (nelson-2) and trends (nelson-3), their limits set by
        # the first 50 results.
        {"id": "IP-100", "revision": "A", "product": "P-7", "stage": "in_process",
         "sample_size": 5, "sampling": {"level": "II", "aql": 1.0, "lot_size": 500},
         "characteristics": [
             {"id": "bore_dia", "nominal": 12.0, "lsl": 11.99, "usl": 12.01, "unit": "mm",
              "gauge_kind": "bore gauge", "reaction": "sampled", **SPC},
             {"id": "length", "nominal": 45.0, "lsl": 44.95, "usl": 45.05, "unit": "mm",
              "gauge_kind": "caliper", "reaction": "sampled", **SPC}]},
        # Final inspection: the bore is sampled; a flatness out of spec stops the line.
        {"id": "IP-200", "revision": "A", "product": "P-9", "stage": "final",
         "sample_size": 3, "sampling": {"level": "II", "aql": 1.0, "lot_size": 500},
         "characteristics": [
             {"id": "flatness", "nominal": 0.01, "lsl": 0.0, "usl": 0.02, "unit": "mm",
              "gauge_kind": "height gauge", "reaction": "stop_line", **SPC},
             {"id": "bore_dia", "nominal": 8.0, "lsl": 7.992, "usl": 8.008, "unit": "mm",
              "gauge_kind": "bore gauge", "reaction": "sampled", **SPC}]},
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
    product: str
    made_from: tuple[str, ...] = ()  # lines whose finished lots go into this line's lots


LINES = (
    Line("L1", "IP-100", "in_process", ("CMM-1", "CMM-2"), {"bore_dia": "G-0042",
         "length": "C-0101"}, "cure", "OVEN-1", ("temperature", "pressure"), "P-7"),
    Line("L2", "IP-100", "in_process", ("CMM-3",), {"bore_dia": "G-0043",
         "length": "C-0102"}, "cure", "OVEN-2", ("temperature", "pressure"), "P-7"),
    Line("L3", "IP-200", "final", ("FQC-1",), {"flatness": "H-0201", "bore_dia": "G-0301"},
         "anneal", "FURNACE-1", ("temperature",), "P-9", made_from=("L1", "L2")),
)
SIGMAS_TO_LIMIT = 4.5  # in control: each process sits 4.5 sigma inside its limits (Cp 1.5)
LOT_QUANTITY = 500  # parts per lot, as the ERP counts them (code letter H at level II)
# The first trouble on each line comes at a known inspection, so a minute of `make run`
# shows each kind caught; later ones come at random (about one per line every 2,000).
FIRST_EPISODES = {"L1": (300, "shift"), "L2": (700, "bad_gauge"), "L3": (500, "drift")}
EPISODE_CHANCE = 1 / 2000
CALIBRATE_EVERY = 600  # inspections of a line between the lab's routine calibrations
# How long a special cause lasts (inspections) and how far it moves the values (sigmas)
# before someone acts on it: the operator re-centres a shift, resets a drift; the lab
# finds the bad gauge.
EPISODES = {"shift": (40, 3.0), "drift": (60, 5.0), "bad_gauge": (60, 3.5)}


@dataclass
class Episode:
    """A special cause on a line: the mean of one characteristic shifts, drifts away, or
    its gauge reads off (``size`` sigmas, over ``length`` inspections from ``start``)."""

    kind: str  # shift, drift or bad_gauge
    characteristic: str
    start: int
    length: int
    size: float

    def offset(self, n: int) -> float:
        if self.kind == "drift":
            return self.size * (n - self.start) / self.length
        return self.size

    def over(self, n: int) -> bool:
        return n >= self.start + self.length


class LineSimulator:
    """Deterministic for a seed: message ids carry a run token, so a restarted simulator
    never repeats an id an earlier run used."""

    def __init__(self, topology: Topology, seed: int | None = None,
                 bad_messages: float = 0.002, lot_size: int = 100) -> None:
        self.topology = topology
        self.random = random.Random(seed)
        self.bad_messages, self.lot_size = bad_messages, lot_size  # inspections per lot
        self.run = format(int(time.time()), "x")
        self.counts = dict.fromkeys((line.name for line in LINES), 0)
        self.limits = self._limits()
        self.episodes: dict[str, Episode | None] = dict.fromkeys(self.counts)
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

    def value(self, key: tuple[str, str], offset: float = 0.0) -> tuple[float, str]:
        """A value of a process in control, moved ``offset`` sigmas by a special cause."""
        nominal, lsl, usl, unit = self.limits[key]
        centre = (lsl + usl) / 2 if nominal is None else nominal
        sigma = min(usl - centre, centre - lsl) / SIGMAS_TO_LIMIT
        return round(self.random.gauss(centre + offset * sigma, sigma), 5), unit

    def lot(self, line: Line, n: int) -> str:
        return f"{line.name}-LOT-{self.run}-{n // self.lot_size:04d}"

    def trouble(self, line: Line, n: int) -> Episode | None:
        """The special cause at work on the line at its ``n``th inspection, if any."""
        episode = self.episodes[line.name]
        if episode is not None and episode.over(n):
            episode = self.episodes[line.name] = None
        first_at, first_kind = FIRST_EPISODES[line.name]
        if episode is None and (n == first_at or self.random.random() < EPISODE_CHANCE):
            kind = first_kind if n == first_at else self.random.choice(
                ("shift", "drift", "bad_gauge"))
            characteristic = self.random.choice(list(line.gauges))
            length, size = EPISODES[kind]
            episode = self.episodes[line.name] = Episode(kind, characteristic, n, length, size)
        return episode

    def inspection(self, line: Line, now: datetime) -> tuple[str, bytes, str]:
        n = self.counts[line.name] = self.counts[line.name] + 1
        episode = self.trouble(line, n)
        results = []
        for char, gauge in line.gauges.items():
            off = episode.offset(n) if episode and episode.characteristic == char else 0.0
            value, unit = self.value((line.plan, char), off)
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

    def calibration(self, tag: str, now: datetime, found_off: float = 0.0
                    ) -> tuple[str, bytes, str]:
        """The lab's calibration of a gauge: passing, or as found ``found_off`` out (fail,
        then adjusted back)."""
        i = next(g for g in SAMPLE_MASTER_DATA["instruments"] if g["tag"] == tag)
        nominal = (i["range"][0] + i["range"][1]) / 2
        stamp = format(int(now.timestamp() * 1000), "x")
        msg = CalibrationV1(
            message_id=f"LAB-{self.run}-{tag}-{stamp}", instrument=tag,
            performed_at=now, performed_by="tech-3", certificate=f"C-{self.run}-{tag}-{stamp}",
            standard=StandardV1(tag="REF-7", certificate="NMI-2026-77"),
            uncertainty=i["resolution"] / 2, result="fail" if found_off else "pass",
            points=[PointV1(nominal=nominal, as_found=nominal + found_off, as_left=nominal,
                            unit=i["unit"])])
        return self.topology.calibrations, msg.to_json(), f"lab:{msg.message_id}"

    def calibrations(self, now: datetime) -> Iterator[tuple[str, bytes, str]]:
        for i in SAMPLE_MASTER_DATA["instruments"]:
            yield self.calibration(i["tag"], now - timedelta(days=1))

    def genealogy(self, line: Line, n: int, now: datetime) -> tuple[str, bytes, str]:
        """The ERP announces the line's new lot with its quantity; a lot of the final line
        is made from the last finished lot of each line feeding it."""
        lot = self.lot(line, n)
        consumed = [ComponentV1(lot=self.lot(feeder, self.counts[feeder.name] - self.lot_size),
                                quantity=LOT_QUANTITY / len(line.made_from))
                    for feeder in LINES if feeder.name in line.made_from
                    and self.counts[feeder.name] >= self.lot_size]
        msg = GenealogyV1(message_id=f"ERP-G-{lot}", lot=lot, product=line.product,
                          quantity=LOT_QUANTITY, unit="pcs", consumed=consumed,
                          occurred_at=now)
        return self.topology.genealogy, msg.to_json(), f"erp:{msg.message_id}"

    def shipment(self, line: Line, n: int, now: datetime) -> tuple[str, bytes, str]:
        lot = self.lot(line, n - self.lot_size)
        msg = LotMovementV1(message_id=f"ERP-{lot}", lot=lot, movement="shipped",
                            customer=self.random.choice(("ACME", "Globex", "Initech")),
                            occurred_at=now)
        return self.topology.lot_movements, msg.to_json(), f"erp:{msg.message_id}"

    def lab(self, line: Line, n: int, now: datetime) -> Iterator[tuple[str, bytes, str]]:
        """A gauge that read off is found out of tolerance when its episode ends; every
        gauge of the line is calibrated now and then (a new period for reverse traces)."""
        episode = self.episodes[line.name]
        if episode is not None and episode.kind == "bad_gauge" and episode.over(n + 1):
            tag = line.gauges[episode.characteristic]
            nominal, lsl, usl, _ = self.limits[(line.plan, episode.characteristic)]
            off = episode.size * min(usl - nominal, nominal - lsl) / SIGMAS_TO_LIMIT
            yield self.calibration(tag, now, found_off=off)
        if n % CALIBRATE_EVERY == 0:
            for tag in line.gauges.values():
                yield self.calibration(tag, now)

    def tick(self, now: datetime) -> Iterator[tuple[str, bytes, str]]:
        """One inspection per line, a reading now and then, the ERP's word on each new lot
        and each finished lot of the final line, and the lab's."""
        for line in LINES:
            if self.counts[line.name] % self.lot_size == 0:
                yield self.genealogy(line, self.counts[line.name] + 1, now)
            yield self.inspection(line, now)
            n = self.counts[line.name]
            if n % 3 == 0:
                yield self.reading(line, now)
            if n % self.lot_size == 0 and n > self.lot_size and line.made_from:
                yield self.shipment(line, n, now)  # finished goods; the others go into them
            yield from self.lab(line, n, now)

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
