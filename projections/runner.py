"""The projection runner: reads the notification log in pages, applies each page to every
view it holds, and commits the views' rows and their positions in one transaction.

It catches up, then follows the log by polling (SQLite has no notifications to listen
to, and a poll of an index is cheap). Several views run in one runner; each view runs in
one runner at a time (see ``projections.locks``). A second runner started on the same views
stands by and takes over the views whose holder goes away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import Notification
from sqlalchemy import Engine, inspect, select, update

from projections.base import POSITIONS, Batch, View, ViewBase, ddl_transaction
from projections.locks import ViewLocks, locks_for

log = logging.getLogger("qrec.projections")
PAGE_SIZE = 1000
Progress = Callable[[int, int], None]  # (position reached, head of the log)


class EventSource(Protocol):
    """The notification log, as the runner reads it."""

    def read(self, after: int, limit: int) -> Sequence[Notification]: ...

    def head(self) -> int: ...

    def decode(self, notification: Notification) -> Any: ...


class RecorderSource:
    """An eventsourcing application's notification log and mapper, as an EventSource.
    It keeps the application: the recorder's connections close with it."""

    def __init__(self, app: Any) -> None:
        self.app, self.recorder, self.mapper = app, app.recorder, app.mapper

    def read(self, after: int, limit: int) -> Sequence[Notification]:
        found: Sequence[Notification] = self.recorder.select_notifications(
            after, limit, inclusive_of_start=False)
        return found

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def decode(self, notification: Notification) -> Any:
        return self.mapper.to_domain_event(notification)


class ViewBusy(RuntimeError):
    def __init__(self, view: str) -> None:
        super().__init__(f"view {view} is being kept up to date by a running runner; "
                         "stop it first")
        self.view = view


class PositionMoved(RuntimeError):
    """Another writer moved a view's position under us: the page is not applied."""


