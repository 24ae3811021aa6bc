"""`qrec serve` (the HTTP API) and `qrec users ...`: people and machine clients, their roles,
locks and API keys. Passwords are read without echo (or from stdin with --password-stdin),
never from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

from domain.access import ROLES
from domain.records import Provenance
from services.composition import build_credentials, build_records
from services.identity.credentials import CredentialError
from services.identity.people import People
from services.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="serve the HTTP API (QREC_API_ADDR)")
    serve.set_defaults(handler=serve_command)

    users = subparsers.add_parser("users", help="people and API keys: roles, locks, keys")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a local account")
    add.add_argument("user")
    add.add_argument("--name", required=True, help="the printed name, e.g. 'Anna Berg'")
    add.add_argument("--role", action="append", default=[], choices=ROLES,
                     help="a role (repeat for more)")
    _password_from(add)
    _why(add, required=False)
    add.set_defaults(handler=add_command)

    listing = actions.add_parser("list", help="every account and API key")
    listing.set_defaults(handler=list_command)

    password = actions.add_parser("password", help="set an account's password")
    password.add_argument("user")
    _password_from(password)
    password.set_defaults(handler=password_command)

    for name, what in (("lock", "lock an account"), ("unlock", "unlock an account")):
        p = actions.add_parser(name, help=what)
        p.add_argument("user")
        _why(p)
        p.set_defaults(handler=lock_command if name == "lock" else unlock_command)

    for name, what in (("grant", "grant a role"), ("revoke", "revoke a role")):
        p = actions.add_parser(name, help=what)
        p.add_argument("user", help="a user, or key:NAME for an API key")
        p.add_argument("role", choices=ROLES)
        _why(p)
        p.set_defaults(handler=grant_command if name == "grant" else revoke_command)

    keys = actions.add_parser("api-key", help="API keys for machine clients")
    key_actions = keys.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="a key scoped to one role, shown once")
    create.add_argument("name")
    create.add_argument("--role", required=True, choices=ROLES)
    _why(create)
    create.set_defaults(handler=key_create_command)
    revoke = key_actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("name")
    _why(revoke)
    revoke.set_defaults(handler=key_revoke_command)


def _password_from(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin (no prompt)")


def _why(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--reason", required=required, help="why (recorded)")
    parser.add_argument("--by", default=None,
                        help="who is making the change (default: shell:<login name>)")


def _refusing_credential_errors(handler: Handler) -> Handler:
    @wraps(handler)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return handler(args, settings)
        except CredentialError as e:
            print(f"qrec: {e}", file=sys.stderr)
            return 2
    return run


def _people(settings: Settings) -> People:
    return People(build_records(settings), build_credentials(settings))


def _by(args: argparse.Namespace) -> str:
    return str(args.by or f"shell:{getpass.getuser()}")


def _provenance(args: argparse.Namespace) -> Provenance:
    return Provenance(actor=_by(args), source="cli", reason=args.reason)


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CredentialError("the two passwords differ")
    return first


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    from services.api.server import ServeError, serve

    try:
        serve(settings)
    except ServeError as e:
        print(f"qrec serve: {e}", file=sys.stderr)
        return 3
    return 0


@_refusing_credential_errors
def add_command(args: argparse.Namespace, settings: Settings) -> int:
    people = _people(settings)
    password = read_password(args)
    people.add_user(args.user, args.name, args.role, password, _provenance(args))
    print(f"added {args.user} ({args.name}), roles: {', '.join(args.role) or 'none'}")
    return 0


@_refusing_credential_errors
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    rows = [("principal", "name", "kind", "roles", "state")]
    for p in _people(settings).everyone():
        state = "revoked" if p.key_revoked else "LOCKED" if p.locked else \
            f"{p.failed_sign_ins} failed" if p.failed_sign_ins else "ok"
        rows.append((p.principal, p.name, p.kind, ",".join(p.roles) or "-", state))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


@_refusing_credential_errors
def password_command(args: argparse.Namespace, settings: Settings) -> int:
    people = _people(settings)
    people.set_password(args.user, read_password(args), _by(args))
    print(f"password of {args.user} set")
    return 0


@_refusing_credential_errors
def lock_command(args: argparse.Namespace, settings: Settings) -> int:
    _people(settings).lock(args.user, args.reason, _by(args))
    print(f"{args.user} is locked; its sessions have ended")
    return 0


@_refusing_credential_errors
def unlock_command(args: argparse.Namespace, settings: Settings) -> int:
    _people(settings).unlock(args.user, args.reason, _by(args))
    print(f"{args.user} is unlocked")
    return 0


@_refusing_credential_errors
def grant_command(args: argparse.Namespace, settings: Settings) -> int:
    granted = _people(settings).grant(args.user, args.role, _provenance(args))
    print(f"granted {args.role} to {args.user}" if granted
          else f"{args.user} holds {args.role} already")
    return 0


@_refusing_credential_errors
def revoke_command(args: argparse.Namespace, settings: Settings) -> int:
    _people(settings).revoke(args.user, args.role, _provenance(args))
    print(f"revoked {args.role} from {args.user}")
    return 0


@_refusing_credential_errors
def key_create_command(args: argparse.Namespace, settings: Settings) -> int:
    key = _people(settings).create_api_key(args.name, args.role, _provenance(args))
    print(f"API key key:{args.name} ({args.role}); it is shown this once, keep it safe:",
          file=sys.stderr)
    print(key)
    return 0


@_refusing_credential_errors
def key_revoke_command(args: argparse.Namespace, settings: Settings) -> int:
    _people(settings).revoke_api_key(args.name, _provenance(args))
    print(f"API key key:{args.name} revoked")
    return 0
