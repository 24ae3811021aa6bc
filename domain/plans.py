"""What inspection plans and control plans share: a plan kept in revisions. The first
revision defines it; each later one is released and the last is in force."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

from domain.records import Provenance, Record, RecordExists, record_id


class RevisedPlan(Record):
    """Subclasses name their record kind, narrow `revision` to their revision type in both
    events, and check a revision in `checked` before it is recorded."""

    record_kind = "plan"

    if TYPE_CHECKING:
        plan: str
        revisions: list[Any]

    class Defined(Record.Created):
        plan: str
        revision: Any

        def apply(self, p: RevisedPlan) -> None:
            p.plan, p.revisions = self.plan, [self.revision]

    class RevisionReleased(Record.Event):
        revision: Any

        def apply(self, p: RevisedPlan) -> None:
            p.revisions.append(self.revision)

    @staticmethod
    def checked(plan: str, revision: Any) -> Any:
        return revision

    @classmethod
    def id_of(cls, plan: str) -> UUID:
        return record_id(cls.record_kind, plan)

    @classmethod
    def define(cls, plan: str, revision: Any, prov: Provenance, now: datetime) -> Self:
        return cls._create(cls.Defined, id=cls.id_of(plan), provenance=prov, timestamp=now,
                           plan=plan, revision=cls.checked(plan, revision))

    def release_revision(self, revision: Any, prov: Provenance, now: datetime) -> None:
        if any(r.revision == revision.revision for r in self.revisions):
            raise RecordExists(f"{self.record_kind.replace('-', ' ')} {self.plan} revision",
                               revision.revision)
        self.record(self.RevisionReleased, prov, now,
                    revision=self.checked(self.plan, revision))