class ProjectionRunner:
    def __init__(self, engine: Engine, source: EventSource, views: Sequence[View], *,
                 page_size: int = PAGE_SIZE, poll_interval: float = 0.2,
                 locks: ViewLocks | None = None) -> None:
        self.engine, self.source, self.page_size = engine, source, page_size
        self.views = {v.name: v for v in views}
        self.poll_interval = poll_interval
        self.locks = locks if locks is not None else locks_for(engine)
        self.positions: dict[str, int] = {}  # the views this runner holds
        self.prepared = False

    # -- holding views ------------------------------------------------------------------

    def prepare(self) -> None:
        if not self.prepared:
            with ddl_transaction(self.engine) as conn:
                ViewBase.metadata.create_all(conn, tables=[POSITIONS])
            self.prepared = True

    def acquire(self) -> list[str]:
        """Take every view no other runner holds; the names newly taken."""
        self.prepare()
        taken = []
        for name, view in self.views.items():
            if name not in self.positions and self.locks.try_acquire(name):
                self.positions[name] = self._open(view)
                taken.append(name)
        return taken

    def _open(self, view: View) -> int:
        """The view's position, after creating or rebuilding its tables if its code
        version differs from the one that made its rows."""
        with ddl_transaction(self.engine) as conn:
            row = conn.execute(select(POSITIONS).where(POSITIONS.c.view == view.name)
                               ).mappings().first()
            if row is not None and row["version"] == view.version:
                ViewBase.metadata.create_all(conn, tables=list(view.tables))
                return int(row["position"])
            if row is not None:
                log.warning("view %s changed (v%s -> v%s): rebuilding it", view.name,
                            row["version"], view.version)
            _reset(conn, view)
            return 0

    def release(self) -> None:
        self.locks.close()
        self.positions.clear()

    # -- applying pages -------------------------------------------------------------------

    def step(self) -> int:
        """Apply the next page of the log to the views held; how many events were read."""
        if not self.positions:
            return 0
        notifications = self.source.read(min(self.positions.values()), self.page_size)
        if not notifications:
            return 0
        events = [(n.id, self.source.decode(n)) for n in notifications]
        last = notifications[-1].id
        try:
            self._apply_page_and_move_positions(events, last)
        except PositionMoved as moved:
            log.warning("%s: re-reading positions", moved)
            self._reload_positions()
            return 0
        for name, position in self.positions.items():
            self.positions[name] = max(position, last)
        return len(notifications)

    def _apply_page_and_move_positions(self, events: list[tuple[int, Any]], last: int) -> None:
        with self.engine.begin() as conn:
            # Positions first: a second writer waits here on the row lock, then finds the
            # position moved and applies nothing.
            for name, position in self.positions.items():
                if position < last:
                    moved = conn.execute(update(POSITIONS).where(
                        POSITIONS.c.view == name, POSITIONS.c.position == position,
                    ).values(position=last)).rowcount
                    if moved != 1:
                        raise PositionMoved(f"view {name} is no longer at {position}")
            batch = Batch(conn)
            held = [(self.views[n], p) for n, p in self.positions.items()]
            for position, event in events:
                for view, at in held:
                    if position > at:
                        view.apply(batch, event, position)
            batch.flush()

    def _reload_positions(self) -> None:
        with self.engine.connect() as conn:
            rows = {v: p for v, p in conn.execute(select(POSITIONS.c.view, POSITIONS.c.position))}
        for name in self.positions:
            self.positions[name] = int(rows.get(name, 0))

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply pages until the log is read to its end; how many events were read."""
        head = self.source.head()
        total = 0
        while True:
            read = self.step()
            total += read
            if progress is not None and self.positions:
                position = min(self.positions.values())
                progress(position, max(head, position))
            if read < self.page_size:
                return total

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every view of this runner and replay the whole log into it."""
        self.prepare()
        for name in self.views:
            if not self.locks.try_acquire(name):
                raise ViewBusy(name)
        for name, view in self.views.items():
            with ddl_transaction(self.engine) as conn:
                _reset(conn, view)
            self.positions[name] = 0
        return self.catch_up(progress)

    def run(self, stop: threading.Event, retry_locks_every: float = 1.0) -> None:
        """Catch up, then follow the log until ``stop`` is set; views another runner holds
        are tried again every ``retry_locks_every`` seconds."""
        next_try = 0.0
        try:
            while not stop.is_set():
                try:
                    if len(self.positions) < len(self.views) and time.monotonic() >= next_try:
                        if taken := self.acquire():
                            log.info("running views %s", ", ".join(taken))
                        next_try = time.monotonic() + retry_locks_every
                    read = self.step()
                except Exception:
                    log.exception("projection page failed; retrying")
                    stop.wait(1.0)
                    continue
                if read < self.page_size:
                    stop.wait(self.poll_interval)
        finally:
            self.release()


def _reset(conn: Any, view: View) -> None:
    """Drop and recreate a view's tables and put its position back to 0, together."""
    ViewBase.metadata.drop_all(conn, tables=list(view.tables))
    ViewBase.metadata.create_all(conn, tables=list(view.tables))
    conn.execute(POSITIONS.delete().where(POSITIONS.c.view == view.name))
    conn.execute(POSITIONS.insert().values(view=view.name, position=0, version=view.version))


def view_positions(engine: Engine) -> dict[str, tuple[int, int]]:
    """Each view's (position, version) as stored; empty before any runner ran."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(POSITIONS.name):
            return {}
        rows = conn.execute(select(POSITIONS.c.view, POSITIONS.c.position, POSITIONS.c.version))
        return {v: (int(p), int(ver)) for v, p, ver in rows}


class RunningProjections:
    """A runner following the log on a thread of its own."""

    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=runner.run, args=(self._stop,),
                                        name="qrec-projections", daemon=True)

    def start(self) -> RunningProjections:
        self._thread.start()
        return self

    def wait_for(self, position: int, timeout: float = 30.0) -> bool:
        """Wait until every view is at ``position`` or beyond; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = view_positions(self.runner.engine)
            if all(positions.get(v, (0, 0))[0] >= position for v in self.runner.views):
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
