"""Statistical process control: every control chart with the limits it judges by, how far
it has charted and its baseline capability; every SPC alarm with its rule, the point that
completed the pattern and the limits in force; and the baselines still being gathered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Float, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.records import InvalidValue, Limits
from domain.spc import ChartBaseline, ControlChart, ControlLimits, capability, control_chart_id
from projections.base import Batch, View, ViewBase


class ControlChartRow(ViewBase):
    """One chart per characteristic, plan and line. ``points_charted`` counts measured
    values (an X-bar/R chart plots one point per subgroup of them)."""

    __tablename__ = "control_charts"
    __table_args__ = (Index("ix_control_charts_characteristic", "plan", "characteristic",
                            "line"),)

    chart_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan: Mapped[str] = mapped_column(String(64))
    characteristic: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    subgroup_size: Mapped[int]
    rules: Mapped[str]  # comma-separated, as enabled for the characteristic
    unit: Mapped[str] = mapped_column(String(16))
    lsl: Mapped[float | None] = mapped_column(Float)
    usl: Mapped[float | None] = mapped_column(Float)
    baseline_size: Mapped[int]
    centre: Mapped[float] = mapped_column(Float)
    ucl: Mapped[float] = mapped_column(Float)
    lcl: Mapped[float] = mapped_column(Float)
    sigma: Mapped[float] = mapped_column(Float)
    range_centre: Mapped[float] = mapped_column(Float)
    range_ucl: Mapped[float] = mapped_column(Float)
    range_lcl: Mapped[float] = mapped_column(Float)
    baseline_cp: Mapped[float | None] = mapped_column(Float)
    baseline_cpk: Mapped[float | None] = mapped_column(Float)
    points_charted: Mapped[int]
    alarms_raised: Mapped[int]
    last_point_at: Mapped[datetime | None]
    rebaselines: Mapped[int]
    established_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    position: Mapped[int]


class SpcAlarmRow(ViewBase):
    """One alarm: the chart's event version names it. The completing point is the last of
    the rule's pattern; its source is ``record#index`` of the (last) result behind it."""

    __tablename__ = "spc_alarms"

    chart_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    plan: Mapped[str] = mapped_column(String(64))
    characteristic: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(16), index=True)
    description: Mapped[str]
    pattern_points: Mapped[int]
    point_value: Mapped[float] = mapped_column(Float)
    point_source: Mapped[str] = mapped_column(String(64))
    point_occurred_at: Mapped[datetime]
    centre: Mapped[float] = mapped_column(Float)
    ucl: Mapped[float] = mapped_column(Float)
    lcl: Mapped[float] = mapped_column(Float)
    sigma: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(index=True)
    position: Mapped[int]


class ChartBaselineRow(ViewBase):
    """The first points of a characteristic on a line, gathered until its chart is set up."""

    __tablename__ = "spc_baselines"

    baseline_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    chart_id: Mapped[str] = mapped_column(String(36))
    plan: Mapped[str] = mapped_column(String(64))
    characteristic: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(String(32))
    size: Mapped[int]
    points_collected: Mapped[int]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("spc", 1, (ControlChartRow, SpcAlarmRow, ChartBaselineRow),
            "SPC: control charts with limits and capability, alarms, baselines gathered")


@VIEW.handles(ChartBaseline.Started)
def when_baseline_started_add_it(batch: Batch, e: ChartBaseline.Started,
                                 position: int) -> None:
    batch.add(ChartBaselineRow, baseline_id=str(e.originator_id),
              chart_id=str(control_chart_id(e.plan, e.characteristic, e.line)), plan=e.plan,
              characteristic=e.characteristic, line=e.line, size=e.size, points_collected=0,
              started_at=e.timestamp, updated_at=e.timestamp, position=position)


@VIEW.handles(ChartBaseline.PointsCollected)
def when_baseline_points_collected_count_them(batch: Batch, e: ChartBaseline.PointsCollected,
                                              position: int) -> None:
    row = batch.get(ChartBaselineRow, str(e.originator_id))
    if row is not None:
        row.update(points_collected=row["points_collected"] + len(e.points),
                   updated_at=e.timestamp, position=position)
        batch.changed(ChartBaselineRow, row)


