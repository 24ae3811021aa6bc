"""`qrec witness ...`: run a witness for someone else's qrec log (it needs no qrec store).

    qrec witness init --dir DIR --name NAME     # make the witness key; prints its vkey
    qrec witness add-log --dir DIR LOG_VKEY     # watch a log (its origin is the key's name)
    qrec witness serve --dir DIR --listen HOST:PORT
    qrec witness status --dir DIR               # logs, sizes cosigned, refusals kept
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from projections.ledger.verifier import NoteError
from services.settings import Settings
from services.witness import WitnessStore, load_or_create_key, open_witness, serve


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    witness = subparsers.add_parser("witness", help="run a witness that cosigns a log's "
                                    "checkpoints (c2sp.org/tlog-witness)")
    commands = witness.add_subparsers(dest="witness_command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="make the witness key; print its verifier key")
    init.add_argument("--dir", type=Path, required=True, help="the witness's own directory")
    init.add_argument("--name", required=True, help="its name, e.g. witness.example.org/qrec")
    init.set_defaults(handler=cmd_init)

    add = commands.add_parser("add-log", help="watch a log, given the log's verifier key")
    add.add_argument("--dir", type=Path, required=True)
    add.add_argument("vkey", help="from `qrec audit public-key --vkey` on the log's side")
    add.set_defaults(handler=cmd_add_log)

    run = commands.add_parser("serve", help="answer add-checkpoint requests until stopped")
    run.add_argument("--dir", type=Path, required=True)
    run.add_argument("--listen", default="127.0.0.1:7380", metavar="HOST:PORT")
    run.set_defaults(handler=cmd_serve)

    status = commands.add_parser("status", help="the logs watched and the refusals kept")
    status.add_argument("--dir", type=Path, required=True)
    status.set_defaults(handler=cmd_status)

    vkey = commands.add_parser("vkey", help="print the witness's verifier key")
    vkey.add_argument("--dir", type=Path, required=True)
    vkey.set_defaults(handler=cmd_vkey)


def _name(directory: Path) -> str:
    path = directory / "name"
    if not path.exists():
        raise SystemExit(f"qrec witness: {directory} has no witness (run `qrec witness init`)")
    return path.read_text().strip()


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    args.dir.mkdir(parents=True, exist_ok=True)
    (args.dir / "name").write_text(args.name + "\n")
    load_or_create_key(args.dir)
    return cmd_vkey(args, settings)


def cmd_vkey(args: argparse.Namespace, settings: Settings) -> int:
    witness = open_witness(args.dir, _name(args.dir))
    print(witness.vkey)
    witness.store.close()
    return 0


def cmd_add_log(args: argparse.Namespace, settings: Settings) -> int:
    _name(args.dir)
    store = WitnessStore(args.dir / "witness.db")
    try:
        key = store.add_log(args.vkey)
    except NoteError as e:
        print(f"qrec witness: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"watching log {key.name} (key {key.key_hash.hex()})")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    host, _, port = args.listen.rpartition(":")
    witness = open_witness(args.dir, _name(args.dir))
    server = serve(witness, host or "127.0.0.1", int(port))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    logs = witness.store.logs()
    print(f"qrec witness: {witness.name} on http://{host}:{server.server_address[1]}, "
          f"watching {len(logs)} logs: "
          + (", ".join(f"{o} at {s}" for o, s in logs) or "none (add one with add-log)"),
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        witness.store.close()
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    store = WitnessStore(args.dir / "witness.db")
    for origin, size in store.logs():
        print(f"log {origin}: cosigned up to size {size}")
    for origin, status, reason in store.refusals():
        print(f"refused {origin} ({status}): {reason}")
    store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m services.cli_witness ...`: the same commands without loading the rest of
    qrec (a witness host needs none of it)."""
    parser = argparse.ArgumentParser(prog="qrec")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["witness", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args, Settings()))


if __name__ == "__main__":
    sys.exit(main())
