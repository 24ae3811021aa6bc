"""Statistical process control: control limits from a baseline, Cp and Cpk, and the control
chart of one characteristic on one line, which charts results and raises an alarm when an
enabled rule completes a pattern."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.encoding import TypedMapper
from domain.inspection import inspection_id
from domain.records import Limits, LimitsInverted, Provenance, ReasonRequired
from domain.spc import (
    INDIVIDUALS,
    XBAR_R,
    Alarm,
    ChartPoint,
    ControlChart,
    ControlLimits,
    IncompleteSubgroup,
    NoSpecLimits,
    NotANumber,
    NoVariation,
    PlottedPoint,
    SubgroupSizeOutOfRange,
    TooFewPoints,
    UnknownChartKind,
    capability,
    control_chart_id,
    control_limits,
    individuals_limits,
    xbar_r_limits,
)
from domain.spc_rules import NELSON_RULES, UnknownRule

MEASURED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RECORDED = datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC)
QE = Provenance(actor="qe-1", source="api", reason="new spindle fitted")
POLICY = Provenance(actor="policy:spc", source="policy", causation_id="evt-1")
SPEC = Limits(unit="mm", lower=7.0, upper=13.0)
# Alternating 1.128 apart: mean 10, MRbar 1.128, so sigma = MRbar / d2 = 1 and the
# individuals limits are 7 and 13; a value's distance from 10 is its distance in sigmas.
UNIT_BASELINE = (9.436, 10.564, 9.436, 10.564)
# Three subgroups of 3 (worked in the X-bar/R limits test): centre 11, A2 * Rbar = 2.046.
XBAR_BASELINE = (10.0, 11.0, 12.0, 11.0, 13.0, 12.0, 9.0, 10.0, 11.0)


def point(n: int, value: float, index: int = 0) -> ChartPoint:
    """Result #index of the n-th inspection on line L1, the n-th event in the log."""
    return ChartPoint(value=value, source=inspection_id("L1", f"L1-{n:06d}"), index=index,
                      occurred_at=MEASURED + timedelta(seconds=n), position=n)


def points(*values: float, first: int = 1) -> tuple[ChartPoint, ...]:
    return tuple(point(first + i, v) for i, v in enumerate(values))


def established(kind: str = INDIVIDUALS, baseline: tuple[float, ...] = UNIT_BASELINE,
                subgroup_size: int = 1,
                rules: tuple[str, ...] = NELSON_RULES) -> ControlChart:
    chart = ControlChart.establish(
        plan="IP-100", characteristic="bore_dia", line="L1", kind=kind, baseline=baseline,
        spec=SPEC, prov=QE, now=RECORDED, subgroup_size=subgroup_size, rules=rules)
    chart.collect_events()
    return chart


# -- control limits -------------------------------------------------------------------------

def test_individuals_limits_come_from_the_mean_and_the_average_moving_range() -> None:
    # 10, 12, 11, 13, 14: mean 60 / 5 = 12; moving ranges 2, 1, 2, 1, MRbar = 1.5;
    # sigma = 1.5 / 1.128 = 1.329787; limits 12 +/- 3.989362 = 8.010638 .. 15.989362;
    # the moving-range chart's UCL = 3.267 * 1.5 = 4.9005, its LCL 0.
    limits = individuals_limits([10, 12, 11, 13, 14])

    assert (limits.kind, limits.subgroup_size) == (INDIVIDUALS, 1)
    assert limits.centre == pytest.approx(12.0)
    assert limits.sigma == pytest.approx(1.329787, abs=1e-6)
    assert limits.within_sigma == limits.sigma
    assert (limits.lcl, limits.ucl) == (pytest.approx(8.010638, abs=1e-6),
                                        pytest.approx(15.989362, abs=1e-6))
    assert (limits.range_centre, limits.range_lcl, limits.range_ucl) == \
        (pytest.approx(1.5), 0.0, pytest.approx(4.9005))


