"""Who may act in qrec. Every person or machine client that acts (a principal) has an access
record: enrolled under a printed name, then roles granted and revoked, each change with who
made it, when and why. Which roles a principal held at any moment is read from the events
alone (``roles_at``), as a signature checked years later needs it.

The permission table (which roles may do what) lives here too, in one place: every door
(HTTP API, web page) asks ``allowed`` and nothing else. Credentials are not here: passwords,
keys and lockout counters sit beside the log, never in it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import InvalidValue, Provenance, QualityError, Record, record_id

OPERATOR, QUALITY_ENGINEER, METROLOGY = "operator", "quality_engineer", "metrology"
AUDITOR, ADMIN = "auditor", "admin"
ROLES = (OPERATOR, QUALITY_ENGINEER, METROLOGY, AUDITOR, ADMIN)
KINDS = ("user", "api_key", "oidc")

# action -> the roles allowed to do it. An auditor reads everything and changes nothing; an
# admin manages people and roles and neither reads nor changes quality records.
PERMISSIONS: dict[str, frozenset[str]] = {
    "records.read": frozenset({OPERATOR, QUALITY_ENGINEER, METROLOGY, AUDITOR}),
    "audit.read": frozenset({QUALITY_ENGINEER, METROLOGY, AUDITOR}),
    "lots.operate": frozenset({OPERATOR, QUALITY_ENGINEER}),
    "lots.hold": frozenset({OPERATOR, QUALITY_ENGINEER}),
    "lots.release": frozenset({QUALITY_ENGINEER}),
    "lots.move": frozenset({OPERATOR, QUALITY_ENGINEER}),
    "inspections.record": frozenset({OPERATOR, QUALITY_ENGINEER}),
    "inspections.correct": frozenset({QUALITY_ENGINEER}),
    "nonconformances.raise": frozenset({OPERATOR, QUALITY_ENGINEER}),
    "nonconformances.manage": frozenset({QUALITY_ENGINEER}),
    "nonconformances.disposition": frozenset({QUALITY_ENGINEER}),
    "corrective_actions.manage": frozenset({QUALITY_ENGINEER}),
    "instruments.manage": frozenset({METROLOGY}),
    "calibrations.record": frozenset({METROLOGY}),
    "master_data.release": frozenset({QUALITY_ENGINEER}),
    "sampling.decide": frozenset({QUALITY_ENGINEER}),
    "access.read": frozenset({ADMIN, AUDITOR}),
    "access.manage": frozenset({ADMIN}),
}

# Principals are actors of events: short, no spaces (the history view keeps 64 characters).
_PRINCIPAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}")


class UnknownRole(InvalidValue):
    def __init__(self, role: str) -> None:
        super().__init__(f"no role {role!r}; roles are {', '.join(ROLES)}")
        self.role = role


class RoleNotHeld(QualityError):
    def __init__(self, principal: str, role: str) -> None:
        super().__init__(f"{principal} does not hold the role {role}")


def allowed(roles: Iterable[str], action: str) -> bool:
    """Whether any of these roles may do ``action`` (an action not in the table: nobody)."""
    return not PERMISSIONS.get(action, frozenset()).isdisjoint(roles)


def checked_principal(principal: str) -> str:
    if not _PRINCIPAL.fullmatch(principal):
        raise InvalidValue(f"a principal is 1 to 64 letters, digits or ._@:+- starting with a "
                           f"letter or digit, not {principal!r}")
    return principal


def checked_role(role: str) -> str:
    if role not in ROLES:
        raise UnknownRole(role)
    return role


def access_id(principal: str) -> UUID:
    return record_id("access", principal)


class Access(Record):
    """The access record of one principal: a local user, an API key, or a user of the
    plant's identity provider (whose roles it claims and qrec records as they change)."""

    if TYPE_CHECKING:
        principal: str
        printed_name: str
        kind: str
        roles: set[str]

    class Enrolled(Record.Created):
        principal: str
        printed_name: str
        kind: str

        def apply(self, access: Access) -> None:
            access.principal, access.printed_name = self.principal, self.printed_name
            access.kind, access.roles = self.kind, set()

    class RoleGranted(Record.Event):
        role: str

        def apply(self, access: Access) -> None:
            access.roles.add(self.role)

    class RoleRevoked(Record.Event):
        role: str

        def apply(self, access: Access) -> None:
            access.roles.discard(self.role)

    @classmethod
    def enroll(cls, principal: str, printed_name: str, kind: str, prov: Provenance,
               now: datetime) -> Access:
        checked_principal(principal)
        if not printed_name.strip():
            raise InvalidValue(f"{principal} needs a printed name")
        if kind not in KINDS:
            raise InvalidValue(f"a principal is one of {', '.join(KINDS)}, not {kind!r}")
        return cls._create(cls.Enrolled, id=access_id(principal), provenance=prov,
                           timestamp=now, principal=principal, printed_name=printed_name.strip(),
                           kind=kind)

    def grant(self, role: str, prov: Provenance, now: datetime) -> bool:
        """Grant a role; False (and nothing recorded) if it is held already."""
        prov.requiring_reason(f"grant {role} to {self.principal}")
        if checked_role(role) in self.roles:
            return False
        self.record(self.RoleGranted, prov, now, role=role)
        return True

    def revoke(self, role: str, prov: Provenance, now: datetime) -> None:
        prov.requiring_reason(f"revoke {role} from {self.principal}")
        if checked_role(role) not in self.roles:
            raise RoleNotHeld(self.principal, role)
        self.record(self.RoleRevoked, prov, now, role=role)


def roles_at(events: Iterable[Record.Event], when: datetime) -> frozenset[str]:
    """The roles an access record's events had granted by ``when`` (recorded time)."""
    roles: set[str] = set()
    for event in events:
        if event.timestamp > when:
            break
        if isinstance(event, Access.RoleGranted):
            roles.add(event.role)
        elif isinstance(event, Access.RoleRevoked):
            roles.discard(event.role)
    return frozenset(roles)
