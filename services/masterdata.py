"""`qrec import`: master data (instruments, inspection plans, control plans) from a JSON or
YAML file, checked whole before anything is written, and idempotent to re-import. An
inspection plan may name its ISO 2859-1 `sampling` (level, AQL, lot size) and each
characteristic its `reaction` to a nonconforming result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.acceptance import SamplingPlan
from domain.application import QualityRecords
from domain.calibration import Instrument
from domain.inspection import Characteristic, PlanRevision, checked_revision
from domain.process import (
    ControlPlanRevision,
    Operation,
    ProcessParameter,
    checked_control_revision,
)
from domain.records import InvalidValue, Provenance, RecordExists
from domain.reports import CalibrationReport


class MasterDataError(InvalidValue):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class InstrumentIn(_Model):
    tag: str = Field(min_length=1)
    kind: str
    unit: str = Field(min_length=1)
    range: tuple[float, float]
    resolution: float = Field(gt=0)
    tolerance: float = Field(gt=0)
    interval_days: int = Field(gt=0)
    location: str = ""
    calibrated_on: date | None = None
    certificate: str | None = None


class CharacteristicIn(_Model):
    id: str = Field(min_length=1)
    nominal: float | None = None
    lsl: float | None = None
    usl: float | None = None
    unit: str = Field(min_length=1)
    gauge_kind: str | None = None
    spc_rules: list[str] | None = None  # rule ids (we-1..we-4, nelson-1..nelson-8); [] = none
    spc_baseline: int | None = Field(default=None, ge=2)
    # hold_lot (default), segregate, stop_line, or sampled (the lot's Ac decides)
    reaction: str | None = None


class SamplingIn(_Model):
    """ISO 2859-1 single sampling: inspection level (I, II, III, S-1..S-4) and AQL."""

    level: str = "II"
    aql: float
    lot_size: int | None = Field(default=None, ge=2)


class InspectionPlanIn(_Model):
    id: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    product: str
    stage: str
    sample_size: int = Field(ge=1)
    characteristics: list[CharacteristicIn] = Field(min_length=1)
    sampling: SamplingIn | None = None


class ParameterIn(_Model):
    name: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    target: float | None = None
    lsl: float | None = None
    usl: float | None = None
    reaction: str = Field(min_length=1)


class OperationIn(_Model):
    id: str = Field(min_length=1)
    parameters: list[ParameterIn]


class ControlPlanIn(_Model):
    id: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    product: str
    operations: list[OperationIn] = Field(min_length=1)


class MasterDataIn(_Model):
    instruments: list[InstrumentIn] = []
    inspection_plans: list[InspectionPlanIn] = []
    control_plans: list[ControlPlanIn] = []


@dataclass
class ImportSummary:
    created: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, created: bool) -> None:
        bucket = self.created if created else self.unchanged
        bucket[kind] = bucket.get(kind, 0) + 1

    def __str__(self) -> str:
        kinds = sorted(set(self.created) | set(self.unchanged))
        return "\n".join(f"{k}: {self.created.get(k, 0)} new, {self.unchanged.get(k, 0)} "
                         "already recorded" for k in kinds) or "nothing to import"


def read_master_data(path: Path) -> MasterDataIn:
    try:
        text = path.read_bytes()
    except OSError as e:
        raise MasterDataError(f"cannot read {path}: {e.strerror}") from None
    try:
        raw: Any = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as e:
        raise MasterDataError(f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {e}") \
            from None
    try:
        return MasterDataIn.model_validate(raw or {})
    except ValidationError as e:
        raise MasterDataError(f"{path}: " + "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())) from None


def import_master_data(app: QualityRecords, data: MasterDataIn, actor: str,
                       source: str = "import") -> ImportSummary:
    """Check every item first (nothing is written if one is wrong), then record each;
    items already recorded are left as they are, so importing twice changes nothing."""
    prov = Provenance(actor=actor, source=source, reason="master data import")
    plans = [(p.id, checked_revision(p.id, _plan_revision(p))) for p in data.inspection_plans]
    controls = [(c.id, checked_control_revision(c.id, _control_revision(c)))
                for c in data.control_plans]
    for g in data.instruments:
        Instrument.register(g.tag, g.kind, g.unit, g.range, g.resolution, g.tolerance,
                            g.interval_days, g.location, prov, app.clock())
    summary = ImportSummary()
    for gauge in data.instruments:
        summary.count("instruments", _import_instrument(app, gauge, prov))
    for plan, revision in plans:
        summary.count("inspection plans", app.define_inspection_plan(plan, revision, prov))
    for plan, control in controls:
        summary.count("control plans", app.define_control_plan(plan, control, prov))
    return summary


def _import_instrument(app: QualityRecords, g: InstrumentIn, prov: Provenance) -> bool:
    try:
        app.register_instrument(g.tag, g.kind, g.unit, g.range, g.resolution, g.tolerance,
                                g.interval_days, g.location, prov)
        created = True
    except RecordExists:
        created = False
    if g.calibrated_on is not None:
        performed = datetime.combine(g.calibrated_on, datetime.min.time(), UTC)
        app.record_calibration(CalibrationReport(
            message_id=f"import:{g.tag}:{g.calibrated_on}:{g.certificate}",
            instrument=g.tag, performed_at=performed, performed_by=prov.actor,
            certificate=g.certificate or "", standard=None, uncertainty=None, points=(),
            result="pass", source="import"))
    return created


def _plan_revision(p: InspectionPlanIn) -> PlanRevision:
    sampling = None if p.sampling is None else SamplingPlan(
        p.sampling.level, p.sampling.aql, p.sampling.lot_size)
    return PlanRevision(
        revision=p.revision, product=p.product, stage=p.stage, sample_size=p.sample_size,
        characteristics=tuple(_characteristic(c) for c in p.characteristics),
        sampling=sampling)


def _characteristic(c: CharacteristicIn) -> Characteristic:
    options: dict[str, Any] = {}
    if c.spc_rules is not None:
        options["spc_rules"] = tuple(c.spc_rules)
    if c.spc_baseline is not None:
        options["spc_baseline"] = c.spc_baseline
    if c.reaction is not None:
        options["reaction"] = c.reaction
    return Characteristic(c.id, c.nominal, c.lsl, c.usl, c.unit, c.gauge_kind, **options)


def _control_revision(cp: ControlPlanIn) -> ControlPlanRevision:
    return ControlPlanRevision(
        revision=cp.revision, product=cp.product,
        operations=tuple(Operation(op.id, tuple(
            ProcessParameter(p.name, p.unit, p.target, p.lsl, p.usl, p.reaction)
            for p in op.parameters)) for op in cp.operations))


