"""docs/asyncapi.json is FastStream's AsyncAPI document of qrec's subjects, kept current."""

from __future__ import annotations

import json
from pathlib import Path

from services.ingest import specification

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
REGENERATE = ('python -c "import json; from services.ingest import specification; '
              'print(json.dumps(json.loads(specification().to_json()), indent=2, '
              'sort_keys=True))" > docs/asyncapi.json')


def test_the_asyncapi_document_in_the_repository_matches_the_code() -> None:
    current = json.loads(specification().to_json())
    assert json.loads(DOCUMENT.read_text()) == current, f"regenerate it: {REGENERATE}"


def test_the_asyncapi_document_names_every_subject_of_the_v1_contracts() -> None:
    addresses = {c["address"] for c in json.loads(DOCUMENT.read_text())["channels"].values()}
    assert addresses == {"qrec.line.*.inspection", "qrec.line.*.process",
                         "qrec.lab.calibration", "qrec.erp.lot", "qrec.erp.genealogy",
                         "qrec.dlq.{source}",
                         "qrec.events.{record_kind}.{event_name}", "qrec.events.log.resumed",
                         "qrec.ledger.checkpoints"}
