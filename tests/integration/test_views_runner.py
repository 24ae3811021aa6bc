"""The projection runner, exactly once: killed at random points it resumes to the very
rows a fresh rebuild makes; two runners started together never apply an event twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from projections.base import POSITIONS, create_views_engine, table_rows
from projections.catalog import VIEWS
from projections.runner import ProjectionRunner, RecorderSource, view_positions
from services.composition import build_records
from services.policy_runner import PolicyRunner, build_tracked_records
from services.settings import Settings
from tests.conftest import drop_pg_schema
from tests.integration.views_scenario import build_plant, line_inspections

ROOT = Path(__file__).resolve().parents[2]
RUNNER = """
import logging, sys, threading
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s")
from services.settings import Settings
from services.views import build_projection_runner
runner = build_projection_runner(Settings.from_env(), poll_interval=0.05)
runner.page_size = int(sys.argv[1])
runner.run(threading.Event(), retry_locks_every=0.1)
"""


def start_runner(settings: Settings, page_size: int = 25) -> subprocess.Popen[bytes]:
    """A runner in a process of its own; what it logs goes to a file next to the data
    (a pipe nobody reads would stop it once full), shown by ``runner_log`` on failure."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QREC_DATA_DIR": str(settings.data_dir),
           "QREC_STORE_URL": settings.store_url, "QREC_PG_SCHEMA": settings.pg_schema,
           "PYTHONPATH": str(ROOT)}
    with open(settings.data_dir / "runners.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-c", RUNNER, str(page_size)], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)


def runner_log(settings: Settings) -> str:
    path = settings.data_dir / "runners.log"
    return path.read_text(errors="replace")[-6000:] if path.exists() else ""


def every_view_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        found = {t.name: table_rows(conn, t) for v in VIEWS.values() for t in v.tables}
        found[POSITIONS.name] = table_rows(conn, POSITIONS)
    return found


@pytest.fixture
def fresh_engine(store_settings: Settings, tmp_path: Path) -> Iterator[Engine]:
    """A second views database, for a rebuild from scratch to compare with."""
    if not store_settings.uses_postgres:
        engine = create_views_engine(f"sqlite:///{tmp_path / 'fresh-views.sqlite'}")
        yield engine
        engine.dispose()
        return
    schema = f"qrec_fresh_{uuid.uuid4().hex[:10]}"
    fresh = store_settings.with_(pg_schema=schema)
    from services.composition import ensure_pg_schema
    ensure_pg_schema(fresh)
    engine = create_views_engine(fresh.views_url, schema)
    yield engine
    engine.dispose()
    drop_pg_schema(store_settings.store_url, schema)


def fresh_rebuild(app: Any, engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    runner = ProjectionRunner(engine, RecorderSource(app), list(VIEWS.values()))
    runner.rebuild()
    runner.release()
    return every_view_row(engine)


def wait_until(condition: Any, timeout: float, what: str,
               settings: Settings | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            said = f"; the runners logged:\n{runner_log(settings)}" if settings else ""
            raise AssertionError(f"timed out waiting for {what}{said}")
        time.sleep(0.02)


def lowest_position(engine: Engine) -> int:
    positions = view_positions(engine)
    if len(positions) < len(VIEWS):
        return 0
    return min(p for p, _ in positions.values())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest.mark.slow
def test_a_runner_killed_at_random_points_resumes_to_the_rows_of_a_fresh_rebuild(
        store_settings: Settings, clock: Any, fresh_engine: Engine) -> None:
    rng = random.Random(4)
    app = build_records(store_settings, clock=clock)
    build_plant(app, inspections=400)
    # the policies' reactions too (nonconformances, SPC charts and alarms, gauge usage)
    PolicyRunner(build_tracked_records(store_settings, clock=clock)).catch_up()
    from services.views import build_views_engine
    engine = build_views_engine(store_settings)
    kills_mid_catch_up = 0
    for round_ in range(8):
        if round_ >= 4 and kills_mid_catch_up >= 2:
            break  # four rounds, more only if a busy machine let the runner finish early
        proc = start_runner(store_settings, page_size=10)
        try:
            # Wait for the runner to be at work, then kill it at a random moment.
            before = lowest_position(engine)
            wait_until(lambda b=before, p=proc: lowest_position(engine) > b or p.poll() is not None,
                       30, "the runner to start applying pages", store_settings)
            time.sleep(rng.uniform(0.0, 0.1))
            kills_mid_catch_up += lowest_position(engine) < app.recorder.max_notification_id()
        finally:
            stop(proc)
        # The plant does not wait for the views: more inspections arrive meanwhile.
        line_inspections(app, 1000 + 200 * round_, 200)
    assert kills_mid_catch_up >= 2, "the kills should land while pages are being applied"

    proc = start_runner(store_settings)
    try:
        head = app.recorder.max_notification_id()
        wait_until(lambda: lowest_position(engine) >= head, 60, "the runner to catch up",
                   store_settings)
    finally:
        stop(proc)
    rows = every_view_row(engine)
    assert rows == fresh_rebuild(app, fresh_engine)
    assert rows["control_charts"] and rows["spc_alarms"] and rows["nonconformance_board"]
    engine.dispose()


@pytest.mark.slow
def test_two_runners_started_together_never_apply_an_event_twice(
        store_settings: Settings, clock: Any, fresh_engine: Engine) -> None:
    app = build_records(store_settings, clock=clock)
    build_plant(app, inspections=300)
    from services.views import build_views_engine
    engine = build_views_engine(store_settings)
    first, second = start_runner(store_settings), start_runner(store_settings)
    try:
        head = app.recorder.max_notification_id()
        wait_until(lambda: lowest_position(engine) >= head, 60, "the runners to catch up",
                   store_settings)
        # Both came up (starting together, they set up the same store at the same moment).
        assert first.poll() is None and second.poll() is None, runner_log(store_settings)
        assert every_view_row(engine) == fresh_rebuild(app, fresh_engine)
        # Whichever held the views dies; the other takes them over and follows the log.
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        line_inspections(app, 5000, 50)
        head = app.recorder.max_notification_id()
        wait_until(lambda: lowest_position(engine) >= head, 60, "the survivor to take over",
                   store_settings)
    finally:
        stop(first)
        stop(second)
    assert every_view_row(engine) == fresh_rebuild(app, fresh_engine)
    engine.dispose()


class EveryoneHoldsTheLock:
    """Locks that never say no: only the position compare-and-set stands between two
    runners and a double apply."""

    def try_acquire(self, view: str) -> bool:
        return True

    def release(self, view: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_two_runners_without_locks_still_apply_each_event_once(
        store_settings: Settings, clock: Any, fresh_engine: Engine) -> None:
    app = build_records(store_settings, clock=clock)
    build_plant(app, inspections=200)
    from services.views import build_views_engine
    engine = build_views_engine(store_settings)
    runners = [ProjectionRunner(engine, RecorderSource(app), list(VIEWS.values()),
                                page_size=20, locks=EveryoneHoldsTheLock()) for _ in range(2)]
    runners[0].acquire()
    runners[1].acquire()
    errors: list[BaseException] = []

    def catch_up(runner: ProjectionRunner) -> None:
        try:
            while runner.catch_up() or min(runner.positions.values()) < \
                    app.recorder.max_notification_id():
                pass
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=catch_up, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert every_view_row(engine) == fresh_rebuild(app, fresh_engine)
    engine.dispose()
