"""`qrec import`, `qrec demo` and `qrec history`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.composition import build_records
from services.demo import run_demo
from services.masterdata import import_master_data, read_master_data
from services.settings import Settings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("import", help="load master data from a JSON or YAML file")
    p.add_argument("file", type=Path)
    p.add_argument("--actor", default="import", help="who is importing (recorded)")
    p.set_defaults(handler=import_command)

    p = subparsers.add_parser("demo", help="run a finite scenario on a fresh data dir")
    p.add_argument("--messages", type=_enough_for_the_story, default=1500,
                   help="inspection messages the lines send (at least 150)")
    p.set_defaults(handler=demo_command)


# The story's shifted lot (services.demo.SHIFTED_LOT) must see its 50th unit: the first 30
# set the control limits and units 32-49 run oversize, so its sample finds them.
DEMO_MINIMUM = 150


def _enough_for_the_story(text: str) -> int:
    value = int(text)
    if value < DEMO_MINIMUM:
        raise argparse.ArgumentTypeError(f"the demo needs at least {DEMO_MINIMUM} messages")
    return value


def import_command(args: argparse.Namespace, settings: Settings) -> int:
    data = read_master_data(args.file)
    app = build_records(settings)
    print(import_master_data(app, data, args.actor))
    return 0


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    run_demo(settings.data_dir / f"demo-{stamp}", messages=args.messages)
    return 0
