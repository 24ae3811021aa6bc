"""`qrec audit ...`: verify the history, export and check audit packs, manage the ledger key."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

from projections.ledger.audit import consistent_with, verify_store
from projections.ledger.pack import NotInLedger, export_pack
from projections.ledger.store import Ledger
from projections.ledger.verifier import (
    Checkpoint,
    NoteKey,
    cosigned_by,
    key_id,
    pack_problems,
    pack_summary,
    public_key_raw,
    witness_policy,
)
from services.composition import build_ledger, build_records, keyring
from services.history import as_argument, resolve_record
from services.ledger_outside import publish_outside, timestamp_problem
from services.settings import Settings
from services.timestamps import Authority, TimestampError
from services.witness_client import endpoints_from

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
    verify.add_argument("--witnesses", type=int, default=0, metavar="K",
                        help="demand K valid witness cosignatures on the latest checkpoint")
    verify.add_argument("--witness-key", action="append", default=[], metavar="VKEY",
                        help="a trusted witness key (default: those in QREC_WITNESSES)")
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
    pack.add_argument("--witness-key", action="append", default=[], metavar="VKEY",
                      help="a trusted witness's verifier key (or a file holding one)")
    pack.add_argument("--witnesses", type=int, default=None, metavar="K",
                      help="valid cosignatures required (default 1 with --witness-key)")
    pack.add_argument("--tsa-cert", type=Path, metavar="FILE",
                      help="check the pack's RFC 3161 token against this root certificate")
    pack.set_defaults(handler=cmd_verify_pack)

    public = commands.add_parser("public-key", help="print the ledger's public key (PEM)")
    public.add_argument("--key-id", help="an older key, by id (default: the current one)")
    public.add_argument("--vkey", action="store_true",
                        help="as the note verifier key witnesses are given (origin+id+key)")
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
    problem = witness_problem(ledger, settings, args) or timestamp_problem(ledger, settings)
    if problem:
        print(f"qrec audit: FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"intact: {report.checked} events, {report.checkpoints} checkpoints verified"
          + (f", record heads map checked at {report.heads_checked}" if report.heads_checked
             else ""))
    if settings.tsa_cert is not None:
        print(f"timestamps: {len(ledger.timestamps())} tokens verify against {settings.tsa_cert}")
    if report.pending:
        print(f"note: {report.pending} newer events are not in the ledger yet "
              "(run `qrec audit catch-up`)", file=sys.stderr)
    return 0


def witness_problem(ledger: Ledger, settings: Settings, args: argparse.Namespace) -> str | None:
    """Why the latest checkpoint lacks the K cosignatures asked for; None when it has them."""
    if not args.witnesses:
        return None
    keys = [NoteKey.parse(k) for k in args.witness_key] or \
        [e.key for e in endpoints_from(settings.witnesses)]
    latest = ledger.latest_checkpoint()
    if latest is None or not latest.origin:
        return "no checkpoint in the C2SP form to be cosigned yet (run `qrec audit catch-up`)"
    good = cosigned_by(latest, keys)
    if len(good) >= args.witnesses:
        print(f"cosigned: the checkpoint at tree size {latest.tree_size} by "
              f"{', '.join(k.name for k in good)}")
        return None
    said = ledger.witness_status()
    why = [f"{k.name}: " + (f"{said[str(k)][1]} at tree size {said[str(k)][0]}: "
                            f"{said[str(k)][2]}" if str(k) in said else "never answered")
           for k in keys if k not in good]
    return (f"the latest checkpoint (tree size {latest.tree_size}) has {len(good)} valid "
            f"witness cosignatures, {args.witnesses} required; "
            + ("; ".join(why) if why else "no witness keys are trusted"))


def cmd_catch_up(args: argparse.Namespace, settings: Settings) -> int:
    records = build_records(settings)
    ledger = build_ledger(settings, records)
    made = ledger.catch_up(seal=True)
    print(f"ledger at {ledger.tree_size()} events; {len(made)} new checkpoints")
    for line in publish_outside(ledger, settings):
        print(line)
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
    ledger.catch_up(seal=True)
    for line in publish_outside(ledger, settings):
        print(line, file=sys.stderr)
    try:
        pack = export_pack(ledger, records.recorder, args.record,
                           ledger.keyring.public_keys())
    except NotInLedger as e:
        print(f"qrec audit: {e}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(pack, indent=1) + "\n")
    print(f"{len(pack['events'])} events of record {args.record} with inclusion proofs in the "
          f"checkpoint of tree size {pack['checkpoint']['tree_size']} -> {args.output}")
    return 0


def cmd_verify_pack(args: argparse.Namespace, settings: Settings) -> int:
    pack = json.loads(args.file.read_text())
    policy = witness_policy(args.witness_key, args.witnesses)
    problems = pack_problems(pack, trusted_keys(args.public_key) if args.public_key else None,
                             policy)
    if args.tsa_cert is not None:
        problems.extend(pack_timestamp_problems(pack, args.tsa_cert))
    for problem in problems:
        print(f"qrec audit: FAILED: {problem}", file=sys.stderr)
    if not problems:
        print(pack_summary(pack, policy))
        if args.tsa_cert is not None:
            print(f"timestamped at {pack['timestamp']['time']} by {pack['timestamp']['authority']}")
    return 1 if problems else 0


def pack_timestamp_problems(pack: dict[str, Any], root_cert: Path) -> list[str]:
    stamp = pack.get("timestamp")
    if not stamp:
        return ["the pack carries no timestamp token"]
    text = Checkpoint.from_json(pack["checkpoint"]).text().encode()
    try:
        Authority.from_files(stamp["authority"], root_cert).verify(
            base64.b64decode(stamp["response"]), text)
    except TimestampError as e:
        return [str(e)]
    return []


def cmd_public_key(args: argparse.Namespace, settings: Settings) -> int:
    if args.vkey:
        ledger = build_ledger(settings, build_records(settings))
        signer = ledger.keyring.signer()
        print(signer.note_key(ledger.origin))
        return 0
    print(keyring(settings).public_pem(args.key_id), end="")
    return 0


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    ring = keyring(settings)
    old = ring.signer().key_id
    new = ring.rotate().key_id
    print(f"signing with key {new} from now on; key {old} stays in {ring.directory} "
          "to verify older checkpoints")
    return 0
