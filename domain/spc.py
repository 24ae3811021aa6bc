"""Statistical process control: control limits from a baseline, process capability, and the
control chart a characteristic is plotted on per line, which raises an alarm when one of its
enabled run rules (domain.spc_rules) completes a pattern."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from statistics import fmean
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import InvalidValue, Limits, Provenance, Record, record_id
from domain.spc_rules import NELSON_RULES, rules_named, violations

INDIVIDUALS, XBAR_R = "i-mr", "xbar-r"
CHART_KINDS = (INDIVIDUALS, XBAR_R)

# Shewhart chart constants by subgroup size n: A2, D3, D4, d2 (ASTM STP 15D / AIAG SPC).
CONSTANTS: dict[int, tuple[float, float, float, float]] = {
    2: (1.880, 0.000, 3.267, 1.128),
    3: (1.023, 0.000, 2.574, 1.693),
    4: (0.729, 0.000, 2.282, 2.059),
    5: (0.577, 0.000, 2.114, 2.326),
    6: (0.483, 0.000, 2.004, 2.534),
    7: (0.419, 0.076, 1.924, 2.704),
    8: (0.373, 0.136, 1.864, 2.847),
    9: (0.337, 0.184, 1.816, 2.970),
    10: (0.308, 0.223, 1.777, 3.078),
}


class TooFewPoints(InvalidValue):
    def __init__(self, what: str, needed: int, given: int, unit: str = "points") -> None:
        super().__init__(f"{what} needs at least {needed} {unit}, got {given}")


class SubgroupSizeOutOfRange(InvalidValue):
    def __init__(self, kind: str, size: int) -> None:
        allowed = "single values" if kind == INDIVIDUALS else \
            f"subgroups of {min(CONSTANTS)} to {max(CONSTANTS)} values"
        super().__init__(f"an {kind} chart plots {allowed}, not subgroups of {size}")
        self.size = size


class IncompleteSubgroup(InvalidValue):
    def __init__(self, what: str, count: int, size: int) -> None:
        super().__init__(f"{what}: {count} values do not make whole subgroups of {size}")


class NotANumber(InvalidValue):
    def __init__(self, what: str, value: object) -> None:
        super().__init__(f"{what} is not a number: {value!r}")


class NoVariation(InvalidValue):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: the values do not vary, so sigma cannot be estimated")


class UnknownChartKind(InvalidValue):
    def __init__(self, kind: str) -> None:
        super().__init__(f"chart kind must be one of {', '.join(CHART_KINDS)}, not {kind!r}")


class NoSpecLimits(InvalidValue):
    def __init__(self) -> None:
        super().__init__("capability needs at least one specification limit")


@dataclass(frozen=True)
class ControlLimits:
    """The limits a chart is judged by. ``sigma`` is that of the plotted statistic (zones
    and rules use it); ``within_sigma`` is the process's short-term sigma, MRbar/d2 or
    Rbar/d2 (capability uses it). The range_ fields are the MR or R chart's limits."""

    kind: str
    subgroup_size: int
    centre: float
    sigma: float
    ucl: float
    lcl: float
    range_centre: float
    range_ucl: float
    range_lcl: float
    within_sigma: float


