"""The switching rules of ISO 2859-1 (clause 9), as a record per inspection plan, product
and supplier (or line): which inspection is in force (normal, tightened, reduced, or
sampling discontinued), what the lots decided under it were, and every switch with the
rule and the lots that caused it.

- normal -> tightened: 2 lots not accepted in 5 or fewer consecutive lots (9.3.1);
- tightened -> normal: 5 consecutive lots accepted (9.3.2);
- normal -> reduced: switching score of at least 30, production steady, and reduced
  inspection approved by the responsible authority (ISO 2859-1:1999 9.3.3). The score
  starts at 0 with normal inspection; after each lot: with Ac 2 or more, +3 if the lot
  would have been accepted at the AQL one step tighter, else back to 0; with Ac 0 or 1,
  +2 if the lot is accepted, else back to 0;
- reduced -> normal: a lot not accepted, a lot accepted with a count between Ac and Re
  (MIL-STD-105E 4.7.4 b, whose reduced table this is), or production irregular (9.3.4);
- discontinuation: 5 lots not accepted (cumulative) while on tightened inspection (9.4);
  resumed only after corrective action, on tightened inspection.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import Provenance, QualityError, Record, record_id
from domain.sampling_tables import NORMAL, REDUCED, TIGHTENED, SinglePlan, tighter_acceptance

DISCONTINUED = "discontinued"
REDUCED_SCORE = 30


class SamplingDiscontinued(QualityError):
    def __init__(self, key: str) -> None:
        super().__init__(f"acceptance sampling of {key} is discontinued (5 lots not accepted "
                         "on tightened inspection): resume it once corrective action has "
                         "been taken")


class NotDiscontinued(QualityError):
    def __init__(self, key: str, severity: str) -> None:
        super().__init__(f"acceptance sampling of {key} is on {severity} inspection, "
                         "not discontinued: there is nothing to resume")


def switching_key(plan: str, product: str, source: str) -> str:
    return f"{plan}/{product}/{source}"


def switching_id(plan: str, product: str, source: str) -> UUID:
    return record_id("switching", switching_key(plan, product, source))


class InspectionSwitching(Record):
    if TYPE_CHECKING:
        plan: str
        product: str
        source: str
        severity: str
        score: int
        recent: list[tuple[str, bool]]  # (lot, accepted) since the inspection in force began
        reduced_approved: bool
        steady: bool

    class Started(Record.Created):
        plan: str
        product: str
        source: str

        def apply(self, r: InspectionSwitching) -> None:
            r.plan, r.product, r.source = self.plan, self.product, self.source
            r.severity, r.score, r.recent = NORMAL, 0, []
            r.reduced_approved, r.steady = False, True

    class LotCounted(Record.Event):
        """A lot decided under the inspection in force; ``score`` is the switching score
        after it (normal inspection only)."""

        lot: str
        accepted: bool
        score: int | None

        def apply(self, r: InspectionSwitching) -> None:
            r.recent.append((self.lot, self.accepted))
            if self.score is not None:
                r.score = self.score

    class Switched(Record.Event):
        """From one inspection to another, by ``rule``, because of ``lots``."""

        from_severity: str
        to_severity: str
        rule: str
        lots: tuple[str, ...]

        def apply(self, r: InspectionSwitching) -> None:
            r.severity, r.recent = self.to_severity, []
            if self.to_severity == NORMAL:
                r.score = 0

    class ReducedApproval(Record.Event):
        """The responsible authority finds reduced inspection desirable (or no longer)."""

        approved: bool

        def apply(self, r: InspectionSwitching) -> None:
            r.reduced_approved = self.approved

    class ProductionReported(Record.Event):
        steady: bool

        def apply(self, r: InspectionSwitching) -> None:
            r.steady = self.steady

    @classmethod
    def start(cls, plan: str, product: str, source: str, prov: Provenance,
              now: datetime) -> InspectionSwitching:
        return cls._create(cls.Started, id=switching_id(plan, product, source),
                           provenance=prov, timestamp=now, plan=plan, product=product,
                           source=source)

    @property
    def key(self) -> str:
        return switching_key(self.plan, self.product, self.source)

    def check_sampling(self) -> None:
        if self.severity == DISCONTINUED:
            raise SamplingDiscontinued(self.key)

    def count_lot(self, lot: str, plan: SinglePlan, nonconforming: int, between: bool,
                  prov: Provenance, now: datetime) -> None:
        """A lot decided under ``plan`` (which the inspection in force gave it); a lot
        planned under an earlier inspection still counts, for the one in force now."""
        self.check_sampling()
        accepted = nonconforming < plan.rejection
        score = self._score_after(plan, nonconforming) if self.severity == NORMAL else None
        self.record(self.LotCounted, prov, now, lot=lot, accepted=accepted, score=score)
        self._apply_rules(lot, accepted, between, prov, now)

    def _score_after(self, plan: SinglePlan, nonconforming: int) -> int:
        if plan.acceptance >= 2:
            tighter = tighter_acceptance(plan)
            return self.score + 3 if tighter is not None and nonconforming <= tighter else 0
        return self.score + 2 if nonconforming <= plan.acceptance else 0

    def _apply_rules(self, lot: str, accepted: bool, between: bool, prov: Provenance,
                     now: datetime) -> None:
        rejected = [name for name, ok in self.recent[-5:] if not ok]
        accepted_run = [name for name, _ in self.recent[-5:]]
        if self.severity == NORMAL and not accepted and len(rejected) >= 2:
            self._switch(TIGHTENED, "9.3.1: 2 of 5 or fewer consecutive lots not accepted",
                         tuple(rejected[-2:]), prov, now)
        elif self.severity == NORMAL:
            self._maybe_reduce(prov, now)
        elif self.severity == TIGHTENED and not accepted and sum(
                not ok for _, ok in self.recent) >= 5:
            self._switch(DISCONTINUED, "9.4: 5 lots not accepted on tightened inspection",
                         tuple(name for name, ok in self.recent if not ok), prov, now)
        elif self.severity == TIGHTENED and len(self.recent) >= 5 and all(
                ok for _, ok in self.recent[-5:]):
            self._switch(NORMAL, "9.3.2: 5 consecutive lots accepted on tightened inspection",
                         tuple(accepted_run), prov, now)
        elif self.severity == REDUCED and not accepted:
            self._switch(NORMAL, "9.3.4 a: a lot not accepted on reduced inspection", (lot,),
                         prov, now)
        elif self.severity == REDUCED and between:
            self._switch(NORMAL, "MIL-STD-105E 4.7.4 b: lot accepted between Ac and Re on "
                         "reduced inspection", (lot,), prov, now)

    def _maybe_reduce(self, prov: Provenance, now: datetime) -> None:
        if self.score >= REDUCED_SCORE and self.steady and self.reduced_approved:
            self._switch(REDUCED, f"9.3.3: switching score {self.score}, production steady, "
                         "reduced inspection approved",
                         tuple(name for name, _ in self.recent), prov, now)

    def _switch(self, to: str, rule: str, lots: tuple[str, ...], prov: Provenance,
                now: datetime) -> None:
        self.record(self.Switched, prov, now, from_severity=self.severity, to_severity=to,
                    rule=rule, lots=lots)

    def approve_reduced(self, approved: bool, prov: Provenance, now: datetime) -> None:
        """The responsible authority's decision (its actor and reason are recorded); with
        the score already at 30 and production steady, reduced inspection starts now."""
        prov.requiring_reason(("approve" if approved else "withdraw approval of")
                              + f" reduced inspection for {self.key}")
        if approved != self.reduced_approved:
            self.record(self.ReducedApproval, prov, now, approved=approved)
        if self.severity == NORMAL:
            self._maybe_reduce(prov, now)

    def report_production(self, steady: bool, prov: Provenance, now: datetime) -> None:
        prov.requiring_reason(f"report production of {self.key} as "
                              + ("steady" if steady else "irregular"))
        if steady != self.steady:
            self.record(self.ProductionReported, prov, now, steady=steady)
        if not steady and self.severity == REDUCED:
            self._switch(NORMAL, "9.3.4 b: production irregular or delayed", (), prov, now)
        elif steady and self.severity == NORMAL:
            self._maybe_reduce(prov, now)

    def resume(self, prov: Provenance, now: datetime) -> None:
        """After corrective action: sampling resumes on tightened inspection (9.4)."""
        prov.requiring_reason(f"resume acceptance sampling of {self.key}")
        if self.severity != DISCONTINUED:
            raise NotDiscontinued(self.key, self.severity)
        self._switch(TIGHTENED, "9.4: resumed after corrective action, on tightened "
                     "inspection", (), prov, now)
