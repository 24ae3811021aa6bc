"""`qrec run`: ingest, relay (and with --simulate a simulated plant) until interrupted;
`qrec stream resume-after-restore`: publish again after a store was restored from a backup."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

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
    add_prefix_option(tuning)
    tuning.add_argument("--batch-size", type=int, default=IngestOptions.batch_size)
    tuning.add_argument("--ack-wait", type=float, default=IngestOptions.ack_wait,
                        help="seconds before an unacked message is redelivered")
    tuning.add_argument("--max-deliver", type=int, default=IngestOptions.max_deliver)
    p.set_defaults(handler=run_command)

    stream = subparsers.add_parser("stream", help="the broker side of the store's log")
    commands = stream.add_subparsers(dest="stream_command", required=True, metavar="COMMAND")
    resume = commands.add_parser(
        "resume-after-restore",
        help="after restoring the store from a backup: publish its events and checkpoints "
             "again from where the store and the streams last agree",
        description="Compares the store with the events and checkpoint streams; publishes a "
                    "marker, then the store's events after the last position both hold, "
                    "and the ledger's latest checkpoint. Refuses (exit 1) when there is "
                    "nothing to resume. See docs/streams.md.")
    resume.add_argument("--reason", required=True,
                        help="why (recorded in the marker), e.g. 'restored from backup of "
                             "2026-11-26 02:00 after a disk failure'")
    add_prefix_option(resume)
    resume.set_defaults(handler=resume_command)


def add_prefix_option(group: Any) -> None:
    group.add_argument("--stream-prefix", metavar="PREFIX",
                       help="prefix of every subject, stream and durable consumer "
                            "(default: QREC_STREAM_PREFIX, or qrec)")


def with_prefix(args: argparse.Namespace, settings: Settings) -> Settings:
    if not args.stream_prefix:
        return settings
    settings = settings.with_(stream_prefix=args.stream_prefix)
    settings.check()
    return settings


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from services.composition import build_topology
    from services.runner import RunOptions, run

    settings = with_prefix(args, settings)
    options = RunOptions(
        simulate=args.simulate, rate=args.rate, duration=args.duration,
        only=tuple(n.strip() for n in args.only.split(",") if n.strip()),
        topology=build_topology(settings),
        ingest=IngestOptions(batch_size=args.batch_size, ack_wait=args.ack_wait,
                             max_deliver=args.max_deliver))
    return run(settings, options)


def resume_command(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    from services.restore import NothingToResume

    settings = with_prefix(args, settings)
    try:
        done = asyncio.run(resume(settings, args.reason))
    except NothingToResume as e:
        print(f"qrec stream: {e}", file=sys.stderr)
        return e.exit_code
    print("\n".join(done))
    return 0


async def resume(settings: Settings, reason: str) -> list[str]:
    from services.composition import build_ledger, build_records, build_topology
    from services.embedded_nats import EmbeddedNats
    from services.log_identity import log_id
    from services.restore import resume_after_restore
    from services.runner import connect_once

    records = build_records(settings)
    ledger = build_ledger(settings, records)
    embedded = None if settings.broker_url else EmbeddedNats(settings.data_dir).start()
    nc = await connect_once(settings.broker_url or embedded.url)  # type: ignore[union-attr]
    try:
        done = await resume_after_restore(records, ledger, nc.jetstream(),
                                          build_topology(settings), log_id(settings), reason)
        return done.lines
    finally:
        await nc.drain()
        if embedded is not None:
            embedded.stop()
        records.close()
