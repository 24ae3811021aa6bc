"""What every route of one API application works with, built once by the composition."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine

from domain.application import QualityRecords
from projections.ledger.store import Ledger
from services.api.idempotency import IdempotencyStore
from services.composition import build_ledger
from services.identity.credentials import CredentialStore
from services.identity.people import People
from services.identity.principals import Authenticator
from services.settings import Settings


@dataclass
class ApiContext:
    settings: Settings
    records: QualityRecords
    credentials: CredentialStore
    authenticator: Authenticator
    people: People
    views: Engine
    idempotency: IdempotencyStore
    broker_url: str | None = None
    requests: int = 0
    _ledger: Ledger | None = field(default=None, repr=False)
    _ledger_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def ledger(self) -> Ledger:
        """Built at its first use: its tables are created then, not at start."""
        with self._ledger_lock:
            if self._ledger is None:
                self._ledger = build_ledger(self.settings, self.records)
            return self._ledger


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.qrec
    return ctx
