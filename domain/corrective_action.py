"""Corrective actions: root cause, actions, effectiveness check, closure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import InvalidValue, Provenance, QualityError, Record, record_id


class CorrectiveActionNotReady(QualityError):
    def __init__(self, number: str, missing: str) -> None:
        super().__init__(f"corrective action {number} cannot be closed: {missing}")


class CorrectiveActionClosed(QualityError):
    def __init__(self, number: str) -> None:
        super().__init__(f"corrective action {number} is closed")


@dataclass(frozen=True)
class PlannedAction:
    description: str
    owner: str
    due: datetime


def corrective_action_id(number: str) -> UUID:
    return record_id("corrective-action", number)


class CorrectiveAction(Record):
    if TYPE_CHECKING:
        number: str
        nonconformance: UUID | None
        problem: str
        root_cause: str | None
        actions: list[PlannedAction]
        completed: set[int]
        effective: bool | None
        status: str

    class Opened(Record.Created):
        number: str
        nonconformance: UUID | None
        problem: str

        def apply(self, ca: CorrectiveAction) -> None:
            ca.number, ca.nonconformance, ca.problem = self.number, self.nonconformance, \
                self.problem
            ca.root_cause, ca.actions, ca.completed, ca.effective = None, [], set(), None
            ca.status = "open"

    class RootCauseRecorded(Record.Event):
        cause: str
        method: str | None

        def apply(self, ca: CorrectiveAction) -> None:
            ca.root_cause = self.cause

    class ActionPlanned(Record.Event):
        action: PlannedAction

        def apply(self, ca: CorrectiveAction) -> None:
            ca.actions.append(self.action)

    class ActionCompleted(Record.Event):
        index: int
        evidence: str

        def apply(self, ca: CorrectiveAction) -> None:
            ca.completed.add(self.index)

    class EffectivenessChecked(Record.Event):
        effective: bool
        evidence: str

        def apply(self, ca: CorrectiveAction) -> None:
            ca.effective = self.effective

    class Closed(Record.Event):
        def apply(self, ca: CorrectiveAction) -> None:
            ca.status = "closed"

    @classmethod
    def open(cls, number: str, nonconformance: UUID | None, problem: str, prov: Provenance,
             now: datetime) -> CorrectiveAction:
        if not problem.strip():
            raise InvalidValue("a corrective action needs a problem statement")
        return cls._create(cls.Opened, id=corrective_action_id(number), provenance=prov,
                           timestamp=now, number=number, nonconformance=nonconformance,
                           problem=problem)

    def record_root_cause(self, cause: str, method: str | None, prov: Provenance,
                          now: datetime) -> None:
        self._check_open()
        if not cause.strip():
            raise InvalidValue("describe the root cause")
        self.record(self.RootCauseRecorded, prov, now, cause=cause, method=method)

    def plan_action(self, action: PlannedAction, prov: Provenance, now: datetime) -> int:
        self._check_open()
        if not action.description.strip() or not action.owner.strip():
            raise InvalidValue("an action needs a description and an owner")
        self.record(self.ActionPlanned, prov, now, action=action)
        return len(self.actions) - 1

    def complete_action(self, index: int, evidence: str, prov: Provenance,
                        now: datetime) -> None:
        self._check_open()
        if not 0 <= index < len(self.actions):
            raise InvalidValue(f"corrective action {self.number} has no action #{index}")
        self.record(self.ActionCompleted, prov, now, index=index, evidence=evidence)

    def check_effectiveness(self, effective: bool, evidence: str, prov: Provenance,
                            now: datetime) -> None:
        self._check_open()
        if len(self.completed) < len(self.actions) or not self.actions:
            raise CorrectiveActionNotReady(self.number, "actions are not all complete")
        if not evidence.strip():
            raise InvalidValue("effectiveness needs evidence")
        self.record(self.EffectivenessChecked, prov, now, effective=effective,
                    evidence=evidence)

    def close(self, prov: Provenance, now: datetime) -> None:
        self._check_open()
        prov.requiring_reason(f"close corrective action {self.number}")
        if self.root_cause is None:
            raise CorrectiveActionNotReady(self.number, "no root cause recorded")
        if not self.actions or len(self.completed) < len(self.actions):
            raise CorrectiveActionNotReady(self.number, "actions are not all complete")
        if self.effective is not True:
            raise CorrectiveActionNotReady(self.number, "effectiveness not verified")
        self.record(self.Closed, prov, now)

    def _check_open(self) -> None:
        if self.status == "closed":
            raise CorrectiveActionClosed(self.number)
