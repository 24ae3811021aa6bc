"""`qrec import` and `qrec demo`, driven as a quality engineer would."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import qrec

MASTER_DATA = {
    "instruments": [{"tag": "G-0042", "kind": "bore gauge", "unit": "mm", "range": [10, 15],
                     "resolution": 0.001, "tolerance": 0.002, "interval_days": 180,
                     "location": "Line 1", "calibrated_on": "2026-10-01",
                     "certificate": "C-123"}],
    "inspection_plans": [{"id": "IP-100", "revision": "A", "product": "P-7",
                          "stage": "in_process", "sample_size": 5, "characteristics": [
                              {"id": "bore_dia", "nominal": 12.0, "lsl": 11.99, "usl": 12.01,
                               "unit": "mm", "gauge_kind": "bore gauge"}]}],
    "control_plans": [{"id": "CP-7", "revision": "A", "product": "P-7", "operations": [
        {"id": "cure", "parameters": [{"name": "temperature", "unit": "degC", "target": 180,
                                       "lsl": 175, "usl": 185,
                                       "reaction": "hold lot, notify quality engineer"}]}]}],
}


def test_importing_the_documented_master_data_file_records_it_once(tmp_path: Path) -> None:
    source = tmp_path / "plant.json"
    source.write_text(json.dumps(MASTER_DATA))
    first = qrec("import", str(source), data_dir=tmp_path / "data")
    assert first.returncode == 0, first.stderr
    assert "instruments: 1 new" in first.stdout
    assert "inspection plans: 1 new" in first.stdout and "control plans: 1 new" in first.stdout
    again = qrec("import", str(source), data_dir=tmp_path / "data")
    assert again.returncode == 0, again.stderr
    assert "instruments: 0 new, 1 already recorded" in again.stdout
    assert "inspection plans: 0 new, 1 already recorded" in again.stdout


def test_the_sample_yaml_master_data_imports(tmp_path: Path) -> None:
    sample = Path(__file__).parents[2] / "services" / "samples" / "masterdata.yaml"
    result = qrec("import", str(sample), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "instruments: 5 new" in result.stdout


def test_a_master_data_file_with_inverted_limits_is_refused_whole(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(MASTER_DATA))
    broken["inspection_plans"][0]["characteristics"][0].update(lsl=12.01, usl=11.99)
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    result = qrec("import", str(source), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "lower limit 12.01 is above upper limit 11.99" in result.stderr
    assert "Traceback" not in result.stderr
    # the instrument listed before the bad plan was not written either
    source.write_text(json.dumps(MASTER_DATA))
    fixed = qrec("import", str(source), data_dir=tmp_path / "data")
    assert "instruments: 1 new" in fixed.stdout


def test_a_missing_master_data_file_is_named(tmp_path: Path) -> None:
    result = qrec("import", str(tmp_path / "nowhere.yaml"), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "nowhere.yaml" in result.stderr


def test_a_master_data_file_of_the_wrong_shape_names_the_field(tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text("instruments:\n  - tag: G-1\n    unit: mm\n")
    result = qrec("import", str(source), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "instruments.0.kind" in result.stderr and "Traceback" not in result.stderr


def test_the_demo_tells_a_plant_story_end_to_end(tmp_path: Path) -> None:
    result = qrec("demo", "--messages", "300", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "300 inspections (600 results)" in out and "{'recorded': 300}" in out
    assert "100 recognised as already recorded" in out
    assert "WrongUnit" in out and "IP-999" in out
    # in control but for a while on line L1: its lot's sample finds it, and only that lot
    # is held by sampling
    assert "2 accepted, 1 rejected and held" in out
    assert "LOT-L1-00 was rejected by its sample" in out and "lot held (on hold: True)" in out
    assert "shipped to ACME" in out
    assert "reverse trace: G-0043 found out of tolerance" in out
    assert "1 lots made from them are suspect too" in out  # the shipped assembly
    assert "tasks: notify customers of suspect shipped lots" in out
    assert "audit verify: intact" in out
    assert list((tmp_path / "data").glob("demo-*/events.sqlite"))


def test_spc_rules_are_chosen_per_characteristic_and_an_unknown_rule_is_refused(
        tmp_path: Path) -> None:
    plan = json.loads(json.dumps(MASTER_DATA))
    plan["instruments"] = []
    plan["inspection_plans"][0]["characteristics"][0]["spc_rules"] = ["nelson-1", "nelson-9"]
    source = tmp_path / "plant.json"
    source.write_text(json.dumps(plan))
    refused = qrec("import", str(source), data_dir=tmp_path / "data")
    assert refused.returncode == 2 and "no SPC rule 'nelson-9'" in refused.stderr
    plan["inspection_plans"][0]["characteristics"][0]["spc_rules"] = ["nelson-1", "nelson-2"]
    source.write_text(json.dumps(plan))
    accepted = qrec("import", str(source), data_dir=tmp_path / "data")
    assert accepted.returncode == 0, accepted.stderr
    shown = qrec("history", "inspection-plan:IP-100", data_dir=tmp_path / "data")
    assert "nelson-2" in shown.stdout, shown.stdout


def test_the_demo_at_its_smallest_size_still_tells_the_whole_story(tmp_path: Path) -> None:
    result = qrec("demo", "--messages", "150", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "LOT-L1-00 was rejected by its sample" in result.stdout
    assert "audit verify: intact" in result.stdout
    smaller = qrec("demo", "--messages", "149", data_dir=tmp_path / "data")
    assert smaller.returncode == 2
    assert "the demo needs at least 150 messages" in smaller.stderr
