"""`qrec`: the command line. Each group of commands lives in its own module and adds
itself here; this module only parses, dispatches and turns errors into messages."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

import psycopg
from eventsourcing.persistence import PersistenceError
from sqlalchemy.exc import DBAPIError

from domain.records import QualityError
from services.log_identity import LogMismatch
from services.runner import BrokerUnreachable
from services.runtime import tune_garbage_collector
from services.settings import Settings, SettingsError, shown_url

# Modules that add sub-commands: each has register(subparsers) and sets `handler`.
COMMAND_MODULES = (
    "services.cli_records",
    "services.cli_stream",
    "services.cli_audit",
    "services.cli_views",
    "services.cli_trace",
    "services.cli_sampling",
    "services.cli_people",
    "services.cli_witness",
)

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qrec",
        description="Event-sourced quality records: immutable, replayable, verifiable.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        handler: Handler = args.handler
        return handler(args, settings)
    except (QualityError, SettingsError) as e:
        print(f"qrec: {e}", file=sys.stderr)
        return 2
    except (PersistenceError, DBAPIError, psycopg.Error) as e:
        where = shown_url(settings.store_url) or settings.data_dir
        print(f"qrec: the store at {where} cannot be used: {_first_line(e)}", file=sys.stderr)
        return 3
    except BrokerUnreachable as e:
        print(f"qrec: {e}", file=sys.stderr)
        return 3
    except LogMismatch as e:  # the one line that says whose stream it is and what to do
        print(e, file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def entry() -> int:
    """The `qrec` command: a process of its own, so its garbage collector is tuned for
    qrec's batches (services.runtime); ``main`` alone leaves the calling process as it is."""
    tune_garbage_collector()
    return main()


if __name__ == "__main__":
    sys.exit(entry())