def test_xbar_r_limits_come_from_the_grand_mean_and_the_average_range() -> None:
    # Subgroups (10, 11, 12), (11, 13, 12), (9, 10, 11): means 11, 12, 10, grand mean 11;
    # ranges 2, 2, 2, Rbar = 2. For n = 3: A2 = 1.023, D3 = 0, D4 = 2.574, d2 = 1.693.
    # X-bar limits 11 +/- 1.023 * 2 = 8.954 .. 13.046, zone sigma 2.046 / 3 = 0.682;
    # R chart 0 .. 2.574 * 2 = 5.148; within sigma Rbar / d2 = 2 / 1.693 = 1.181335.
    limits = xbar_r_limits([(10, 11, 12), (11, 13, 12), (9, 10, 11)])

    assert (limits.kind, limits.subgroup_size) == (XBAR_R, 3)
    assert limits.centre == pytest.approx(11.0)
    assert (limits.lcl, limits.ucl) == (pytest.approx(8.954), pytest.approx(13.046))
    assert limits.sigma == pytest.approx(0.682)
    assert (limits.range_centre, limits.range_lcl, limits.range_ucl) == \
        (pytest.approx(2.0), 0.0, pytest.approx(5.148))
    assert limits.within_sigma == pytest.approx(1.181335, abs=1e-6)


def test_the_r_chart_has_a_lower_limit_from_subgroups_of_seven() -> None:
    # (1..7) and (2..8): ranges 6 and 6, Rbar 6; means 4 and 5, centre 4.5.
    # n = 7: A2 = 0.419, D3 = 0.076, D4 = 1.924: UCL 4.5 + 2.514 = 7.014,
    # R chart 0.456 .. 11.544.
    limits = xbar_r_limits([(1, 2, 3, 4, 5, 6, 7), (2, 3, 4, 5, 6, 7, 8)])

    assert limits.ucl == pytest.approx(7.014)
    assert (limits.range_lcl, limits.range_ucl) == (pytest.approx(0.456),
                                                    pytest.approx(11.544))


def test_a_flat_baseline_is_cut_into_consecutive_subgroups() -> None:
    assert control_limits(XBAR_R, XBAR_BASELINE, 3) == \
        xbar_r_limits([(10, 11, 12), (11, 13, 12), (9, 10, 11)], "a control chart baseline")


