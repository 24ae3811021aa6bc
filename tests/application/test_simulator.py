"""The simulated plant is a believable one: in control but for its occasional special
causes (a shift, a drift, a gauge going bad), which it announces the way a plant does: the
ERP names each lot with its quantity and what it was made from, the lab finds the bad
gauge out of tolerance."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson

from services.contracts import Topology
from services.simulator import FIRST_EPISODES, LINES, SAMPLE_MASTER_DATA, LineSimulator

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
LIMITS = {(p["id"], c["id"]): (c["lsl"], c["usl"])
          for p in SAMPLE_MASTER_DATA["inspection_plans"] for c in p["characteristics"]}


def run(ticks: int) -> tuple[LineSimulator, list[tuple[str, dict]]]:
    sim = LineSimulator(Topology(), seed=11, bad_messages=0.0)
    sent = [(subject, orjson.loads(body)) for k in range(ticks)
            for subject, body, _ in sim.tick(T0 + timedelta(seconds=k))]
    return sim, sent


def out_of_spec(sent: list[tuple[str, dict]], line: str, first: int, last: int) -> int:
    count = 0
    for _subject, m in sent:
        if m.get("schema") != "qrec.inspection.v1" or m["line"] != line:
            continue
        n = int(m["message_id"].rsplit("-", 1)[-1])  # the line's inspection count
        if first <= n <= last:
            for r in m["results"]:
                lsl, usl = LIMITS[(m["plan"], r["characteristic"])]
                count += not lsl <= r["value"] <= usl
    return count


def test_the_lines_are_in_control_until_their_first_special_cause() -> None:
    _sim, sent = run(1200)
    for line in LINES:
        start, _kind = FIRST_EPISODES[line.name]
        assert out_of_spec(sent, line.name, 1, start - 1) <= 1, line.name  # Cp 1.5


def test_a_shift_drift_or_bad_gauge_puts_units_out_of_spec_and_the_lab_finds_the_gauge(
        ) -> None:
    _sim, sent = run(1200)
    for line in LINES:
        start, _kind = FIRST_EPISODES[line.name]
        assert out_of_spec(sent, line.name, start, start + 60) >= 2, line.name
    failed = [m for s, m in sent if s == "qrec.lab.calibration" and m["result"] == "fail"]
    l2_gauges = set(next(line for line in LINES if line.name == "L2").gauges.values())
    assert failed and failed[0]["instrument"] in l2_gauges  # L2's first trouble: bad gauge


def test_the_erp_names_each_lot_and_what_the_final_line_made_it_from() -> None:
    sim, sent = run(450)
    genealogy = [m for s, m in sent if s == "qrec.erp.genealogy"]
    assert Counter(m["lot"].split("-")[0] for m in genealogy) == {"L1": 5, "L2": 5, "L3": 5}
    assert all(m["quantity"] == 500 and m["unit"] == "pcs" for m in genealogy)
    made = [m for m in genealogy if m["lot"].startswith("L3") and m["consumed"]]
    assert made and {c["lot"].split("-")[0] for c in made[0]["consumed"]} == {"L1", "L2"}
    shipped = [m["lot"] for s, m in sent if s == "qrec.erp.lot"]
    assert shipped and all(lot.startswith("L3") for lot in shipped)
    assert sim.counts == {"L1": 450, "L2": 450, "L3": 450}
