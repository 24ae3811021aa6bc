"""The record model every quality record shares: provenance, limits, ids and errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import UUID

import pytest

from domain.records import (
    InvalidValue,
    Limits,
    LimitsInverted,
    Provenance,
    QualityError,
    ReasonRequired,
    RecordExists,
    RecordNotFound,
    WrongUnit,
    quick_init,
    record_id,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_the_same_natural_key_always_names_the_same_record() -> None:
    assert record_id("instrument", "G-0042") == record_id("instrument", "G-0042")
    assert isinstance(record_id("instrument", "G-0042"), UUID)


def test_the_same_key_of_a_different_kind_names_a_different_record() -> None:
    assert record_id("instrument", "X-1") != record_id("lot", "X-1")
    assert record_id("lot", "LOT-1") != record_id("lot", "LOT-2")


def test_a_provenance_with_a_reason_is_accepted_where_a_reason_is_required() -> None:
    prov = Provenance(actor="qe-1", reason="gauge dropped on the floor")

    assert prov.requiring_reason("quarantine instrument G-0042") is prov


@pytest.mark.parametrize("reason", [None, "", "   \t"])
def test_a_missing_or_blank_reason_is_refused_naming_the_action(reason: str | None) -> None:
    prov = Provenance(actor="qe-1", reason=reason)

    with pytest.raises(ReasonRequired, match="a reason is required to release lot LOT-1") as e:
        prov.requiring_reason("release lot LOT-1")
    assert e.value.action == "release lot LOT-1"


def test_a_provenance_defaults_to_the_api_as_its_source() -> None:
    prov = Provenance(actor="qe-1", occurred_at=NOW)

    assert prov.source == "api"
    assert prov.source_message_id is None and prov.reason is None


def test_every_domain_error_is_a_quality_error() -> None:
    for error in (ReasonRequired("x"), RecordNotFound("lot", "L"), RecordExists("lot", "L"),
                  WrongUnit("w", "in", "mm"), LimitsInverted("w", 2, 1), InvalidValue("x")):
        assert isinstance(error, QualityError)


def test_error_messages_name_the_record_and_what_is_wrong() -> None:
    assert str(RecordNotFound("lot", "LOT-9")) == "no lot record LOT-9"
    assert str(RecordExists("instrument", "G-1")) == "instrument G-1 is already recorded"
    assert str(WrongUnit("characteristic bore_dia", "in", "mm")) == \
        "characteristic bore_dia is in mm, not 'in'"


def test_checked_limits_keep_their_unit_and_both_sides() -> None:
    limits = Limits.checked("bore_dia", "mm", 11.99, 12.01)

    assert limits == Limits(unit="mm", lower=11.99, upper=12.01)


def test_limits_with_the_lower_above_the_upper_are_refused() -> None:
    with pytest.raises(LimitsInverted, match=r"bore_dia: lower limit 12.01 is above upper limit"):
        Limits.checked("bore_dia", "mm", 12.01, 11.99)


def test_limits_without_a_unit_are_refused() -> None:
    with pytest.raises(InvalidValue, match="bore_dia: a unit is required"):
        Limits.checked("bore_dia", "", 11.99, 12.01)


def test_equal_lower_and_upper_limits_are_a_valid_single_point_specification() -> None:
    assert Limits.checked("pin", "mm", 5.0, 5.0).conforms(5.0)


def test_one_sided_limits_leave_the_other_side_open() -> None:
    minimum_only = Limits.checked("hardness", "HRC", 58, None)
    maximum_only = Limits.checked("roughness", "um", None, 0.8)

    assert minimum_only.conforms(1e9) and not minimum_only.conforms(57.9)
    assert maximum_only.conforms(-1e9) and not maximum_only.conforms(0.81)


def test_a_value_on_a_limit_conforms_and_just_outside_does_not() -> None:
    limits = Limits(unit="mm", lower=11.99, upper=12.01)

    assert limits.conforms(11.99) and limits.conforms(12.01) and limits.conforms(12.0)
    assert not limits.conforms(11.989) and not limits.conforms(12.011)


def test_a_value_in_another_unit_is_refused_naming_the_expected_unit() -> None:
    limits = Limits(unit="mm", lower=11.99, upper=12.01)

    limits.check_unit("bore_dia", "mm")
    with pytest.raises(WrongUnit, match="bore_dia is in mm, not 'in'") as e:
        limits.check_unit("bore_dia", "in")
    assert (e.value.given, e.value.expected) == ("in", "mm")


def test_a_non_finite_limit_is_refused() -> None:
    with pytest.raises(InvalidValue, match="bore_dia"):
        Limits.checked("bore_dia", "mm", float("nan"), 12.01)


@dataclasses.dataclass(frozen=True)
class Plain:
    name: str
    value: float
    unit: str = "mm"
    gauge: str | None = None


@quick_init
@dataclasses.dataclass(frozen=True)
class Quick:
    name: str
    value: float
    unit: str = "mm"
    gauge: str | None = None


def test_a_quickly_built_value_is_the_same_value_as_a_dataclass_builds() -> None:
    for args, kwargs in [(("d", 1.5), {}), (("d", 1.5, "in"), {"gauge": "G-1"}),
                         ((), {"value": 2.0, "name": "e", "gauge": None})]:
        plain, quick = Plain(*args, **kwargs), Quick(*args, **kwargs)  # type: ignore[arg-type]
        assert dataclasses.asdict(quick) == dataclasses.asdict(plain)
        assert quick == Quick(**dataclasses.asdict(plain))
        assert hash(quick) == hash(Quick(**dataclasses.asdict(plain)))
        assert repr(quick) == repr(plain).replace("Plain", "Quick")


def test_a_quickly_built_value_is_still_frozen_and_still_checks_its_arguments() -> None:
    quick = Quick("d", 1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.value = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError, match="value"):
        Quick("d")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        Quick("d", 1.5, colour="red")  # type: ignore[call-arg]
    assert dataclasses.replace(quick, unit="in") == Quick("d", 1.5, "in")


def test_quick_init_refuses_a_dataclass_it_would_build_wrongly() -> None:
    @dataclasses.dataclass(frozen=True)
    class Checked:
        value: float

        def __post_init__(self) -> None:
            raise AssertionError("never skipped")

    with pytest.raises(TypeError, match="not a plain dataclass"):
        quick_init(Checked)
    with pytest.raises(TypeError, match="not a plain dataclass"):
        quick_init(dataclasses.make_dataclass(
            "Listed", [("items", list, dataclasses.field(default_factory=list))], frozen=True))
