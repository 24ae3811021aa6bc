"""`qrec views status|run`, `qrec rebuild [VIEW]` and
`qrec history RECORD [--as-of TIME] [--occurred]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any, TextIO

from projections.catalog import VIEWS, UnknownView, views_named
from projections.locks import locks_for
from projections.runner import ViewBusy, view_positions
from services.composition import build_records
from services.history import as_argument, parse_instant, render_history
from services.settings import Settings
from services.views import build_projection_runner, build_views_engine


def register(subparsers: Any) -> None:
    views = subparsers.add_parser("views", help="the read models: status, run")
    actions = views.add_subparsers(dest="views_command", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="where each view is in the log")
    status.set_defaults(handler=status_command)
    run = actions.add_parser("run", help="keep the views up to date until interrupted")
    run.add_argument("views", nargs="*", metavar="VIEW", help=f"default all: {', '.join(VIEWS)}")
    run.set_defaults(handler=run_command)

    rebuild = subparsers.add_parser("rebuild", help="drop views and replay the whole log")
    rebuild.add_argument("views", nargs="*", metavar="VIEW",
                         help=f"default all: {', '.join(VIEWS)}")
    rebuild.set_defaults(handler=rebuild_command)

    history = subparsers.add_parser(
        "history", help="a record's events and its state at a time")
    history.add_argument("record", metavar="RECORD",
                         help="a UUID or kind:key, e.g. lot:LOT-0001, instrument:G-0042")
    history.add_argument("--as-of", metavar="TIME", type=as_argument(parse_instant),
                         help="the state as recorded at TIME (ISO 8601; a date means "
                              "the end of that day, UTC)")
    history.add_argument("--occurred", action="store_true",
                         help="read --as-of as occurred time: what was true then, "
                              "corrections included")
    history.set_defaults(handler=history_command)


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    app = build_records(settings)
    head = int(app.recorder.max_notification_id() or 0)
    engine = build_views_engine(settings)
    positions = view_positions(engine)
    locks = locks_for(engine)
    print(f"{'view':<20} {'position':>10} {'behind':>8}  {'runner':<8} description")
    for name, view in VIEWS.items():
        position, version = positions.get(name, (0, view.version))
        running = not locks.try_acquire(name)
        locks.release(name)
        stale = "" if version == view.version else f" (v{version}, code v{view.version})"
        print(f"{name:<20} {position:>10} {head - position:>8}  "
              f"{'running' if running else '-':<8} {view.description}{stale}")
    locks.close()
    print(f"log head: {head}")
    return 0


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    runner = build_projection_runner(settings, args.views)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"qrec: keeping {', '.join(runner.views)} up to date; Ctrl-C stops", file=sys.stderr)
    try:
        runner.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def rebuild_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        views = views_named(args.views)
    except UnknownView as e:
        print(f"qrec: {e.args[0]}", file=sys.stderr)
        return 2
    runner = build_projection_runner(settings, [v.name for v in views])
    bar = ProgressBar(f"rebuilding {', '.join(runner.views)}")
    started = time.perf_counter()
    try:
        events = runner.rebuild(bar)
    except ViewBusy as e:
        print(f"qrec: {e}", file=sys.stderr)
        return 1
    finally:
        bar.finish()
        runner.release()
    seconds = time.perf_counter() - started
    print(f"rebuilt {len(views)} view(s) from {events} events in {seconds:.1f} s "
          f"({events / seconds if seconds else 0:,.0f} events/s)")
    return 0


def history_command(args: argparse.Namespace, settings: Settings) -> int:
    app = build_records(settings, create_tables=False)
    print(render_history(app, args.record, args.as_of, args.occurred))
    return 0


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.width = label, width
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.drawn_at = 0.0
        self.last = ""

    def __call__(self, position: int, head: int) -> None:
        now = time.perf_counter()
        if now - self.drawn_at < 0.1 and position < head:
            return
        self.drawn_at = now
        done = position / head if head else 1.0
        filled = int(done * self.width)
        rate = position / (now - self.started) if now > self.started else 0.0
        self.last = (f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                     f"{done:6.1%} {position:,}/{head:,} events {rate:,.0f}/s")
        self.stream.write(self.last)
        self.stream.flush()

    def finish(self) -> None:
        if self.last:
            self.stream.write("\n")
            self.stream.flush()
