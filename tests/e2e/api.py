"""The HTTP API as a client drives it, in process (Starlette's test client) on the embedded
SQLite store or on PostgreSQL: a plant set up, an API key for each role, and helpers that
make fresh records for a command to act on."""

from __future__ import annotations

import itertools
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from domain.access import ROLES
from domain.application import QualityRecords
from domain.corrective_action import PlannedAction
from domain.inspection import Measurement
from domain.records import Provenance
from domain.switching import DISCONTINUED, InspectionSwitching
from services.api.app import create_app
from services.api.context import ApiContext
from services.settings import Settings
from services.views import build_projection_runner
from tests.application.fixtures import inspection, set_up_plant

with warnings.catch_warnings():  # starlette's note about httpx versions
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Provenance(actor="root", source="test", reason="test set-up")
WHY = Provenance(actor="qe-test", source="test", reason="test set-up")


class Plant:
    """An API on a store with the sample plant, keys for every role, fresh records."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: FastAPI = create_app(settings)
        self.ctx: ApiContext = self.app.state.qrec
        self.records: QualityRecords = self.ctx.records
        self.client = TestClient(self.app)
        self._n = itertools.count(1)
        set_up_plant(self.records)
        self.records.record_inspections([inspection(1)])
        self.keys = {role: self.ctx.people.create_api_key(f"test-{role}", role, ROOT)
                     for role in ROLES}

    # -- requests ---------------------------------------------------------------------------

    def headers(self, role: str | None, **extra: str) -> dict[str, str]:
        headers = {"Idempotency-Key": uuid.uuid4().hex, **extra}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.keys[role]}"
        return headers

    def call(self, role: str | None, method: str, url: str, body: Any = None,
             **headers: str) -> Any:
        return self.client.request(method, url, json=body, headers=self.headers(role, **headers))

    def build_views(self) -> None:
        runner = build_projection_runner(self.settings, records=self.records)
        runner.acquire()
        runner.catch_up()
        runner.release()

    # -- fresh records to act on -------------------------------------------------------------

    def name(self, prefix: str) -> str:
        return f"{prefix}-t{next(self._n):03d}"  # apart from the sample plant's names

    def lot(self, started: str | None = None) -> str:
        lot = self.name("LOT")
        self.records.open_lot(lot, "P-7", ROOT)
        if started:
            self.records.start_operation(lot, started, "ST-1", ROOT)
        return lot

    def held_lot(self) -> str:
        lot = self.lot()
        self.records.hold_lot(lot, WHY)
        return lot

    def open_inspection(self, with_results: bool = False) -> str:
        number = self.name("FI")
        self.records.open_inspection(number, self.lot(), "in_process", "IP-100", "op-1", ROOT)
        if with_results:
            self.records.record_results(number, (Measurement("bore_dia", 12.0, "mm",
                                                             "G-0042"),), ROOT)
        return number

    def nc(self, dispositioned: bool = False) -> str:
        number = self.name("NC")
        self.records.raise_nonconformance(number, "inspection", "bore oversize",
                                          (self.lot(),), WHY)
        if dispositioned:
            self.records.disposition(number, "rework", "qe-test", WHY)
        return number

    def ca(self, actions: int = 0, complete: bool = False, effective: bool = False) -> str:
        number = self.name("CA")
        self.records.open_corrective_action(number, None, "bores drift", WHY)
        due = datetime(2027, 1, 1, tzinfo=UTC)
        for _ in range(actions):
            self.records.update_corrective_action(number, lambda ca, now: ca.plan_action(
                PlannedAction("re-teach the CMM", "eng-1", due), WHY, now))
        if complete:
            self.records.update_corrective_action(
                number, lambda ca, now: ca.record_root_cause("worn probe", "5 whys", WHY, now))
            for i in range(actions):
                self.records.update_corrective_action(
                    number, lambda ca, now, i=i: ca.complete_action(i, "done", WHY, now))
        if effective:
            self.records.update_corrective_action(
                number, lambda ca, now: ca.check_effectiveness(True, "Cpk 1.8", WHY, now))
        return number

    def gauge(self, quarantined: bool = False) -> str:
        tag = self.name("G")
        self.records.register_instrument(tag, "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                                         "Line 1", ROOT)
        if quarantined:
            self.records.quarantine_instrument(tag, WHY)
        return tag

    def switching(self, discontinued: bool = False) -> tuple[str, str, str]:
        """A plan's switching record for a product and a supplier (line)."""
        key = ("IP-100", "P-7", self.name("supplier"))
        record = InspectionSwitching.start(*key, ROOT, self.records.clock())
        if discontinued:  # as five lots not accepted on tightened inspection leave it
            record.record(InspectionSwitching.Switched, ROOT, self.records.clock(),
                          from_severity="tightened", to_severity=DISCONTINUED,
                          rule="9.4", lots=())
        self.records.create(record, key="/".join(key))
        return key

    def enrolled(self, role: str | None = None) -> str:
        who = self.name("person")
        self.records.enroll(who, "Pat Person", "user", ROOT)
        if role:
            self.records.grant_role(who, role, ROOT)
        return who

    def account(self) -> str:
        who = self.name("user")
        self.ctx.people.add_user(who, "Uma User", ["operator"], "correct horse battery", ROOT)
        return who

    def api_key(self) -> str:
        name = self.name("machine")
        self.ctx.people.create_api_key(name, "operator", ROOT)
        return name

    def close(self) -> None:
        self.client.close()
        self.records.close()


def later(days: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()
