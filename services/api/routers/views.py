"""Every view as JSON, a page at a time: `GET /api/v1/views/<name>?<column>=<value>&limit=
&cursor=` (and `since`/`until` on a view's time column). A page ends with `next_cursor`,
null on the last. The views lag the log by moments: a record's own state and history are
read from the event store (routers.records)."""

from __future__ import annotations

import base64
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, create_model
from sqlalchemy import DateTime, Table
from starlette.responses import Response

from projections.acceptance import LotAcceptanceRow, SwitchingStateRow, SwitchRow
from projections.base import ViewBase
from projections.corrective_actions import CorrectiveActionRow
from projections.gauge_usage import GaugeUseRow
from projections.genealogy import GenealogyEdgeRow, GenealogyLotRow, known, trace
from projections.history import HistoryRow
from projections.instruments import InstrumentRow, calibration_status
from projections.lots import LotInspectionRow, LotRow
from projections.nonconformances import NonconformanceRow, SuspectLotRow, TaskRow
from projections.paging import read_page
from projections.readings import ReadingRow
from projections.results import InspectionRow, ResultRow, chart_points
from projections.spc import ChartBaselineRow, ControlChartRow, SpcAlarmRow, spc_alarms
from services.api.context import ApiContext
from services.api.problems import ApiProblem
from services.api.security import reader

router = APIRouter(prefix="/api/v1", tags=["views"])
Extra = Callable[[dict[str, Any], ApiContext], dict[str, Any]]


@dataclass(frozen=True)
class Listing:
    name: str
    model: type[ViewBase]
    key: tuple[str, ...]  # columns that order the rows and together are unique
    filters: tuple[str, ...]
    summary: str
    time: str | None = None  # the column `since` and `until` apply to
    extra: dict[str, tuple[type, Extra]] | None = None

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[return-value]


def _calibration_status(row: dict[str, Any], ctx: ApiContext) -> dict[str, Any]:
    return {"calibration_status": calibration_status(row, ctx.records.clock(),
                                                     ctx.settings.due_soon_days)}


LISTINGS = (
    Listing("instruments", InstrumentRow, ("tag", "instrument_id"),
            ("tag", "kind", "status", "location"), "the instrument register",
            extra={"calibration_status": (str, _calibration_status)}),
    Listing("lots", LotRow, ("lot", "lot_id"), ("lot", "product", "on_hold", "location"),
            "lot status: hold, location, open nonconformances, last operation"),
    Listing("lot-inspections", LotInspectionRow, ("inspection_id",), ("lot", "stage", "verdict"),
            "each inspection of a lot and its verdict", "recorded_at"),
    Listing("inspections", InspectionRow, ("inspection_id",),
            ("lot", "stage", "plan", "line", "station", "inspector", "verdict"),
            "inspections with their verdicts", "occurred_at"),
    Listing("results", ResultRow, ("inspection_id", "idx"),
            ("lot", "plan", "characteristic", "gauge", "conforming", "gauge_condition"),
            "every inspection result, judged, with its gauge's condition", "occurred_at"),
    Listing("readings", ReadingRow, ("reading_id",),
            ("lot", "line", "operation", "parameter", "within_limits"),
            "process-parameter readings with their limits and reaction", "occurred_at"),
    Listing("gauge-usage", GaugeUseRow, ("gauge", "measured_at", "inspection_id", "idx"),
            ("gauge", "lot", "characteristic", "gauge_condition"),
            "every result each gauge measured", "measured_at"),
    Listing("control-charts", ControlChartRow, ("chart_id",), ("plan", "characteristic", "line"),
            "control charts: limits, baseline Cp/Cpk, points and alarms counted"),
    Listing("spc-alarms", SpcAlarmRow, ("chart_id", "version"),
            ("plan", "characteristic", "line", "rule"), "SPC alarms", "recorded_at"),
    Listing("spc-baselines", ChartBaselineRow, ("baseline_id",),
            ("plan", "characteristic", "line"), "control chart baselines still gathering"),
    Listing("nonconformances", NonconformanceRow, ("number", "nonconformance_id"),
            ("number", "status", "source", "characteristic", "raised_by"),
            "the nonconformance board", "raised_at"),
    Listing("nonconformance-suspect-lots", SuspectLotRow, ("nonconformance_id", "listing", "lot"),
            ("nonconformance_id", "lot", "status"), "suspect lots listed by reverse traces"),
    Listing("nonconformance-tasks", TaskRow, ("nonconformance_id", "idx"),
            ("nonconformance_id", "assignee"), "tasks nonconformances call for"),
    Listing("corrective-actions", CorrectiveActionRow, ("number", "corrective_action_id"),
            ("number", "status", "nonconformance_id", "opened_by"),
            "the corrective action board", "opened_at"),
    Listing("lot-acceptance", LotAcceptanceRow, ("lot", "acceptance_id"),
            ("lot", "plan", "severity", "verdict", "switching_id"),
            "lot acceptance by sampling: plan, sample, count, decision", "planned_at"),
    Listing("switching-state", SwitchingStateRow, ("switching_id",),
            ("plan", "product", "source", "severity"),
            "the inspection in force (normal, tightened, reduced) per plan, product, source"),
    Listing("sampling-switches", SwitchRow, ("switching_id", "version"),
            ("switching_id", "to_severity"), "every switch of inspection severity and why",
            "switched_at"),
    Listing("genealogy", GenealogyEdgeRow, ("child_lot", "parent_lot"),
            ("child_lot", "parent_lot"), "lots consumed into lots, with quantities"),
    Listing("genealogy-lots", GenealogyLotRow, ("lot", "lot_id"), ("lot", "product", "supplier"),
            "lots in the genealogy with their quantities"),
    Listing("history", HistoryRow, ("position",),
            ("record_id", "record_kind", "event", "actor", "source"),
            "every event of every record, in log order", "recorded_at"),
)


