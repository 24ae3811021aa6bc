"""`qrec demo`: a finite plant scenario on a fresh data dir, told as it happens."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic

from domain.acceptance import LotAcceptance
from domain.application import QualityRecords
from domain.calibration import ReferenceStandard, TestPoint
from domain.corrective_action import PlannedAction
from domain.genealogy import Component
from domain.inspection import Measurement
from domain.lot import lot_id
from domain.nonconformance import Nonconformance
from domain.records import Provenance
from domain.reports import (
    CalibrationReport,
    GenealogyReport,
    InspectionReport,
    LotMovementReport,
    ReadingReport,
)
from domain.spc import ControlChart
from projections.ledger.audit import verify_store
from services.composition import build_ledger, build_records
from services.masterdata import import_master_data, read_master_data
from services.policy_runner import PolicyRunner, build_tracked_records
from services.settings import Settings

LINES = {"L1": ("CMM-1", "G-0042"), "L2": ("CMM-2", "G-0043"), "L3": ("CMM-3", "G-0044")}
START = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
SHIFTED_LOT = "LOT-L1-00"  # its bores run oversize for a while: its sample finds them


def sample_master_data_path() -> Path:
    return Path(str(resources.files("services.samples") / "masterdata.yaml"))


def run_demo(data_dir: Path, messages: int = 1500, say: Callable[[str], None] = print,
             seed: int = 7) -> QualityRecords:
    app = build_records(Settings(data_dir=data_dir))
    rng = random.Random(seed)
    say(f"qrec demo: a fresh plant in {data_dir}")
    summary = import_master_data(app, read_master_data(sample_master_data_path()), "qe-anna")
    say("1. master data imported:\n   " + str(summary).replace("\n", "\n   "))

    started = time.perf_counter()
    reports = [_inspection(i, rng) for i in range(messages)]
    outcomes = Counter[str]()
    for k in range(0, len(reports), 250):
        outcomes.update(o.status for o in app.record_inspections(reports[k:k + 250]))
    elapsed = time.perf_counter() - started
    results = sum(len(r.results) for r in reports)
    say(f"2. three lines reported {messages} inspections ({results} results) in "
        f"{elapsed:.2f}s: {dict(outcomes)}")
    resent = app.record_inspections(reports[:100])
    say(f"3. line L1 re-sent 100 messages after a network fault: "
        f"{Counter(o.status for o in resent)['duplicate']} recognised as already recorded")
    bad = [InspectionReport("L1-bad-1", "L1", "CMM-1", "LOT-L1-01", "in_process", "IP-100",
                            "op-17", START, (Measurement("bore_dia", 0.4724, "in", "G-0042"),)),
           InspectionReport("L1-bad-2", "L1", "CMM-1", "LOT-L1-01", "in_process", "IP-999",
                            "op-17", START, (Measurement("bore_dia", 12.0, "mm", "G-0042"),))]
    for o in app.record_inspections(bad):
        say(f"4. rejected a message that cannot be interpreted: {o.reason}")
    readings = [ReadingReport(f"L1-P-{i:04d}", "L1", "OVEN-1", f"LOT-L1-{i % 4:02d}", "cure",
                              "temperature", round(rng.gauss(180, 1.5), 1), "degC",
                              START + timedelta(minutes=i)) for i in range(200)]
    readings.append(ReadingReport("L1-P-9999", "L1", "OVEN-1", "LOT-L1-03", "cure",
                                  "temperature", 188.2, "degC", START + timedelta(hours=4)))
    recorded: list[Any] = [app.repository.get(o.record_id)
                           for o in app.record_readings(readings) if o.record_id]
    out = sum(not reading.within_limits for reading in recorded)
    say(f"5. oven OVEN-1 reported {len(readings)} cure temperatures; {out} outside 175-185 degC")
    _genealogy(app, say)
    policies = PolicyRunner(build_tracked_records(Settings(data_dir=data_dir)))
    _policies(policies, say)
    _calibrations(app, policies, say)
    _nonconformance_story(app, say)
    _ledger(app, data_dir, say)
    say(f"done: {app.recorder.max_notification_id()} events recorded in {data_dir}")
    return app


def _genealogy(app: QualityRecords, say: Callable[[str], None]) -> None:
    """Assemblies made from the lines' lots: lot ASSY-k from LOT-L2-k and LOT-L3-k; the
    first one is shipped."""
    made = []
    for k in range(5):
        parts = [f"LOT-{line}-{k:02d}" for line in ("L2", "L3")]
        if not all(app.exists(lot_id(p)) for p in parts):
            break
        app.record_genealogy(GenealogyReport(
            f"ERP-G-{k}", f"ASSY-{k:02d}", "P-9", 200, "pcs",
            tuple(Component(p, 100) for p in parts), START + timedelta(hours=2 + k)))
        made.append(f"ASSY-{k:02d}")
    app.record_lot_movement(LotMovementReport("ERP-000977", made[0], "shipped", "Globex",
                                              START + timedelta(hours=7)))
    say(f"6. the ERP reported {len(made)} assemblies (ASSY-nn, each made from a lot of L2 "
        f"and one of L3) and shipped {made[0]} to Globex; `qrec trace lot:LOT-L2-00 "
        "--forward` walks it")


def _policies(runner: PolicyRunner, say: Callable[[str], None]) -> None:
    read = runner.catch_up()
    records = runner.records
    raised = [e for e in _events(records, Nonconformance.Raised)
              if e.provenance.source == "policy"]
    decisions = _events(records, LotAcceptance.Decided)
    decided = Counter(e.verdict for e in decisions)
    plans = sorted({f"n {e.sample_size}, Ac {e.acceptance}, Re {e.rejection}"
                    for e in decisions})
    alarms = len(_events(records, ControlChart.AlarmRaised))
    say(f"7. the policies read {read} events and reacted: lots decided by their samples "
        f"(ISO 2859-1, {'; '.join(plans)}): {decided['accepted']} accepted, "
        f"{decided['rejected']} rejected and held; {len(raised)} nonconformances opened "
        f"by themselves, {alarms} SPC alarms")
    for e in raised:
        say(f"    {e.number} on {', '.join(e.lots)}: {e.description}")


def _number_of(app: QualityRecords, nc_id: Any) -> str:
    nc: Any = app.repository.get(nc_id)
    assert isinstance(nc, Nonconformance)
    return nc.number


def _events(records: QualityRecords, cls: type) -> list[Any]:
    return [records.mapper.to_domain_event(n) for n in records.recorder.select_notifications(
        start=None, limit=1_000_000, topics=[get_topic(cls)])]


def _ledger(app: QualityRecords, data_dir: Path, say: Callable[[str], None]) -> None:
    ledger = build_ledger(Settings(data_dir=data_dir), app)
    checkpoint = ledger.catch_up(seal=True)[-1]
    report = verify_store(ledger, app.recorder, ledger.keyring.public_keys())
    verdict = f"intact, {report.checked} events" if report.ok else f"FAILED {report.finding}"
    say(f"12. the ledger signed a checkpoint over {checkpoint.tree_size} events "
        f"(root {checkpoint.root_hash.hex()[:16]}...); audit verify: {verdict}")


def _inspection(i: int, rng: random.Random) -> InspectionReport:
    line = ("L1", "L2", "L3")[i % 3]
    station, gauge = LINES[line]
    lot = f"LOT-{line}-{(i // 3) // 100:02d}"
    # in control (the bore 5 sigma inside its limits), except a while in LOT-L1-00 (after
    # the first 30 units, which set the control limits) when the honing tool wears and the
    # bores run oversize
    shifted = lot == SHIFTED_LOT and 32 <= (i // 3) % 100 < 50
    bore = round(rng.gauss(12.009 if shifted else 12.0, 0.002), 4)
    flange = round(rng.gauss(4.5, 0.01), 4)
    return InspectionReport(
        message_id=f"{line}-{i:06d}", line=line, station=station, lot=lot, stage="in_process",
        plan="IP-100", inspector=f"op-{10 + i % 7}", occurred_at=START + timedelta(seconds=i),
        results=(Measurement("bore_dia", bore, "mm", gauge),
                 Measurement("flange_thk", flange, "mm", "M-0101")))


def _calibrations(app: QualityRecords, policies: PolicyRunner,
                  say: Callable[[str], None]) -> None:
    report = CalibrationReport(
        message_id="LAB-2026-0042", instrument="G-0043",
        performed_at=START + timedelta(hours=8), performed_by="tech-3", certificate="C-124",
        standard=ReferenceStandard("REF-7", "NMI-2026-77"), uncertainty=0.0005,
        points=(TestPoint(12.0, 12.004, 12.0005, "mm"),), result="fail")
    app.record_calibration(report)
    gauge = app.instrument("G-0043")
    say(f"8. the lab found G-0043 out of tolerance (as found 12.004 mm at 12.000) and "
        f"adjusted it: status {gauge.status}, next due {gauge.next_due:%Y-%m-%d}")
    overdue = app.instrument("G-0044").condition_at(START)
    say(f"   G-0044 was {overdue} when line L3 used it: its results are recorded and marked")
    policies.catch_up()
    trace = app.nonconformance("NC-CAL-G-0043-3")
    say(f"   reverse trace: {trace.description}")
    by_status = Counter(s.status for s in trace.suspects)
    say(f"   suspect lots by status: {dict(by_status)}; tasks: {', '.join(trace.tasks)}")


def _nonconformance_story(app: QualityRecords, say: Callable[[str], None]) -> None:
    lot = SHIFTED_LOT
    (nc_id,) = app.lot(lot).open_nonconformances
    number = _number_of(app, nc_id)
    qe = Provenance(actor="qe-anna", reason=f"{lot} rejected by sampling",
                    signature_meaning="responsibility")
    app.record_containment(number, "lot segregated in quarantine cage Q2", qe)
    say(f"9. {lot} was rejected by its sample: {number} raised by the policy, lot held "
        f"(on hold: {app.lot(lot).on_hold}), contained")
    app.disposition(number, "rework", "mrb-chair",
                    Provenance(actor="mrb-chair", reason="hone bores to size",
                               signature_meaning="approval"))
    app.open_inspection("RI-0001", lot, "in_process", "IP-100", "op-12",
                        Provenance(actor="op-12"))
    app.record_results("RI-0001", (Measurement("bore_dia", 12.002, "mm", "G-0042"),
                                   Measurement("flange_thk", 4.5, "mm", "M-0101")),
                       Provenance(actor="op-12", occurred_at=START + timedelta(hours=9)))
    verdict = app.close_inspection("RI-0001", Provenance(actor="op-12")).verdict
    app.close_nonconformance(number, Provenance(actor="qe-anna", reason="rework verified"))
    app.release_lot(lot, Provenance(actor="qe-anna", reason="re-inspection accepted"))
    say(f"10. reworked, re-inspected ({verdict}), {number} closed, {lot} released")
    app.open_corrective_action("CA-0001", number, "bores oversize on line L1",
                               Provenance(actor="qe-anna"))
    prov = Provenance(actor="qe-anna")
    app.update_corrective_action("CA-0001", lambda ca, now: ca.record_root_cause(
        "worn honing tool", "5 whys", prov, now))
    app.update_corrective_action("CA-0001", lambda ca, now: ca.plan_action(PlannedAction(
        "tool life limit in the control plan", "eng-tom", START + timedelta(days=7)), prov, now))
    app.update_corrective_action("CA-0001", lambda ca, now: ca.complete_action(
        0, "CP-7 rev B", prov, now))
    app.update_corrective_action("CA-0001", lambda ca, now: ca.check_effectiveness(
        True, "30 days without recurrence", prov, now))
    app.update_corrective_action("CA-0001", lambda ca, now: ca.close(
        Provenance(actor="qe-anna", reason="effective"), now))
    app.record_lot_movement(LotMovementReport("ERP-000981", lot, "shipped", "ACME",
                                              START + timedelta(days=1)))
    events = app.history(app.lot(lot).id)
    say(f"11. CA-0001 closed as effective; {lot} shipped to ACME. Its history has "
        f"{len(events)} events: " + ", ".join(type(e).__name__ for e in events))
