"""Nonconformances: what was found, which lots, containment, disposition and closure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import InvalidValue, Provenance, QualityError, Record, record_id

DISPOSITIONS = ("rework", "scrap", "use_as_is", "return_to_supplier")
SOURCES = ("inspection", "process", "calibration", "audit", "customer", "supplier", "policy")


class NonconformanceClosed(QualityError):
    def __init__(self, number: str) -> None:
        super().__init__(f"nonconformance {number} is closed")


class DispositionRequired(QualityError):
    def __init__(self, number: str) -> None:
        super().__init__(f"nonconformance {number} has no disposition yet: it cannot be closed")


class ApproverRequired(QualityError):
    def __init__(self, disposition: str) -> None:
        super().__init__(f"a {disposition} disposition needs an approver")


@dataclass(frozen=True)
class SuspectLot:
    """A lot a nonconformance puts in doubt, where it stood, and the results behind it;
    or, for a lot made from suspect lots, the lots it was made ``via``."""

    lot: str
    status: str
    results: tuple[str, ...]
    via: tuple[str, ...] = ()


def nonconformance_id(number: str) -> UUID:
    return record_id("nonconformance", number)


class Nonconformance(Record):
    if TYPE_CHECKING:
        number: str
        source: str
        description: str
        lots: list[str]
        characteristic: str | None
        evidence: list[str]
        containment: list[str]
        tasks: list[str]
        suspects: list[SuspectLot]
        disposition: str | None
        approver: str | None
        status: str

    class Raised(Record.Created):
        number: str
        source: str
        description: str
        lots: tuple[str, ...]
        characteristic: str | None
        evidence: tuple[str, ...]

        def apply(self, nc: Nonconformance) -> None:
            nc.number, nc.source, nc.description = self.number, self.source, self.description
            nc.lots, nc.evidence, nc.characteristic = list(self.lots), list(self.evidence), \
                self.characteristic
            nc.containment, nc.disposition, nc.approver, nc.tasks = [], None, None, []
            nc.suspects = []
            nc.status = "open"

    class LotAdded(Record.Event):
        lot: str

        def apply(self, nc: Nonconformance) -> None:
            nc.lots.append(self.lot)

    class EvidenceAdded(Record.Event):
        evidence: tuple[str, ...]

        def apply(self, nc: Nonconformance) -> None:
            nc.evidence.extend(self.evidence)

    class ContainmentRecorded(Record.Event):
        action: str

        def apply(self, nc: Nonconformance) -> None:
            nc.containment.append(self.action)

    class SuspectLotsListed(Record.Event):
        suspects: tuple[SuspectLot, ...]

        def apply(self, nc: Nonconformance) -> None:
            nc.suspects = list(self.suspects)

    class TaskAssigned(Record.Event):
        """Work the nonconformance calls for, e.g. notifying a customer of shipped lots."""

        task: str
        assignee: str
        lots: tuple[str, ...]

        def apply(self, nc: Nonconformance) -> None:
            nc.tasks.append(self.task)

    class Dispositioned(Record.Event):
        disposition: str
        approver: str

        def apply(self, nc: Nonconformance) -> None:
            nc.disposition, nc.approver, nc.status = self.disposition, self.approver, \
                "dispositioned"

    class Closed(Record.Event):
        def apply(self, nc: Nonconformance) -> None:
            nc.status = "closed"

    @classmethod
    def raise_(cls, number: str, source: str, description: str, lots: tuple[str, ...],
               characteristic: str | None, evidence: tuple[str, ...], prov: Provenance,
               now: datetime) -> Nonconformance:
        if source not in SOURCES:
            raise InvalidValue(f"nonconformance source must be one of {', '.join(SOURCES)}")
        if not description.strip():
            raise InvalidValue("a nonconformance needs a description of what was found")
        return cls._create(cls.Raised, id=nonconformance_id(number), provenance=prov,
                           timestamp=now, number=number, source=source,
                           description=description, lots=lots, characteristic=characteristic,
                           evidence=evidence)

    def add_lot(self, lot: str, prov: Provenance, now: datetime) -> None:
        self._check_open()
        if lot not in self.lots:
            self.record(self.LotAdded, prov, now, lot=lot)

    def add_evidence(self, evidence: tuple[str, ...], prov: Provenance, now: datetime) -> None:
        self._check_open()
        new = tuple(e for e in evidence if e not in self.evidence)
        if new:
            self.record(self.EvidenceAdded, prov, now, evidence=new)

    def record_containment(self, action: str, prov: Provenance, now: datetime) -> None:
        self._check_open()
        if not action.strip():
            raise InvalidValue("describe the containment action")
        self.record(self.ContainmentRecorded, prov, now, action=action)

    def list_suspect_lots(self, suspects: tuple[SuspectLot, ...], prov: Provenance,
                          now: datetime) -> None:
        self._check_open()
        self.record(self.SuspectLotsListed, prov, now, suspects=suspects)

    def assign_task(self, task: str, assignee: str, lots: tuple[str, ...], prov: Provenance,
                    now: datetime) -> None:
        self._check_open()
        if not task.strip():
            raise InvalidValue("describe the task")
        self.record(self.TaskAssigned, prov, now, task=task, assignee=assignee, lots=lots)

    def disposition_as(self, disposition: str, approver: str, prov: Provenance,
                       now: datetime) -> None:
        self._check_open()
        prov.requiring_reason(f"disposition nonconformance {self.number}")
        if disposition not in DISPOSITIONS:
            raise InvalidValue(f"disposition must be one of {', '.join(DISPOSITIONS)}, "
                               f"not {disposition!r}")
        if not approver.strip():
            raise ApproverRequired(disposition)
        self.record(self.Dispositioned, prov, now, disposition=disposition, approver=approver)

    def close(self, prov: Provenance, now: datetime) -> None:
        self._check_open()
        prov.requiring_reason(f"close nonconformance {self.number}")
        if self.disposition is None:
            raise DispositionRequired(self.number)
        self.record(self.Closed, prov, now)

    def _check_open(self) -> None:
        if self.status == "closed":
            raise NonconformanceClosed(self.number)