@pytest.mark.parametrize(("compute", "error", "message"), [
    (lambda: individuals_limits([10.0]), TooFewPoints,
     "an individuals chart needs at least 2 points, got 1"),
    (lambda: individuals_limits([]), TooFewPoints, "needs at least 2 points, got 0"),
    (lambda: xbar_r_limits([(1.0, 2.0, 3.0)]), TooFewPoints,
     "an X-bar/R chart needs at least 2 subgroups, got 1"),
    (lambda: control_limits(XBAR_R, list(range(22)), 11), SubgroupSizeOutOfRange,
     "an xbar-r chart plots subgroups of 2 to 10 values, not subgroups of 11"),
    (lambda: control_limits(XBAR_R, [1.0, 2.0], 1), SubgroupSizeOutOfRange,
     "plots subgroups of 2 to 10 values, not subgroups of 1"),
    (lambda: control_limits(INDIVIDUALS, [1.0, 2.0, 3.0], 3), SubgroupSizeOutOfRange,
     "an i-mr chart plots single values, not subgroups of 3"),
    (lambda: control_limits(XBAR_R, [1.0, 2.0, 3.0, 4.0, 5.0], 2), IncompleteSubgroup,
     "5 values do not make whole subgroups of 2"),
    (lambda: xbar_r_limits([(1.0, 2.0), (1.0, 2.0, 3.0)]), IncompleteSubgroup,
     "5 values do not make whole subgroups of 2"),
    (lambda: individuals_limits([10.0, float("nan"), 11.0]), NotANumber,
     "an individuals chart value #1 is not a number: nan"),
    (lambda: xbar_r_limits([(1.0, 2.0), (float("inf"), 2.0)]), NotANumber,
     "subgroup #1 value #0 is not a number: inf"),
    (lambda: individuals_limits([10.0, 10.0, 10.0]), NoVariation,
     "the values do not vary, so sigma cannot be estimated"),
    (lambda: control_limits("p-chart", [1.0, 2.0]), UnknownChartKind,
     "chart kind must be one of i-mr, xbar-r, not 'p-chart'"),
])
def test_limits_from_a_bad_baseline_are_refused_with_a_clear_reason(
        compute: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        compute()  # type: ignore[operator]


# -- capability -----------------------------------------------------------------------------

def test_cp_and_cpk_measure_the_spread_and_the_centring_against_both_limits() -> None:
    # mean 10, sigma 0.5, spec 8.5 .. 12: Cp = 3.5 / 3 = 1.1667;
    # CPU = (12 - 10) / 1.5 = 1.3333, CPL = (10 - 8.5) / 1.5 = 1.0, Cpk = 1.0.
    c = capability(10.0, 0.5, Limits(unit="mm", lower=8.5, upper=12.0))

    assert (c.cp, c.cpk) == (pytest.approx(1.166667, abs=1e-6), pytest.approx(1.0))
    assert (c.cpu, c.cpl) == (pytest.approx(1.333333, abs=1e-6), pytest.approx(1.0))


def test_with_one_limit_cpk_is_the_one_sided_index_and_cp_is_undefined() -> None:
    upper_only = capability(10.0, 0.5, Limits(unit="mm", upper=12.0))
    lower_only = capability(10.0, 0.5, Limits(unit="mm", lower=8.5))

    assert (upper_only.cp, upper_only.cpk, upper_only.cpl) == \
        (None, pytest.approx(1.333333, abs=1e-6), None)
    assert (lower_only.cp, lower_only.cpk, lower_only.cpu) == (None, pytest.approx(1.0), None)


def test_capability_without_specification_limits_is_refused() -> None:
    with pytest.raises(NoSpecLimits, match="at least one specification limit"):
        capability(10.0, 0.5, Limits(unit="mm"))


# -- the control chart ----------------------------------------------------------------------

def test_establishing_a_chart_records_its_limits_under_plan_characteristic_and_line() -> None:
    chart = ControlChart.establish(
        plan="IP-100", characteristic="bore_dia", line="L1", kind=INDIVIDUALS,
        baseline=UNIT_BASELINE, spec=SPEC, prov=QE, now=RECORDED)

    assert chart.id == control_chart_id("IP-100", "bore_dia", "L1")
    assert chart.id != control_chart_id("IP-100", "bore_dia", "L2")
    (event,) = chart.collect_events()
    assert isinstance(event, ControlChart.Established)
    assert (event.kind, event.subgroup_size, event.rules) == (INDIVIDUALS, 1, NELSON_RULES)
    assert (event.baseline, event.spec, event.timestamp) == (UNIT_BASELINE, SPEC, RECORDED)
    assert (event.limits.centre, event.limits.sigma) == (pytest.approx(10.0),
                                                         pytest.approx(1.0))
    assert (event.limits.lcl, event.limits.ucl) == (pytest.approx(7.0), pytest.approx(13.0))


def test_charting_a_point_beyond_the_limits_records_the_points_then_the_alarm() -> None:
    chart = established()
    charted = points(10.2, 13.5)

    alarms = chart.chart(charted, POLICY, RECORDED)

    first, second = chart.collect_events()
    assert isinstance(first, ControlChart.PointsCharted) and first.points == charted
    assert isinstance(second, ControlChart.AlarmRaised)
    assert (second.rule, second.description) == \
        ("nelson-1", "one point more than 3 sigma from the centre line")
    assert second.points == (PlottedPoint(13.5, (charted[1],)),)
    assert second.limits == chart.limits
    assert (second.provenance, second.timestamp) == (POLICY, RECORDED)
    assert alarms == [Alarm(second.rule, second.description, second.points, second.limits)]
    assert chart.alarms_raised == 1


def test_a_run_started_in_one_call_fires_when_a_later_call_completes_it() -> None:
    # Eight points above the centre in the first call; the ninth, a call later, completes
    # Nelson 2 (nine on one side), and the alarm lists all nine with their sources.
    chart = established()
    chart.chart(points(*[10.3] * 8), POLICY, RECORDED)
    chart.collect_events()

    (alarm,) = chart.chart(points(10.3, first=9), POLICY, RECORDED)

    assert alarm.rule == "nelson-2"
    assert [p.points[0] for p in alarm.points] == list(points(*[10.3] * 9))
    assert [type(e).__name__ for e in chart.collect_events()] == \
        ["PointsCharted", "AlarmRaised"]


def test_a_run_that_goes_on_is_one_alarm_and_a_run_that_forms_again_is_another() -> None:
    # A shifted process: nine above the centre complete Nelson 2; three more above, in the
    # same call and in a later one, are the same episode. One point below breaks the run;
    # nine above again are a new episode, and a new alarm.
    chart = established(rules=("nelson-2",))
    (first,) = chart.chart(points(*[10.3] * 11), POLICY, RECORDED)
    assert [p.points[0] for p in first.points] == list(points(*[10.3] * 9))
    assert chart.chart(points(10.3, first=12), POLICY, RECORDED) == []
    assert chart.chart(points(9.7, *[10.3] * 8, first=13), POLICY, RECORDED) == []

    (again,) = chart.chart(points(10.3, 10.3, first=22), POLICY, RECORDED)

    assert [p.points[0] for p in again.points] == list(points(*[10.3] * 9, first=14))
    assert chart.alarms_raised == 2


def test_every_point_beyond_the_control_limits_is_an_alarm_of_its_own() -> None:
    chart = established(rules=("nelson-1",))

    alarms = chart.chart(points(13.5, 13.6, 6.4), POLICY, RECORDED)

    assert [a.points[0].value for a in alarms] == [13.5, 13.6, 6.4]


def test_rules_not_enabled_on_a_chart_do_not_fire() -> None:
    chart = established(rules=("we-1",))

    # Nine above the centre (Nelson 2 and WE 4) and six rising (Nelson 3): not enabled.
    assert chart.chart(points(*[10.3] * 9, 10.4, 10.5, 10.6, 10.7, 10.8), POLICY,
                       RECORDED) == []
    (alarm,) = chart.chart(points(13.5, first=20), POLICY, RECORDED)
    assert alarm.rule == "we-1"


def test_charting_the_same_results_again_records_nothing_and_raises_no_alarm_twice() -> None:
    chart = established()
    charted = points(10.2, 13.5)
    assert len(chart.chart(charted, POLICY, RECORDED)) == 1
    chart.collect_events()

    assert chart.chart(charted, POLICY, RECORDED) == []
    assert chart.chart(charted[1:], POLICY, RECORDED) == []
    assert chart.collect_events() == []
    assert chart.alarms_raised == 1


def test_only_results_not_charted_before_are_charted_even_within_one_call() -> None:
    chart = established()
    chart.chart(points(10.2, 10.1), POLICY, RECORDED)
    chart.collect_events()
    again_and_new = (*points(10.2, 10.1), point(3, 9.9), point(3, 9.9), point(3, 9.8, index=1))

    chart.chart(again_and_new, POLICY, RECORDED)

    (event,) = chart.collect_events()
    assert isinstance(event, ControlChart.PointsCharted)
    assert event.points == (point(3, 9.9), point(3, 9.8, index=1))


def test_the_chart_keeps_only_the_points_its_longest_enabled_rule_needs() -> None:
    nelson, western = established(), established(rules=("we-1", "we-2", "we-3", "we-4"))
    series = points(*[10.1, 9.9] * 20)

    nelson.chart(series, POLICY, RECORDED)
    western.chart(series, POLICY, RECORDED)

    assert [p.points[0] for p in nelson.window] == list(series[-15:])  # Nelson 7 spans 15
    assert [p.points[0] for p in western.window] == list(series[-8:])  # WE 4 spans 8
    assert nelson.charted_to == 40


def test_an_xbar_chart_plots_a_subgroup_once_it_is_whole_and_alarms_on_its_mean() -> None:
    # Centre 11, UCL 13.046 (see the X-bar/R limits test). Two values wait for a third;
    # the third completes a subgroup with mean (13.5 + 14.0 + 13.6) / 3 = 13.7 > UCL.
    chart = established(XBAR_R, XBAR_BASELINE, subgroup_size=3)
    assert chart.chart(points(13.5, 14.0), POLICY, RECORDED) == []
    assert chart.window == [] and len(chart.pending) == 2

    (alarm,) = chart.chart(points(13.6, first=3), POLICY, RECORDED)

    assert alarm.rule == "nelson-1"
    (subgroup,) = alarm.points
    assert subgroup.value == pytest.approx(13.7)
    assert subgroup.points == points(13.5, 14.0, 13.6)
    assert chart.pending == []


def test_cp_and_cpk_are_available_from_the_baseline_and_from_the_window() -> None:
    chart = established()
    # Baseline: mean 10, within sigma 1, spec 7 .. 13: Cp = 6 / 6 = 1, Cpk = 3 / 3 = 1.
    baseline = chart.baseline_capability()
    assert (baseline.cp, baseline.cpk) == (pytest.approx(1.0), pytest.approx(1.0))
    with pytest.raises(TooFewPoints, match="capability over the window"):
        chart.window_capability()

    # Window 10, 11, 10, 11: mean 10.5, MRbar 1, sigma 1 / 1.128 = 0.886525;
    # Cp = 6 / 5.319149 = 1.128, Cpk = (13 - 10.5) / 2.659574 = 0.94.
    chart.chart(points(10.0, 11.0, 10.0, 11.0), POLICY, RECORDED)
    window = chart.window_capability()
    assert (window.mean, window.sigma) == (pytest.approx(10.5),
                                           pytest.approx(0.886525, abs=1e-6))
    assert (window.cp, window.cpk) == (pytest.approx(1.128), pytest.approx(0.94))


def test_rebaselining_needs_a_reason_and_judges_later_points_by_the_new_limits() -> None:
    chart = established()
    chart.chart(points(*[10.3] * 8), POLICY, RECORDED)
    with pytest.raises(ReasonRequired, match="rebaseline control chart IP-100/bore_dia/L1"):
        chart.rebaseline((19.436, 20.564, 19.436, 20.564), POLICY, RECORDED)
    chart.collect_events()

    chart.rebaseline((19.436, 20.564, 19.436, 20.564), QE, RECORDED)

    (event,) = chart.collect_events()
    assert isinstance(event, ControlChart.Rebaselined)
    assert (event.limits.centre, event.limits.ucl) == (pytest.approx(20.0),
                                                       pytest.approx(23.0))
    assert event.provenance.reason == "new spindle fitted"
    # The eight points above the old centre leave the window: 20.3 does not make nine.
    assert chart.window == []
    assert chart.chart(points(20.3, first=9), POLICY, RECORDED) == []
    (alarm,) = chart.chart(points(13.5, first=10), POLICY, RECORDED)
    assert alarm.rule == "nelson-1" and alarm.limits == event.limits


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"baseline": (10.0,)}, TooFewPoints, "IP-100/bore_dia/L1 baseline needs at least 2"),
    ({"baseline": (10.0, float("nan"))}, NotANumber, "baseline value #1 is not a number"),
    ({"kind": XBAR_R, "subgroup_size": 11}, SubgroupSizeOutOfRange, "not subgroups of 11"),
    ({"kind": "c-chart"}, UnknownChartKind, "not 'c-chart'"),
    ({"rules": ("nelson-1", "we-5")}, UnknownRule, "no SPC rule 'we-5'"),
    ({"spec": Limits(unit="mm", lower=13.0, upper=7.0)}, LimitsInverted,
     "lower limit 13.0 is above upper limit 7.0"),
])
def test_a_chart_is_not_established_on_bad_input(changes: dict[str, object],
                                                  error: type[Exception],
                                                  message: str) -> None:
    arguments: dict[str, object] = {
        "plan": "IP-100", "characteristic": "bore_dia", "line": "L1", "kind": INDIVIDUALS,
        "baseline": UNIT_BASELINE, "spec": SPEC, "prov": QE, "now": RECORDED, **changes}
    with pytest.raises(error, match=message):
        ControlChart.establish(**arguments)  # type: ignore[arg-type]