def _number(what: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise NotANumber(what, value)
    return float(value)


def _checked(what: str, values: Sequence[float]) -> list[float]:
    return [_number(f"{what} value #{i}", v) for i, v in enumerate(values)]


def individuals_limits(values: Sequence[float],
                       what: str = "an individuals chart") -> ControlLimits:
    """I-MR limits: centre = mean, sigma = MRbar/d2 (d2 = 1.128), centre +/- 3 sigma;
    the moving-range chart's UCL is D4 * MRbar (D4 = 3.267), its LCL 0."""
    xs = _checked(what, values)
    if len(xs) < 2:
        raise TooFewPoints(what, 2, len(xs))
    centre, mr_bar = fmean(xs), fmean(abs(b - a) for a, b in pairwise(xs))
    if mr_bar == 0:
        raise NoVariation(what)
    _, d3, d4, d2 = CONSTANTS[2]
    sigma = mr_bar / d2
    return ControlLimits(INDIVIDUALS, 1, centre, sigma, centre + 3 * sigma, centre - 3 * sigma,
                         mr_bar, d4 * mr_bar, d3 * mr_bar, sigma)


def xbar_r_limits(subgroups: Sequence[Sequence[float]],
                  what: str = "an X-bar/R chart") -> ControlLimits:
    """X-bar/R limits: centre = grand mean, UCL/LCL = centre +/- A2 * Rbar; the R chart's
    limits D3 * Rbar and D4 * Rbar; zones use sigma = A2 * Rbar / 3."""
    if len(subgroups) < 2:
        raise TooFewPoints(what, 2, len(subgroups), unit="subgroups")
    size = len(subgroups[0])
    if size not in CONSTANTS:
        raise SubgroupSizeOutOfRange(XBAR_R, size)
    groups = [_checked(f"{what} subgroup #{i}", g) for i, g in enumerate(subgroups)]
    if any(len(g) != size for g in groups):
        raise IncompleteSubgroup(what, sum(map(len, groups)), size)
    centre, r_bar = fmean(map(fmean, groups)), fmean(max(g) - min(g) for g in groups)
    if r_bar == 0:
        raise NoVariation(what)
    a2, d3, d4, d2 = CONSTANTS[size]
    return ControlLimits(XBAR_R, size, centre, a2 * r_bar / 3, centre + a2 * r_bar,
                         centre - a2 * r_bar, r_bar, d4 * r_bar, d3 * r_bar, r_bar / d2)


def control_limits(kind: str, values: Sequence[float], subgroup_size: int = 1,
                   what: str = "a control chart baseline") -> ControlLimits:
    """Limits from a flat series; an X-bar/R baseline is cut into consecutive subgroups."""
    check_chart_kind(kind, subgroup_size)
    if kind == INDIVIDUALS:
        return individuals_limits(values, what)
    if len(values) % subgroup_size:
        raise IncompleteSubgroup(what, len(values), subgroup_size)
    return xbar_r_limits([values[i:i + subgroup_size]
                          for i in range(0, len(values), subgroup_size)], what)


def check_chart_kind(kind: str, subgroup_size: int) -> None:
    if kind not in CHART_KINDS:
        raise UnknownChartKind(kind)
    if (subgroup_size != 1) if kind == INDIVIDUALS else (subgroup_size not in CONSTANTS):
        raise SubgroupSizeOutOfRange(kind, subgroup_size)


@dataclass(frozen=True)
class Capability:
    """Cp and Cpk, with the one-sided indices; Cp is None unless both limits are set."""

    mean: float
    sigma: float
    cp: float | None
    cpk: float
    cpu: float | None
    cpl: float | None


def capability(mean: float, sigma: float, spec: Limits) -> Capability:
    """Cp = (USL - LSL) / 6 sigma, Cpk = min(USL - mean, mean - LSL) / 3 sigma.

    ``sigma`` is meant to be the within-subgroup (short-term) estimate, Rbar/d2 or MRbar/d2
    as in ControlLimits.within_sigma: these are Cp/Cpk, not the overall-sigma Pp/Ppk. With
    one limit missing, Cpk is the one-sided index (CPU or CPL) and Cp is None."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise InvalidValue(f"capability needs a positive sigma, not {sigma}")
    if spec.lower is None and spec.upper is None:
        raise NoSpecLimits()
    cpu = None if spec.upper is None else (spec.upper - mean) / (3 * sigma)
    cpl = None if spec.lower is None else (mean - spec.lower) / (3 * sigma)
    cp = None if spec.upper is None or spec.lower is None else \
        (spec.upper - spec.lower) / (6 * sigma)
    return Capability(mean, sigma, cp, min(i for i in (cpu, cpl) if i is not None), cpu, cpl)


def control_chart_id(plan: str, characteristic: str, line: str) -> UUID:
    return record_id("control-chart", f"{plan}/{characteristic}/{line}")


@dataclass(frozen=True)
class ChartPoint:
    """A measured value and where it came from: result #index of record ``source``, whose
    event is at ``position`` in the event log (points are charted in log order)."""

    value: float
    source: UUID
    index: int
    occurred_at: datetime
    position: int


@dataclass(frozen=True)
class PlottedPoint:
    """A point on the chart: an individual value, or a subgroup's mean, and its sources."""

    value: float
    points: tuple[ChartPoint, ...]


@dataclass(frozen=True)
class Alarm:
    rule: str
    description: str
    points: tuple[PlottedPoint, ...]  # the rule's pattern, ending at the completing point
    limits: ControlLimits


def _plot(pending: Sequence[ChartPoint], new: Sequence[ChartPoint],
          size: int) -> tuple[list[PlottedPoint], list[ChartPoint]]:
    """Whole subgroups of ``size`` plotted, in order, and the points left over."""
    queue = [*pending, *new]
    whole = len(queue) - len(queue) % size
    return [PlottedPoint(fmean(p.value for p in queue[i:i + size]), tuple(queue[i:i + size]))
            for i in range(0, whole, size)], queue[whole:]


class ControlChart(Record):
    """One characteristic of one inspection plan, charted for one line against limits from
    a baseline. It keeps only the last plotted points its longest enabled rule needs, and
    the log position it has charted to, so that charting the same results again does
    nothing and its state stays small however long it runs."""

    if TYPE_CHECKING:
        plan: str
        characteristic: str
        line: str
        kind: str
        subgroup_size: int
        rules: tuple[str, ...]
        spec: Limits
        baseline: tuple[float, ...]
        limits: ControlLimits
        window: list[PlottedPoint]
        window_size: int
        pending: list[ChartPoint]
        charted_to: int
        alarms_raised: int

    class Established(Record.Created):
        plan: str
        characteristic: str
        line: str
        kind: str
        subgroup_size: int
        rules: tuple[str, ...]
        spec: Limits
        baseline: tuple[float, ...]
        limits: ControlLimits

        def apply(self, chart: ControlChart) -> None:
            chart.plan, chart.characteristic, chart.line = self.plan, self.characteristic, \
                self.line
            chart.kind, chart.subgroup_size, chart.rules = self.kind, self.subgroup_size, \
                self.rules
            chart.spec, chart.baseline, chart.limits = self.spec, self.baseline, self.limits
            chart.window_size = max([2, *(r.span for r in rules_named(self.rules))])
            chart.window, chart.pending, chart.charted_to, chart.alarms_raised = [], [], 0, 0

    class PointsCharted(Record.Event):
        points: tuple[ChartPoint, ...]

        def apply(self, chart: ControlChart) -> None:
            chart.charted_to = max(chart.charted_to, *(p.position for p in self.points))
            plotted, chart.pending = _plot(chart.pending, self.points, chart.subgroup_size)
            chart.window = [*chart.window, *plotted][-chart.window_size:]

    class AlarmRaised(Record.Event):
        rule: str
        description: str
        points: tuple[PlottedPoint, ...]
        limits: ControlLimits

        def apply(self, chart: ControlChart) -> None:
            chart.alarms_raised += 1

    class Rebaselined(Record.Event):
        """New limits from now on; points plotted under the old ones leave the window."""

        baseline: tuple[float, ...]
        limits: ControlLimits
        spec: Limits

        def apply(self, chart: ControlChart) -> None:
            chart.baseline, chart.limits, chart.spec = self.baseline, self.limits, self.spec
            chart.window = []

    @classmethod
    def establish(cls, plan: str, characteristic: str, line: str, kind: str,
                  baseline: Sequence[float], spec: Limits, prov: Provenance, now: datetime,
                  subgroup_size: int = 1,
                  rules: Sequence[str] = NELSON_RULES) -> ControlChart:
        what = f"control chart {plan}/{characteristic}/{line} baseline"
        limits = control_limits(kind, baseline, subgroup_size, what)
        rules_named(rules)
        return cls._create(
            cls.Established, id=control_chart_id(plan, characteristic, line), provenance=prov,
            timestamp=now, plan=plan, characteristic=characteristic, line=line, kind=kind,
            subgroup_size=subgroup_size, rules=tuple(rules), spec=_checked_spec(what, spec),
            baseline=tuple(map(float, baseline)), limits=limits)

    def chart(self, points: Sequence[ChartPoint], prov: Provenance,
              now: datetime) -> list[Alarm]:
        """Plot the points not charted before; one PointsCharted for them, then one
        AlarmRaised per rule violation they complete. Returns those alarms."""
        new = self._not_yet_charted(points)
        if not new:
            return []
        alarms = self._alarms(_plot(self.pending, new, self.subgroup_size)[0])
        self.record(self.PointsCharted, prov, now, points=new)
        for a in alarms:
            self.record(self.AlarmRaised, prov, now, rule=a.rule, description=a.description,
                        points=a.points, limits=a.limits)
        return alarms

    def rebaseline(self, baseline: Sequence[float], prov: Provenance, now: datetime,
                   spec: Limits | None = None) -> None:
        prov.requiring_reason(f"rebaseline control chart {self._name}")
        what = f"control chart {self._name} baseline"
        limits = control_limits(self.kind, baseline, self.subgroup_size, what)
        self.record(self.Rebaselined, prov, now, baseline=tuple(map(float, baseline)),
                    limits=limits, spec=_checked_spec(what, spec or self.spec))

    def baseline_capability(self) -> Capability:
        return capability(self.limits.centre, self.limits.within_sigma, self.spec)

    def window_capability(self) -> Capability:
        """Cp/Cpk of the points in the window, with their own mean and within sigma."""
        what = f"capability over the window of control chart {self._name}"
        groups = [[p.value for p in plotted.points] for plotted in self.window]
        limits = individuals_limits([g[0] for g in groups], what) \
            if self.kind == INDIVIDUALS else xbar_r_limits(groups, what)
        return capability(limits.centre, limits.within_sigma, self.spec)

    @property
    def _name(self) -> str:
        return f"{self.plan}/{self.characteristic}/{self.line}"

    def _not_yet_charted(self, points: Sequence[ChartPoint]) -> tuple[ChartPoint, ...]:
        new: dict[tuple[UUID, int], ChartPoint] = {}
        for p in points:
            _number(f"chart point {p.source} #{p.index}", p.value)
            if p.position > self.charted_to:
                new.setdefault((p.source, p.index), p)
        return tuple(new.values())

    def _alarms(self, plotted: list[PlottedPoint]) -> list[Alarm]:
        """One alarm per episode: a pattern that goes on (a tenth point on one side where
        nine fire) is the alarm already raised, not another; once it breaks, its next
        completion is a new alarm. A one-point rule (beyond the control limits) alarms at
        every such point: each is a signal of its own."""
        series = [*self.window, *plotted]
        first_new = len(self.window)
        hits = violations(rules_named(self.rules), [p.value for p in series],
                          self.limits.centre, self.limits.sigma, since=max(0, first_new - 1))
        flagged = {(i, rule.id) for i, rule in hits}
        return [Alarm(rule.id, rule.description, tuple(series[max(0, i - rule.span + 1):i + 1]),
                      self.limits) for i, rule in hits
                if i >= first_new and (rule.span == 1 or (i - 1, rule.id) not in flagged)]


def _checked_spec(what: str, spec: Limits) -> Limits:
    return Limits.checked(what, spec.unit, spec.lower, spec.upper)


def chart_baseline_id(plan: str, characteristic: str, line: str) -> UUID:
    return record_id("chart-baseline", f"{plan}/{characteristic}/{line}")


class ChartBaseline(Record):
    """The first points of a characteristic on a line, gathered until there are enough to
    set a control chart's limits (they are the baseline, not judged against it)."""

    if TYPE_CHECKING:
        size: int
        points: list[ChartPoint]
        collected_to: int

    class Started(Record.Created):
        plan: str
        characteristic: str
        line: str
        size: int

        def apply(self, b: ChartBaseline) -> None:
            b.size, b.points, b.collected_to = self.size, [], 0

    class PointsCollected(Record.Event):
        points: tuple[ChartPoint, ...]

        def apply(self, b: ChartBaseline) -> None:
            b.points.extend(self.points)
            b.collected_to = max(b.collected_to, *(p.position for p in self.points))

    @classmethod
    def start(cls, plan: str, characteristic: str, line: str, size: int, prov: Provenance,
              now: datetime) -> ChartBaseline:
        if size < 2:
            raise TooFewPoints("a control chart baseline", 2, size)
        return cls._create(cls.Started, id=chart_baseline_id(plan, characteristic, line),
                           provenance=prov, timestamp=now, plan=plan,
                           characteristic=characteristic, line=line, size=size)

    @property
    def complete(self) -> bool:
        return len(self.points) >= self.size

    def collect(self, points: Sequence[ChartPoint], prov: Provenance,
                now: datetime) -> tuple[ChartPoint, ...]:
        """Take what the baseline still needs; returns the points left over, for the chart."""
        new = [p for p in points if p.position > self.collected_to]
        for p in new:
            _number(f"chart point {p.source} #{p.index}", p.value)
        taken = tuple(new[:max(0, self.size - len(self.points))])
        if taken:
            self.record(self.PointsCollected, prov, now, points=taken)
        return tuple(new[len(taken):])
