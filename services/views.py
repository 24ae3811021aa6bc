"""Composition of the read models: the views engine, the event source, and the projection
runner that `qrec run` starts (`start_projection_runner`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, create_engine

from domain.application import QualityRecords
from projections.base import create_views_engine
from projections.catalog import views_named
from projections.runner import ProjectionRunner, RecorderSource, RunningProjections
from services.composition import build_records, ensure_pg_schema
from services.settings import Settings


def build_views_engine(settings: Settings) -> Engine:
    if settings.uses_postgres:
        ensure_pg_schema(settings)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_views_engine(settings.views_url, settings.pg_schema)


def build_views_reader(settings: Settings) -> Engine:
    """An engine that only reads the views (the HTTP API): on SQLite it takes no write lock,
    so readers neither wait for the projection runner nor hold it up (WAL)."""
    if settings.uses_postgres:
        return build_views_engine(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_engine(settings.views_url, connect_args={"timeout": 30})


def build_projection_runner(settings: Settings, views: Sequence[str] | None = None, *,
                            records: QualityRecords | None = None,
                            poll_interval: float = 0.2) -> ProjectionRunner:
    """A runner for the named views (all of them by default) on the settings' stores."""
    app = records if records is not None else build_records(settings)
    return ProjectionRunner(build_views_engine(settings),
                            RecorderSource(app),
                            views_named(list(views or ())), poll_interval=poll_interval)


def start_projection_runner(settings: Settings, views: Sequence[str] | None = None, *,
                            records: QualityRecords | None = None) -> RunningProjections:
    """Keep the views up to date on a background thread until ``stop()``: catches up,
    then follows the log. Views another process already runs are taken over if it
    stops. Safe to call in several processes at once."""
    return RunningProjections(build_projection_runner(settings, views, records=records)).start()


def run_projections(ctx: Any) -> None:
    """`qrec run` component (services.runner COMPONENTS, a plain function: own thread):
    keeps every view up to date until ``ctx.stop_flag`` is set."""
    runner = build_projection_runner(ctx.settings, records=ctx.build_records())
    ctx.status = lambda: "views at " + ", ".join(
        f"{name} {position}" for name, position in sorted(runner.positions.items()))
    runner.run(ctx.stop_flag)
