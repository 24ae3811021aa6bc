"""`qrec run`: ingest, relay (and with --simulate a simulated plant) until interrupted."""

from __future__ import annotations

import argparse
from typing import Any

from services.contracts import Topology
from services.ingest import IngestOptions
from services.settings import Settings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run ingest, relay and the other services until interrupted",
        description="Start everything (with no QREC_BROKER_URL, an embedded NATS server "
                    "too) and print a live summary until Ctrl-C or SIGTERM.")
    p.add_argument("--simulate", action="store_true",
                   help="also run simulated production lines (and load their master data)")
    p.add_argument("--rate", type=float, default=30.0,
                   help="simulated ticks a second; each is one inspection per line (30)")
    p.add_argument("--for", dest="duration", type=float, metavar="SECONDS",
                   help="stop by itself after this many seconds")
    p.add_argument("--only", default="", metavar="NAMES",
                   help="comma-separated components to run (default: all)")
    tuning = p.add_argument_group("stream")
    tuning.add_argument("--stream-prefix", default="qrec",
                        help="prefix of every subject and stream (default qrec)")
    tuning.add_argument("--batch-size", type=int, default=IngestOptions.batch_size)
    tuning.add_argument("--ack-wait", type=float, default=IngestOptions.ack_wait,
                        help="seconds before an unacked message is redelivered")
    tuning.add_argument("--max-deliver", type=int, default=IngestOptions.max_deliver)
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from services.runner import RunOptions, run

    options = RunOptions(
        simulate=args.simulate, rate=args.rate, duration=args.duration,
        only=tuple(n.strip() for n in args.only.split(",") if n.strip()),
        topology=Topology(prefix=args.stream_prefix),
        ingest=IngestOptions(batch_size=args.batch_size, ack_wait=args.ack_wait,
                             max_deliver=args.max_deliver))
    return run(settings, options)