def _python_type(column: Any) -> type:
    try:
        return column.type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return str


def _row_model(listing: Listing) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for column in listing.table.columns:
        kind = _python_type(column)
        fields[column.key] = (kind | None if column.nullable else kind, ...)
    for name, (kind, _) in (listing.extra or {}).items():
        fields[name] = (kind, ...)
    title = "".join(part.title() for part in listing.name.split("-"))
    return create_model(f"{title}Row", **fields)


def _page_model(listing: Listing, row: type[BaseModel]) -> type[BaseModel]:
    title = "".join(part.title() for part in listing.name.split("-"))
    return create_model(f"{title}Page", items=(list[row], ...),  # type: ignore[valid-type]
                        next_cursor=(str | None, Field(description="the next page's cursor; "
                                                                   "null on the last page")))


def _filter_type(listing: Listing, name: str) -> Any:
    column = listing.table.c[name]
    kind = _python_type(column)
    length = getattr(column.type, "length", None) or 200
    query = Query(max_length=length) if kind is str else Query()
    return Annotated[kind | None, query]


def _listing_route(listing: Listing) -> None:
    table, page_model = listing.table, _page_model(listing, _row_model(listing))

    def read(ctx: ApiContext, limit: int, cursor: str | None,
             since: datetime | None = None, until: datetime | None = None,
             **equal: Any) -> Response:
        after = _decode_cursor(listing, cursor) if cursor else None
        with ctx.views.connect() as conn:
            page = read_page(conn, table, listing.key,
                             equal={k: _utc(v) for k, v in equal.items() if v is not None},
                             time_column=listing.time, since=_utc(since), until=_utc(until),
                             after=after, limit=limit)
        rows = page.rows
        for name, (_, compute) in (listing.extra or {}).items():
            for row in rows:
                row[name] = compute(row, ctx)[name]
        return Response(orjson.dumps({"items": rows, "next_cursor": _encode_cursor(
            page.last_key)}), media_type="application/json")

    params = [
        inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY,
                          annotation=Annotated[ApiContext, reader("records.read")]),
        inspect.Parameter("limit", inspect.Parameter.KEYWORD_ONLY, default=100,
                          annotation=Annotated[int, Query(ge=1, le=1000)]),
        inspect.Parameter("cursor", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[str | None, Query(
                              max_length=2000, description="from next_cursor")]),
    ]
    if listing.time:
        for bound, relation in (("since", "at or after"), ("until", "at or before")):
            params.append(inspect.Parameter(
                bound, inspect.Parameter.KEYWORD_ONLY, default=None,
                annotation=Annotated[datetime | None, Query(
                    description=f"{listing.time} {relation} this time")]))
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=_filter_type(listing, name))
               for name in listing.filters]
    read.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    read.__name__ = f"view_{listing.name.replace('-', '_')}"
    router.add_api_route(f"/views/{listing.name}", read, methods=["GET"],
                         response_model=page_model, summary=listing.summary)


