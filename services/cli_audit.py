"""`qrec audit ...`: verify the history, export and check audit packs, manage the ledger key."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from projections.ledger.audit import consistent_with, verify_store
from projections.ledger.pack import NotInLedger, export_pack_signed
from projections.ledger.verifier import Checkpoint, key_id, pack_problems, public_key_raw
from services.composition import build_ledger, build_records, keyring
from services.history import as_argument, resolve_record
from services.settings import Settings

LARGE_STORE = 50_000  # events; above this `verify` draws a progress bar


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = subparsers.add_parser("audit", help="verify the history; audit packs; ledger keys")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    verify = commands.add_parser("verify", help="check every stored event against the ledger")
    verify.add_argument("--checkpoint", action="append", default=[], type=Path, metavar="FILE",
                        help="a checkpoint kept earlier (JSON) the history must still extend")
    verify.add_argument("--public-key", action="append", default=[], type=Path, metavar="FILE",
                        help="trusted public key (PEM); default: the keyring in the data dir")
    verify.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help=f"progress bar on stderr (default: above {LARGE_STORE} events)")
    verify.set_defaults(handler=cmd_verify)

    catch_up = commands.add_parser("catch-up", help="take new events in and sign a checkpoint")
    catch_up.set_defaults(handler=cmd_catch_up)

    checkpoint = commands.add_parser("checkpoint", help="the latest signed checkpoint (JSON)")
    checkpoint.add_argument("-o", "--output", type=Path, help="write it to a file")
    checkpoint.set_defaults(handler=cmd_checkpoint)

    export = commands.add_parser("export", help="an audit pack of one record's history")
    export.add_argument("record", type=as_argument(resolve_record),
                        help="a UUID or kind:key, e.g. lot:LOT-0001")
    export.add_argument("-o", "--output", type=Path, required=True)
    export.set_defaults(handler=cmd_export)

    pack = commands.add_parser("verify-pack", help="check an audit pack, offline")
    pack.add_argument("file", type=Path)
    pack.add_argument("--public-key", action="append", default=[], type=Path, metavar="FILE",
                      help="trusted public key (PEM); default: the keys inside the pack")
    pack.set_defaults(handler=cmd_verify_pack)

    public = commands.add_parser("public-key", help="print the ledger's public key (PEM)")
    public.add_argument("--key-id", help="an older key, by id (default: the current one)")
    public.set_defaults(handler=cmd_public_key)

    rotate = commands.add_parser("rotate-key", help="sign from now on with a new key")
    rotate.set_defaults(handler=cmd_rotate_key)


def trusted_keys(paths: list[Path]) -> dict[str, bytes]:
    keys = {}
    for path in paths:
        raw = public_key_raw(path.read_bytes())
        keys[key_id(raw)] = raw
    return keys


class ProgressBar:
    def __init__(self, enabled: bool | None) -> None:
        self.enabled, self.last = enabled, 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.enabled is None:
            self.enabled = total >= LARGE_STORE
        now = time.monotonic()
        if not self.enabled or not total or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        filled = min(40, 40 * done // total)
        print(f"\rverifying [{'#' * filled}{'.' * (40 - filled)}] {done}/{total} events",
              end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.last:
            print(file=sys.stderr)


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    records = build_records(settings)
    ledger = build_ledger(settings, records)
    keys = trusted_keys(args.public_key) if args.public_key else ledger.keyring.public_keys()
    outside = [Checkpoint.from_json(json.loads(p.read_text())) for p in args.checkpoint]
    bar = ProgressBar(args.progress)
    report = verify_store(ledger, records.recorder, keys, trusted=outside,
                          progress=bar)
    bar.close()
    if report.finding:
        print(f"qrec audit: FAILED at {report.finding}", file=sys.stderr)
        return 1
    for path, cp in zip(args.checkpoint, outside, strict=True):
        problem = consistent_with(ledger, records.recorder, cp)
        if problem:
            print(f"qrec audit: FAILED: checkpoint inconsistent with {path}: {problem}",
                  file=sys.stderr)
            return 1
    print(f"intact: {report.checked} events, {report.checkpoints} checkpoints verified")
    if report.pending:
        print(f"note: {report.pending} newer events are not in the ledger yet "
              "(run `qrec audit catch-up`)", file=sys.stderr)
    return 0


def cmd_catch_up(args: argparse.Namespace, settings: Settings) -> int:
    records = build_records(settings)
    ledger = build_ledger(settings, records)
    made = ledger.catch_up(seal=True)
    print(f"ledger at {ledger.tree_size()} events; {len(made)} new checkpoints")
    return 0


def cmd_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    cp = build_ledger(settings, build_records(settings)).latest_checkpoint()
    if cp is None:
        print("qrec audit: no checkpoint yet (run `qrec audit catch-up`)", file=sys.stderr)
        return 1
    text = json.dumps(cp.to_json(), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        print(text, end="")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    records = build_records(settings)
    ledger = build_ledger(settings, records)
    try:
        pack = export_pack_signed(ledger, records.recorder, args.record)
    except NotInLedger as e:
        print(f"qrec audit: {e}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(pack, indent=1) + "\n")
    print(f"{len(pack['events'])} events of record {args.record} with inclusion proofs in the "
          f"checkpoint of tree size {pack['checkpoint']['tree_size']} -> {args.output}")
    return 0


def cmd_verify_pack(args: argparse.Namespace, settings: Settings) -> int:
    pack = json.loads(args.file.read_text())
    problems = pack_problems(pack, trusted_keys(args.public_key) if args.public_key else None)
    for problem in problems:
        print(f"qrec audit: FAILED: {problem}", file=sys.stderr)
    if not problems:
        cp = pack["checkpoint"]
        print(f"intact: {len(pack['events'])} events of record {pack['record_id']} are in the "
              f"tree of size {cp['tree_size']} signed by key {cp['key_id']}")
    return 1 if problems else 0


def cmd_public_key(args: argparse.Namespace, settings: Settings) -> int:
    print(keyring(settings).public_pem(args.key_id), end="")
    return 0


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    ring = keyring(settings)
    old = ring.signer().key_id
    new = ring.rotate().key_id
    print(f"signing with key {new} from now on; key {old} stays in {ring.directory} "
          "to verify older checkpoints")
    return 0