def test_a_value_that_is_not_a_number_is_refused_and_nothing_is_charted() -> None:
    chart = established()
    bad = point(2, float("nan"))

    with pytest.raises(NotANumber, match=f"chart point {bad.source} #0 is not a number: nan"):
        chart.chart((point(1, 10.0), bad), POLICY, RECORDED)

    assert chart.collect_events() == [] and chart.charted_to == 0


def test_the_chart_events_read_back_from_their_stored_form_and_replay_its_state() -> None:
    # Stored through the typed orjson mapper and replayed, the chart is where it was.
    chart = ControlChart.establish(
        plan="IP-100", characteristic="bore_dia", line="L1", kind=XBAR_R,
        baseline=XBAR_BASELINE, spec=SPEC, prov=QE, now=RECORDED, subgroup_size=3)
    chart.chart(points(13.5, 14.0, 13.6, 11.0), POLICY, RECORDED)
    mapper = TypedMapper()

    events = [mapper.to_domain_event(mapper.to_stored_event(e))
              for e in chart.collect_events()]

    assert [type(e).__name__ for e in events] == \
        ["Established", "PointsCharted", "AlarmRaised"]
    assert isinstance(events[2], ControlChart.AlarmRaised)
    assert isinstance(events[2].limits, ControlLimits)
    assert events[2].points[0].points == points(13.5, 14.0, 13.6)
    replayed: ControlChart | None = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert (replayed.window, replayed.pending, replayed.charted_to, replayed.limits) == \
        (chart.window, chart.pending, chart.charted_to, chart.limits)
