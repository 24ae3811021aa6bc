"""The stream contracts v1 (docs/streams.md), as versioned pydantic models, in and out with
orjson.

A line message is decoded here and turned into one of the domain's reports; anything that
goes wrong on the way is a `BadMessage`, with a reason a line engineer can act on. Nothing
in this module talks to a broker or a store.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from domain.calibration import ReferenceStandard, TestPoint
from domain.genealogy import Component
from domain.inspection import Measurement
from domain.reports import (
    CalibrationReport,
    GenealogyReport,
    InspectionReport,
    LotMovementReport,
    ReadingReport,
)

NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class BadMessage(ValueError):
    """A message that cannot be interpreted: bad JSON, wrong schema, missing fields..."""


class Contract(BaseModel):
    """Base of the v1 messages: extra fields are allowed (contracts may grow)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True))


class ResultV1(Contract):
    characteristic: NonEmpty
    value: float
    unit: NonEmpty
    gauge: str | None = None


class InspectionV1(Contract):
    """`qrec.line.<line>.inspection`: results of one inspection at a station."""

    schema_: Literal["qrec.inspection.v1"] = Field("qrec.inspection.v1", alias="schema")
    message_id: NonEmpty
    line: NonEmpty
    station: NonEmpty
    lot: NonEmpty
    part: str | None = None
    stage: Literal["receiving", "in_process", "final"]
    plan: NonEmpty
    inspector: NonEmpty
    occurred_at: AwareDatetime
    results: Annotated[list[ResultV1], Field(min_length=1)]

    def to_report(self) -> InspectionReport:
        return InspectionReport(
            self.message_id, self.line, self.station, self.lot, self.stage, self.plan,
            self.inspector, self.occurred_at,
            tuple(Measurement(r.characteristic, r.value, r.unit, r.gauge) for r in self.results),
            part=self.part)


class ProcessV1(Contract):
    """`qrec.line.<line>.process`: one process-parameter reading."""

    schema_: Literal["qrec.process.v1"] = Field("qrec.process.v1", alias="schema")
    message_id: NonEmpty
    line: NonEmpty
    station: NonEmpty
    lot: NonEmpty
    operation: NonEmpty
    parameter: NonEmpty
    value: float
    unit: NonEmpty
    occurred_at: AwareDatetime

    def to_report(self) -> ReadingReport:
        return ReadingReport(self.message_id, self.line, self.station, self.lot, self.operation,
                             self.parameter, self.value, self.unit, self.occurred_at)


class StandardV1(Contract):
    tag: NonEmpty
    certificate: NonEmpty


class PointV1(Contract):
    nominal: float
    as_found: float | None = None
    as_left: float | None = None
    unit: NonEmpty


class CalibrationV1(Contract):
    """`qrec.lab.calibration`: a calibration performed by a lab."""

    schema_: Literal["qrec.calibration.v1"] = Field("qrec.calibration.v1", alias="schema")
    message_id: NonEmpty
    instrument: NonEmpty
    performed_at: AwareDatetime
    performed_by: NonEmpty
    certificate: NonEmpty
    standard: StandardV1 | None = None
    uncertainty: float | None = None
    points: list[PointV1] = []
    result: Literal["pass", "fail", "adjusted"]

    def to_report(self) -> CalibrationReport:
        standard = (None if self.standard is None
                    else ReferenceStandard(self.standard.tag, self.standard.certificate))
        return CalibrationReport(
            self.message_id, self.instrument, self.performed_at, self.performed_by,
            self.certificate, standard, self.uncertainty,
            tuple(TestPoint(p.nominal, p.as_found, p.as_left, p.unit) for p in self.points),
            self.result)


class LotMovementV1(Contract):
    """`qrec.erp.lot`: a lot shipped to or returned from a customer."""

    schema_: Literal["qrec.lot.v1"] = Field("qrec.lot.v1", alias="schema")
    message_id: NonEmpty
    lot: NonEmpty
    movement: Literal["shipped", "returned"]
    customer: str | None = None
    occurred_at: AwareDatetime

    def to_report(self) -> LotMovementReport:
        return LotMovementReport(self.message_id, self.lot, self.movement, self.customer,
                                 self.occurred_at)


class ComponentV1(Contract):
    lot: NonEmpty
    quantity: Annotated[float, Field(gt=0)] | None = None


class GenealogyV1(Contract):
    """`qrec.erp.genealogy`: a lot made (or received from a supplier) with its quantity, and
    the component lots it consumed, from the ERP."""

    schema_: Literal["qrec.genealogy.v1"] = Field("qrec.genealogy.v1", alias="schema")
    message_id: NonEmpty
    lot: NonEmpty
    product: str | None = None
    quantity: Annotated[float, Field(gt=0)]
    unit: NonEmpty
    supplier: str | None = None
    consumed: list[ComponentV1] = []
    occurred_at: AwareDatetime

    def to_report(self) -> GenealogyReport:
        return GenealogyReport(
            self.message_id, self.lot, self.product, self.quantity, self.unit,
            tuple(Component(c.lot, c.quantity) for c in self.consumed), self.occurred_at,
            supplier=self.supplier)


LineContract = InspectionV1 | ProcessV1 | CalibrationV1 | LotMovementV1 | GenealogyV1
SCHEMAS: dict[str, type[Contract]] = {
    "qrec.inspection.v1": InspectionV1,
    "qrec.process.v1": ProcessV1,
    "qrec.calibration.v1": CalibrationV1,
    "qrec.lot.v1": LotMovementV1,
    "qrec.genealogy.v1": GenealogyV1,
}