@VIEW.handles(ControlChart.Established)
def when_chart_established_add_it(batch: Batch, e: ControlChart.Established,
                                  position: int) -> None:
    batch.add(ControlChartRow, chart_id=str(e.originator_id), plan=e.plan,
              characteristic=e.characteristic, line=e.line, kind=e.kind,
              subgroup_size=e.subgroup_size, rules=",".join(e.rules), points_charted=0,
              alarms_raised=0, rebaselines=0, established_at=e.timestamp,
              updated_at=e.timestamp, position=position, **_baseline(e.baseline, e.limits, e.spec))


@VIEW.handles(ControlChart.PointsCharted)
def when_points_charted_count_them(batch: Batch, e: ControlChart.PointsCharted,
                                   position: int) -> None:
    def values(row: dict[str, Any]) -> dict[str, Any]:
        latest = max(p.occurred_at for p in e.points)
        last = row["last_point_at"]
        return {"points_charted": row["points_charted"] + len(e.points),
                "last_point_at": latest if last is None or _aware(last) < latest else last}
    _change(batch, e, position, values)


@VIEW.handles(ControlChart.AlarmRaised)
def when_alarm_raised_add_it(batch: Batch, e: ControlChart.AlarmRaised, position: int) -> None:
    chart = _change(batch, e, position, lambda row: {"alarms_raised": row["alarms_raised"] + 1})
    if chart is None:
        return
    completing = e.points[-1]
    source = completing.points[-1]
    batch.add(SpcAlarmRow, chart_id=chart["chart_id"], version=e.originator_version,
              plan=chart["plan"], characteristic=chart["characteristic"], line=chart["line"],
              rule=e.rule, description=e.description, pattern_points=len(e.points),
              point_value=completing.value, point_source=f"{source.source}#{source.index}",
              point_occurred_at=source.occurred_at, centre=e.limits.centre, ucl=e.limits.ucl,
              lcl=e.limits.lcl, sigma=e.limits.sigma, recorded_at=e.timestamp,
              position=position)


@VIEW.handles(ControlChart.Rebaselined)
def when_rebaselined_replace_limits(batch: Batch, e: ControlChart.Rebaselined,
                                    position: int) -> None:
    _change(batch, e, position, lambda row: {"rebaselines": row["rebaselines"] + 1,
                                             **_baseline(e.baseline, e.limits, e.spec)})


def _baseline(baseline: tuple[float, ...], limits: ControlLimits,
              spec: Limits) -> dict[str, Any]:
    """The columns a baseline sets: its size, the limits from it, and Cp/Cpk with the
    short-term sigma (None when the characteristic has no specification limit)."""
    try:
        cap = capability(limits.centre, limits.within_sigma, spec)
        cp, cpk = cap.cp, cap.cpk
    except InvalidValue:
        cp = cpk = None
    return {"baseline_size": len(baseline), "unit": spec.unit, "lsl": spec.lower,
            "usl": spec.upper, "centre": limits.centre, "ucl": limits.ucl, "lcl": limits.lcl,
            "sigma": limits.sigma, "range_centre": limits.range_centre,
            "range_ucl": limits.range_ucl, "range_lcl": limits.range_lcl,
            "baseline_cp": cp, "baseline_cpk": cpk}


def _aware(stored: datetime) -> datetime:
    return stored if stored.tzinfo else stored.replace(tzinfo=UTC)  # SQLite drops the zone


def _change(batch: Batch, e: Any, position: int, values: Any) -> dict[str, Any] | None:
    row = batch.get(ControlChartRow, str(e.originator_id))
    if row is not None:
        row.update(values(row), updated_at=e.timestamp, position=position)
        batch.changed(ControlChartRow, row)
    return row


def control_charts(conn: Connection) -> list[dict[str, Any]]:
    t = ControlChartRow.__table__.c
    query = select(ControlChartRow.__table__).order_by(t.plan, t.characteristic, t.line)
    return [dict(r) for r in conn.execute(query).mappings()]


def spc_alarms(conn: Connection, plan: str | None = None,
               characteristic: str | None = None) -> list[dict[str, Any]]:
    """Alarms in the order they were raised, of one plan or characteristic if named."""
    t = SpcAlarmRow.__table__.c
    query = select(SpcAlarmRow.__table__)
    if plan is not None:
        query = query.where(t.plan == plan)
    if characteristic is not None:
        query = query.where(t.characteristic == characteristic)
    return [dict(r) for r in conn.execute(query.order_by(t.position, t.version)).mappings()]
