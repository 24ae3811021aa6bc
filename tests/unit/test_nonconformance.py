"""Nonconformances: what was found, which lots, containment, disposition and closure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.nonconformance import (
    DISPOSITIONS,
    ApproverRequired,
    DispositionRequired,
    Nonconformance,
    NonconformanceClosed,
    nonconformance_id,
)
from domain.records import InvalidValue, Provenance, ReasonRequired

FOUND = datetime(2026, 11, 26, 12, 5, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
POLICY = Provenance(actor="policy", source="policy", correlation_id="L1-000001")
QE = Provenance(actor="qe-1")
MRB = Provenance(actor="qe-1", reason="bore oversize by 0.01 mm; fits the mating part",
                 signature_meaning="approved")
CLOSING = Provenance(actor="qe-1", reason="rework verified by re-inspection")


def raised() -> Nonconformance:
    nc = Nonconformance.raise_("NC-0001", "inspection", "bore_dia above USL on 2 of 5 parts",
                               ("LOT-0001",), "bore_dia", ("inspection L1-000001",), POLICY,
                               FOUND)
    nc.collect_events()
    return nc


def dispositioned() -> Nonconformance:
    nc = raised()
    nc.disposition_as("rework", "mrb-chair", MRB, LATER)
    nc.collect_events()
    return nc


def closed() -> Nonconformance:
    nc = dispositioned()
    nc.close(CLOSING, LATER)
    nc.collect_events()
    return nc


def test_raising_a_nonconformance_records_what_was_found_and_where() -> None:
    nc = Nonconformance.raise_("NC-0001", "inspection", "bore_dia above USL on 2 of 5 parts",
                               ("LOT-0001",), "bore_dia", ("inspection L1-000001",), POLICY,
                               FOUND)

    assert nc.id == nonconformance_id("NC-0001")
    assert (nc.number, nc.status, nc.lots, nc.disposition) == \
        ("NC-0001", "open", ["LOT-0001"], None)
    (event,) = nc.collect_events()
    assert isinstance(event, Nonconformance.Raised)
    assert (event.source, event.characteristic) == ("inspection", "bore_dia")
    assert event.lots == ("LOT-0001",) and event.evidence == ("inspection L1-000001",)
    assert event.provenance == POLICY and event.timestamp == FOUND


def test_a_nonconformance_from_an_unknown_source_is_refused() -> None:
    with pytest.raises(InvalidValue, match="source must be one of inspection, process"):
        Nonconformance.raise_("NC-0001", "rumour", "something", (), None, (), QE, FOUND)


def test_a_nonconformance_without_a_description_is_refused() -> None:
    with pytest.raises(InvalidValue, match="needs a description of what was found"):
        Nonconformance.raise_("NC-0001", "audit", "  ", (), None, (), QE, FOUND)


# -- lots, evidence and containment ---------------------------------------------------------

def test_a_lot_found_affected_later_is_added_once() -> None:
    nc = raised()

    nc.add_lot("LOT-0002", QE, LATER)
    nc.add_lot("LOT-0002", QE, LATER)
    nc.add_lot("LOT-0001", QE, LATER)

    assert nc.lots == ["LOT-0001", "LOT-0002"]
    (event,) = nc.collect_events()
    assert isinstance(event, Nonconformance.LotAdded) and event.lot == "LOT-0002"


def test_only_new_evidence_is_recorded() -> None:
    nc = raised()

    nc.add_evidence(("inspection L1-000001", "photo-17.jpg"), QE, LATER)
    nc.add_evidence(("photo-17.jpg",), QE, LATER)

    assert nc.evidence == ["inspection L1-000001", "photo-17.jpg"]
    (event,) = nc.collect_events()
    assert isinstance(event, Nonconformance.EvidenceAdded)
    assert event.evidence == ("photo-17.jpg",)


def test_a_containment_action_is_recorded() -> None:
    nc = raised()

    nc.record_containment("LOT-0001 quarantined in cage 3", QE, LATER)

    assert nc.containment == ["LOT-0001 quarantined in cage 3"]
    (event,) = nc.collect_events()
    assert isinstance(event, Nonconformance.ContainmentRecorded)
    assert event.action == "LOT-0001 quarantined in cage 3" and event.provenance == QE


def test_a_blank_containment_action_is_refused() -> None:
    nc = raised()

    with pytest.raises(InvalidValue, match="describe the containment action"):
        nc.record_containment(" ", QE, LATER)

    assert nc.collect_events() == [] and nc.containment == []


# -- disposition ----------------------------------------------------------------------------

@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_a_disposition_records_the_decision_the_approver_and_the_reason(
        disposition: str) -> None:
    nc = raised()

    nc.disposition_as(disposition, "mrb-chair", MRB, LATER)

    assert (nc.disposition, nc.approver, nc.status) == (disposition, "mrb-chair",
                                                        "dispositioned")
    (event,) = nc.collect_events()
    assert isinstance(event, Nonconformance.Dispositioned)
    assert (event.disposition, event.approver) == (disposition, "mrb-chair")
    assert event.provenance == MRB and event.timestamp == LATER


def test_a_disposition_without_a_reason_is_refused() -> None:
    nc = raised()

    with pytest.raises(ReasonRequired,
                       match="a reason is required to disposition nonconformance NC-0001"):
        nc.disposition_as("scrap", "mrb-chair", QE, LATER)

    assert nc.collect_events() == [] and nc.disposition is None


@pytest.mark.parametrize("approver", ["", "   "])
def test_a_disposition_without_an_approver_is_refused(approver: str) -> None:
    nc = raised()

    with pytest.raises(ApproverRequired, match="a use_as_is disposition needs an approver"):
        nc.disposition_as("use_as_is", approver, MRB, LATER)

    assert nc.collect_events() == [] and nc.status == "open"


def test_an_unknown_disposition_is_refused() -> None:
    nc = raised()

    with pytest.raises(InvalidValue, match="disposition must be one of rework, scrap, "
                       "use_as_is, return_to_supplier, not 'sell_anyway'"):
        nc.disposition_as("sell_anyway", "mrb-chair", MRB, LATER)

    assert nc.collect_events() == [] and nc.disposition is None


# -- closure --------------------------------------------------------------------------------

def test_a_dispositioned_nonconformance_is_closed_with_a_reason() -> None:
    nc = dispositioned()

    nc.close(CLOSING, LATER)

    assert nc.status == "closed"
    (event,) = nc.collect_events()
    assert isinstance(event, Nonconformance.Closed) and event.provenance == CLOSING


def test_a_nonconformance_without_a_disposition_cannot_be_closed() -> None:
    nc = raised()

    with pytest.raises(DispositionRequired,
                       match="nonconformance NC-0001 has no disposition yet: it cannot be closed"):
        nc.close(CLOSING, LATER)

    assert nc.collect_events() == [] and nc.status == "open"


def test_closing_without_a_reason_is_refused() -> None:
    nc = dispositioned()

    with pytest.raises(ReasonRequired, match="a reason is required to close nonconformance"):
        nc.close(Provenance(actor="qe-1", reason=""), LATER)

    assert nc.collect_events() == [] and nc.status == "dispositioned"


@pytest.mark.parametrize(("command", "args"), [
    ("add_lot", ("LOT-0009",)),
    ("add_evidence", (("photo-18.jpg",),)),
    ("record_containment", ("sort LOT-0009",)),
    ("disposition_as", ("scrap", "mrb-chair")),
])
def test_a_closed_nonconformance_cannot_be_changed(command: str, args: tuple[object, ...]) -> None:
    nc = closed()

    with pytest.raises(NonconformanceClosed, match="nonconformance NC-0001 is closed"):
        getattr(nc, command)(*args, MRB, LATER)

    assert nc.collect_events() == [] and nc.status == "closed"


def test_a_closed_nonconformance_cannot_be_closed_again() -> None:
    nc = closed()

    with pytest.raises(NonconformanceClosed, match="is closed"):
        nc.close(CLOSING, LATER)

    assert nc.collect_events() == []