def _encode_cursor(key: tuple[Any, ...] | None) -> str | None:
    if key is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode()


def _decode_cursor(listing: Listing, cursor: str) -> list[Any]:
    columns = [listing.table.c[name] for name in listing.key]
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("not this view's cursor")
        return [datetime.fromisoformat(v) if isinstance(c.type, DateTime) else v
                for c, v in zip(columns, values, strict=True)]
    except (ValueError, TypeError) as e:
        raise ApiProblem(422, "Invalid input", f"cursor: not a cursor of this view ({e})",
                         field="query.cursor") from None


def _utc(value: Any) -> Any:
    """Times compared in UTC (SQLite keeps them without their zone)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


for _listing in LISTINGS:
    _listing_route(_listing)


class ChartOut(BaseModel):
    chart: dict[str, Any] | None = Field(description="limits and Cp/Cpk; null before the "
                                                     "baseline is complete")
    alarms: list[dict[str, Any]]
    points: list[dict[str, Any]] = Field(description="the latest results, oldest first")


@router.get("/control-charts/{plan}/{characteristic}/{line}", response_model=ChartOut,
            summary="A control chart's data: limits, the latest points and the alarms")
def control_chart(plan: Annotated[str, Path(max_length=64)],
                  characteristic: Annotated[str, Path(max_length=64)],
                  line: Annotated[str, Path(max_length=32)],
                  ctx: Annotated[ApiContext, reader("records.read")],
                  points: Annotated[int, Query(ge=1, le=5000)] = 500) -> Response:
    charts, c = ControlChartRow.__table__, ControlChartRow.__table__.c
    with ctx.views.connect() as conn:
        chart = conn.execute(charts.select().where(
            c.plan == plan, c.characteristic == characteristic, c.line == line)
        ).mappings().first()
        alarms = [a for a in spc_alarms(conn, plan, characteristic) if a["line"] == line]
        found = chart_points(conn, plan, characteristic, line, points)
    body = {"chart": dict(chart) if chart else None, "alarms": alarms, "points": found}
    return Response(orjson.dumps(body, option=orjson.OPT_NAIVE_UTC),
                    media_type="application/json")


class TraceStepOut(BaseModel):
    depth: int
    lot: str
    via: str = Field(description="the lot it was reached from")
    quantity: float | None


@router.get("/genealogy/{lot}", response_model=list[TraceStepOut],
            summary="A lot's genealogy tree (as `qrec trace`): every lot made from it "
                    "(forward) or that went into it (backward), breadth first")
def genealogy(lot: Annotated[str, Path(min_length=1, max_length=64)],
              ctx: Annotated[ApiContext, reader("records.read")],
              forward: Annotated[bool, Query(description="false: backward")] = True
              ) -> list[TraceStepOut]:
    with ctx.views.connect() as conn:
        if not known(conn, lot):
            raise ApiProblem(404, "No such record", f"no lot {lot} in the genealogy view")
        steps = trace(conn, lot, forward=forward)
    return [TraceStepOut(depth=s.depth, lot=s.lot, via=s.via, quantity=s.quantity)
            for s in steps]