def decode(data: bytes, expected: type[Contract]) -> Any:
    """The message as the contract it must follow, or BadMessage saying why not."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BadMessage(f"bad JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadMessage(f"bad message: a JSON object is required, not {type(body).__name__}")
    schema = body.get("schema")
    wanted = schema_of(expected)
    if schema != wanted:
        raise BadMessage(f"wrong schema: {schema!r}, expected {wanted!r}")
    try:
        return expected.model_validate(body)
    except ValidationError as e:
        raise BadMessage("invalid message: " + _summary(e)) from None


@cache
def schema_of(contract: type[Contract]) -> str:
    """The ``schema`` a message of this contract names (looked up once: every message asks)."""
    return str(contract.model_fields["schema_"].default)


def _summary(error: ValidationError) -> str:
    parts = []
    for err in error.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class EventEnvelope(BaseModel):
    """What the relay publishes on `qrec.events.<record kind>.<event name>` (v1)."""

    schema_: Literal["qrec.event.v1"] = Field("qrec.event.v1", alias="schema")
    log_id: str = Field(description="the store's log id (also the Qrec-Log-Id header)")
    position: int = Field(description="notification id: the event's place in the store "
                                      "(also the Qrec-Position header)")
    event_id: str = Field(description="the event's own id, a UUID made from its ledger leaf "
                                      "hash: the same event always has it, another event at "
                                      "the same record and version never; also Nats-Msg-Id")
    record_id: str
    record_key: str | None = Field(description="the record as `kind:key` (lot:LOT-0001, "
                                               "instrument:G-0042), as `qrec history` takes "
                                               "it; null when its events do not name it")
    record_kind: str
    version: int = Field(description="the event's place in its record's history, from 1")
    event_type: str = Field(description="e.g. Inspection.Performed")
    schema_version: int = Field(description="the event class version the payload follows")
    recorded_at: str | None = Field(None, description="ISO 8601 UTC, when qrec recorded it")
    occurred_at: str | None = Field(None, description="ISO 8601, when it happened at the "
                                                      "source")
    provenance: dict[str, Any] | None = None
    payload: dict[str, Any]


class LogResumed(BaseModel):
    """The marker `qrec stream resume-after-restore` publishes on `qrec.events.log.resumed`:
    the stream's messages between the last common position and this marker are events the
    restored store lost; the store's events after that position follow, with their own ids."""

    schema_: Literal["qrec.log-resumed.v1"] = Field("qrec.log-resumed.v1", alias="schema")
    log_id: str
    resumed_after: int = Field(description="the last position the store and the stream "
                                           "share (also the Qrec-Position header)")
    stream_held_up_to: int = Field(description="the newest position the stream held")
    diverged: bool = Field(description="the store had recorded other events at positions "
                                       "the stream held (else it was only behind)")
    reason: str
    resumed_at: str


class CheckpointMessage(BaseModel):
    """What the ledger publishes on `qrec.ledger.checkpoints`: a signed tree head."""

    tree_size: int = Field(description="events covered, in store order")
    root_hash: str = Field(description="hex SHA-256 Merkle root (RFC 9162) at tree_size")
    timestamp: str = Field(description="ISO 8601 UTC, when it was signed")
    key_id: str = Field(description="the signing key's id (`qrec audit public-key`)")
    signature: str = Field(description="base64 Ed25519 signature of the checkpoint text")
    log_id: str = Field(description="the store's log id (also the Qrec-Log-Id header)")


class DeadLetter(BaseModel):
    """What goes to `qrec.dlq.<line or source>`: the original message and why it was refused."""

    reason: str
    subject: str
    deliveries: int
    stream_sequence: int | None = None
    message: str = Field(description="the original body, as UTF-8 text (invalid bytes replaced)")


def stream_name(prefix: str, suffix: str) -> str:
    return f"{prefix.replace('.', '_').replace('-', '_').upper()}_{suffix}"


class Topology(BaseModel):
    """Subjects, streams and consumers under one prefix (`qrec` in production), so tests and
    a running qrec never share a stream."""

    model_config = ConfigDict(frozen=True)
    prefix: str = "qrec"

    @property
    def inspections(self) -> str:
        return f"{self.prefix}.line.*.inspection"

    @property
    def readings(self) -> str:
        return f"{self.prefix}.line.*.process"

    @property
    def calibrations(self) -> str:
        return f"{self.prefix}.lab.calibration"

    @property
    def lot_movements(self) -> str:
        return f"{self.prefix}.erp.lot"

    @property
    def genealogy(self) -> str:
        return f"{self.prefix}.erp.genealogy"

    def line_subject(self, line: str, kind: str) -> str:
        return f"{self.prefix}.line.{line}.{kind}"

    @property
    def lines_stream(self) -> str:
        return stream_name(self.prefix, "LINES")

    def dlq(self, source: str) -> str:
        return f"{self.prefix}.dlq.{source}"

    @property
    def dlq_stream(self) -> str:
        return stream_name(self.prefix, "DLQ")

    def event(self, kind: str, name: str) -> str:
        return f"{self.prefix}.events.{kind}.{name}"

    @property
    def events_stream(self) -> str:
        return stream_name(self.prefix, "EVENTS")

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}.ledger.checkpoints"

    @property
    def ledger_stream(self) -> str:
        return stream_name(self.prefix, "LEDGER")

    def durable(self, what: str) -> str:
        return stream_name(self.prefix, f"INGEST_{what.upper()}")

    def source_of(self, subject: str) -> str:
        """`L1` for `qrec.line.L1.inspection`, `lab`, `erp`: where a message came from."""
        parts = subject[len(self.prefix) + 1:].split(".")
        return parts[1] if parts[0] == "line" and len(parts) > 2 else parts[0]
