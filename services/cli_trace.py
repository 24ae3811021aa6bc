"""`qrec trace lot:X --forward | --backward`: the whole genealogy tree of a lot, where it
went or what went into it, with depths and quantities, from the genealogy view."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine

from projections.genealogy import TraceStep, known, lot_quantities, trace
from projections.runner import view_positions
from services.composition import build_records
from services.settings import Settings
from services.views import build_projection_runner, build_views_engine


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "trace", help="a lot's genealogy: where it went (--forward) or what went into it",
        description="Walk the whole genealogy tree of a lot, with depths and quantities.")
    p.add_argument("lot", metavar="LOT", help="lot:LOT-0001 (or the lot number)")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--forward", dest="forward", action="store_true", default=True,
                     help="the lots it went into, and theirs (default)")
    way.add_argument("--backward", dest="forward", action="store_false",
                     help="the lots that went into it, and theirs")
    p.set_defaults(handler=trace_command)


def trace_command(args: argparse.Namespace, settings: Settings) -> int:
    lot = args.lot.removeprefix("lot:")
    engine = build_views_engine(settings)
    print(_bring_up_to_date(settings, engine), file=sys.stderr)
    with engine.connect() as conn:
        if not known(conn, lot):
            print(f"qrec: no lot {lot} in the genealogy view", file=sys.stderr)
            return 2
        steps = trace(conn, lot, forward=args.forward)
        print("\n".join(render(conn, lot, steps, args.forward)))
    return 0


def _bring_up_to_date(settings: Settings, engine: Engine) -> str:
    """Catch the genealogy view up first, unless a running qrec keeps it (then it is as
    current as that runner)."""
    records = build_records(settings)
    runner = build_projection_runner(settings, ["genealogy"], records=records)
    try:
        if runner.acquire():
            runner.catch_up()
            return f"genealogy view caught up to position {runner.positions['genealogy']}"
        position, _ = view_positions(engine).get("genealogy", (0, 0))
        return f"genealogy view kept by a running qrec, at position {position}"
    finally:
        runner.release()
        runner.engine.dispose()
        records.close()


def render(conn: Connection, lot: str, steps: list[TraceStep], forward: bool) -> list[str]:
    """The tree, depth first; a lot reached again (by a second path) is named, not walked
    again."""
    below: dict[str, list[TraceStep]] = defaultdict(list)
    for step in steps:
        below[step.via].append(step)
    sizes = lot_quantities(conn, [lot, *(s.lot for s in steps)])
    lots, levels = {s.lot for s in steps}, max((s.depth for s in steps), default=0)
    way = "downstream" if forward else "upstream"
    lines = [f"{lot}{_size(sizes, lot)}: {len(lots)} lots {way}, {levels} levels deep, "
             f"{len(steps)} links"]
    shown: set[str] = {lot}
    stack = [(step, 1) for step in reversed(below[lot])]
    while stack:
        step, depth = stack.pop()
        moved = "" if step.quantity is None else (
            f" ({step.quantity:g} of {step.via})" if forward
            else f" ({step.quantity:g} into {step.via})")
        again = step.lot in shown
        lines.append(f"{'  ' * depth}{depth} {step.lot}{_size(sizes, step.lot)}{moved}"
                     + (" (listed above)" if again else ""))
        if not again:
            shown.add(step.lot)
            stack.extend((child, depth + 1) for child in reversed(below[step.lot]))
    return lines


def _size(sizes: dict[str, tuple[float, str]], lot: str) -> str:
    quantity = sizes.get(lot)
    return "" if quantity is None else f" [{quantity[0]:g} {quantity[1]}]"
