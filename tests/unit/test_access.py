"""Access records: who a principal is, which roles they hold, and every change to that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.access import (
    PERMISSIONS,
    ROLES,
    Access,
    RoleNotHeld,
    UnknownRole,
    access_id,
    allowed,
    roles_at,
)
from domain.records import InvalidValue, Provenance, ReasonRequired

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ADMIN = Provenance(actor="root", reason="joined quality")


def anna() -> Access:
    access = Access.enroll("anna", "Anna Berg", "user", ADMIN, T0)
    access.collect_events()
    return access


def test_enrolling_a_principal_records_its_printed_name_and_no_roles() -> None:
    access = Access.enroll("anna", " Anna Berg ", "user", ADMIN, T0)

    assert access.id == access_id("anna")
    assert (access.principal, access.printed_name, access.kind, access.roles) == \
        ("anna", "Anna Berg", "user", set())
    (event,) = access.collect_events()
    assert isinstance(event, Access.Enrolled) and event.provenance == ADMIN


@pytest.mark.parametrize("principal", ["", "anna berg", "-anna", "a" * 65, "anna\n"])
def test_a_principal_that_could_not_be_an_actor_is_refused(principal: str) -> None:
    with pytest.raises(InvalidValue, match="a principal is"):
        Access.enroll(principal, "Anna", "user", ADMIN, T0)


def test_a_principal_needs_a_printed_name_and_a_known_kind() -> None:
    with pytest.raises(InvalidValue, match="printed name"):
        Access.enroll("anna", "  ", "user", ADMIN, T0)
    with pytest.raises(InvalidValue, match="one of user, api_key, oidc"):
        Access.enroll("anna", "Anna", "robot", ADMIN, T0)


def test_granting_a_role_records_who_granted_it_and_why() -> None:
    access = anna()
    granter = Provenance(actor="root", reason="quality engineer since November")

    assert access.grant("quality_engineer", granter, T0 + timedelta(hours=1)) is True

    (event,) = access.collect_events()
    assert isinstance(event, Access.RoleGranted)
    assert (event.role, event.provenance.actor, event.provenance.reason) == \
        ("quality_engineer", "root", "quality engineer since November")
    assert access.roles == {"quality_engineer"}


def test_granting_a_role_held_already_records_nothing() -> None:
    access = anna()
    access.grant("auditor", ADMIN, T0)
    access.collect_events()

    assert access.grant("auditor", ADMIN, T0) is False
    assert access.collect_events() == []


def test_a_role_change_needs_a_reason_and_a_known_role() -> None:
    access = anna()
    with pytest.raises(ReasonRequired, match="grant auditor to anna"):
        access.grant("auditor", Provenance(actor="root"), T0)
    with pytest.raises(UnknownRole, match="no role 'superuser'"):
        access.grant("superuser", ADMIN, T0)
    with pytest.raises(ReasonRequired, match="revoke auditor from anna"):
        access.revoke("auditor", Provenance(actor="root", reason=" "), T0)


def test_revoking_a_role_not_held_is_refused() -> None:
    with pytest.raises(RoleNotHeld, match="anna does not hold the role admin"):
        anna().revoke("admin", ADMIN, T0)


def test_roles_at_a_time_follow_grants_and_revocations_in_recorded_time() -> None:
    access = Access.enroll("anna", "Anna Berg", "user", ADMIN, T0)
    access.grant("operator", ADMIN, T0 + timedelta(days=1))
    access.grant("quality_engineer", ADMIN, T0 + timedelta(days=10))
    access.revoke("operator", ADMIN, T0 + timedelta(days=20))
    events = access.collect_events()

    assert roles_at(events, T0) == frozenset()
    assert roles_at(events, T0 + timedelta(days=5)) == {"operator"}
    assert roles_at(events, T0 + timedelta(days=10)) == {"operator", "quality_engineer"}
    assert roles_at(events, T0 + timedelta(days=30)) == {"quality_engineer"}


def test_the_permission_table_names_only_known_roles() -> None:
    assert all(roles <= set(ROLES) for roles in PERMISSIONS.values())


def test_an_auditor_reads_everything_and_changes_nothing() -> None:
    readable = {a for a in PERMISSIONS if a.endswith(".read")}
    assert {a for a in PERMISSIONS if allowed({"auditor"}, a)} == readable


def test_an_admin_manages_access_and_touches_no_quality_record() -> None:
    assert {a for a in PERMISSIONS if allowed({"admin"}, a)} == {"access.read",
                                                                 "access.manage"}


def test_an_action_missing_from_the_table_is_allowed_to_nobody() -> None:
    assert not allowed(ROLES, "lots.teleport")


def test_the_readme_documents_the_permission_table_as_it_is() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    documented = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].strip("`") in PERMISSIONS:
            documented[cells[0].strip("`")] = frozenset(r.strip() for r in cells[1].split(","))
    assert documented == PERMISSIONS
