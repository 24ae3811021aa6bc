"""`qrec sampling status | approve-reduced | production | resume`: the switching state of
each inspection plan, product and supplier (or line), and the decisions the switching
rules leave to people (the responsible authority's approval of reduced inspection, steady
or irregular production, resuming sampling after corrective action)."""

from __future__ import annotations

import argparse
from typing import Any

from domain.records import Provenance
from projections.acceptance import switching_states
from projections.runner import view_positions
from services.composition import build_records
from services.settings import Settings
from services.views import build_views_engine


def register(subparsers: Any) -> None:
    sampling = subparsers.add_parser(
        "sampling", help="ISO 2859-1 switching state and the decisions it needs")
    actions = sampling.add_subparsers(dest="sampling_command", required=True,
                                      metavar="ACTION")
    status = actions.add_parser("status", help="the inspection in force per plan, product "
                                "and supplier or line (from the acceptance view)")
    status.set_defaults(handler=status_command)
    for name, text, handler in (
            ("approve-reduced", "the responsible authority approves reduced inspection "
             "(--withdraw takes it back)", approve_command),
            ("production", "report production as --steady or --irregular",
             production_command),
            ("resume", "resume sampling after corrective action (on tightened inspection)",
             resume_command)):
        p = actions.add_parser(name, help=text)
        p.add_argument("plan", metavar="PLAN")
        p.add_argument("product", metavar="PRODUCT")
        p.add_argument("source", metavar="SUPPLIER_OR_LINE")
        p.add_argument("--actor", required=True, help="who decides (recorded)")
        p.add_argument("--reason", required=True, help="why (recorded)")
        if name == "approve-reduced":
            p.add_argument("--withdraw", action="store_true")
        if name == "production":
            way = p.add_mutually_exclusive_group(required=True)
            way.add_argument("--steady", dest="steady", action="store_true")
            way.add_argument("--irregular", dest="steady", action="store_false")
        p.set_defaults(handler=handler)


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    engine = build_views_engine(settings)
    position, _ = view_positions(engine).get("acceptance", (0, 0))
    with engine.connect() as conn:
        rows = switching_states(conn) if position else []
    print(f"{'plan':<10} {'product':<10} {'supplier/line':<14} {'inspection':<13} "
          f"{'score':>5} {'lots':>5} {'rejected':>8}  last switch")
    for r in rows:
        print(f"{r['plan']:<10} {r['product']:<10} {r['source']:<14} {r['severity']:<13} "
              f"{r['score']:>5} {r['lots']:>5} {r['rejected']:>8}  {r['last_rule'] or '-'}")
    print(f"acceptance view at position {position}")
    return 0


def _decide(args: argparse.Namespace, settings: Settings, method: str, *extra: Any) -> int:
    app = build_records(settings)
    prov = Provenance(actor=args.actor, source="cli", reason=args.reason)
    record = getattr(app, method)(args.plan, args.product, args.source, *extra, prov)
    print(f"{record.key}: {record.severity} inspection, switching score {record.score}, "
          f"reduced inspection {'approved' if record.reduced_approved else 'not approved'}, "
          f"production {'steady' if record.steady else 'irregular'}")
    return 0


def approve_command(args: argparse.Namespace, settings: Settings) -> int:
    return _decide(args, settings, "approve_reduced_inspection", not args.withdraw)


def production_command(args: argparse.Namespace, settings: Settings) -> int:
    return _decide(args, settings, "report_production", args.steady)


def resume_command(args: argparse.Namespace, settings: Settings) -> int:
    return _decide(args, settings, "resume_sampling")
