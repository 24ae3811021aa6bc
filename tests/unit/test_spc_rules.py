"""SPC run rules, point by point: Nelson's eight tests and the Western Electric rules, each on
a hand-computed series that fires (at the index that completes the pattern) and on a near
miss that must not. Unless a test says otherwise, centre = 0 and sigma = 1, so a value is
its own distance from the centre in sigmas."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from domain.records import InvalidValue
from domain.spc_rules import (
    NELSON_RULES,
    RULES,
    WESTERN_ELECTRIC_RULES,
    UnknownRule,
    rules_named,
    violations,
)

ALTERNATING_14 = [0.5, -0.5] * 7


def fired(rule: str, series: Sequence[float], centre: float = 0.0,
          sigma: float = 1.0) -> list[int]:
    return RULES[rule].violations(series, centre, sigma)


@pytest.mark.parametrize(("rule", "series", "expected"), [
    # Nelson 1: 3.2 (index 1) and -3.1 (index 3) are more than 3 sigma out; 2.9 is not.
    pytest.param("nelson-1", [0.5, 3.2, -1.0, -3.1, 2.9], [1, 3], id="nelson-1"),
    # Nelson 2: indices 1..9 are nine points above the centre; the 9th completes at 9.
    pytest.param("nelson-2", [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, -0.3], [9],
                 id="nelson-2-above"),
    # Nelson 2 below: ten in a row, the 9th (index 8) completes, the 10th extends it.
    pytest.param("nelson-2", [-0.2] * 10, [8, 9], id="nelson-2-below-and-extended"),
    # Nelson 3: indices 1..6 rise five times in a row, index 6 is the sixth point;
    # index 7 falls back.
    pytest.param("nelson-3", [0.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 1.2], [6],
                 id="nelson-3-increasing"),
    # Nelson 3 decreasing: 0..5 is six falling points (fires at 5), index 6 extends it.
    pytest.param("nelson-3", [2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0], [5, 6],
                 id="nelson-3-decreasing"),
    # Nelson 4: fourteen points, thirteen steps down, up, down...; the 14th is index 13.
    pytest.param("nelson-4", ALTERNATING_14, [13], id="nelson-4"),
    # Nelson 4 extended: a 15th alternating point completes a second fourteen at 14.
    pytest.param("nelson-4", [*ALTERNATING_14, 0.5], [13, 14], id="nelson-4-extended"),
    # Nelson 5: 2.5 (0) and 2.1 (2) are above 2 sigma within three points: fires at 2;
    # -2.2 (4) and -2.3 (5) below 2 sigma within three: fires at 5. Index 4 does not:
    # its three (2..4) hold one above and one below, not two on the same side.
    pytest.param("nelson-5", [2.5, 1.0, 2.1, 0.0, -2.2, -2.3], [2, 5], id="nelson-5"),
    # Nelson 6: 1.5, 1.2, 1.1, 1.8 (indices 0, 1, 3, 4) above 1 sigma among five points:
    # fires at index 4, the fourth of them; index 3 is only the third.
    pytest.param("nelson-6", [1.5, 1.2, 0.3, 1.1, 1.8, 0.2], [4], id="nelson-6"),
    # Nelson 7: indices 0..14 are within 1 sigma (-1.0 is exactly 1 sigma: within);
    # the 15th is index 14; index 15 (1.5) is outside.
    pytest.param("nelson-7", [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9, -1.0,
                              0.1, 0.2, -0.3, 0.4, -0.5, 1.5], [14], id="nelson-7"),
    # Nelson 8: indices 0..7 are all more than 1 sigma out, on both sides; the 8th is 7.
    pytest.param("nelson-8", [1.5, -1.5, 1.2, -2.0, 1.1, -1.1, 2.5, -1.3, 0.5], [7],
                 id="nelson-8"),
    # Western Electric 1 is Nelson 1: 3.2 and -3.1 again.
    pytest.param("we-1", [0.5, 3.2, -1.0, -3.1, 2.9], [1, 3], id="we-1"),
    # Western Electric 2 is Nelson 5: same series, same completing points.
    pytest.param("we-2", [2.5, 1.0, 2.1, 0.0, -2.2, -2.3], [2, 5], id="we-2"),
    # Western Electric 3 is Nelson 6.
    pytest.param("we-3", [1.5, 1.2, 0.3, 1.1, 1.8, 0.2], [4], id="we-3"),
    # Western Electric 4: indices 0..7 are eight points above the centre; the 8th is 7.
    pytest.param("we-4", [0.3, 0.1, 0.2, 0.4, 0.1, 0.5, 0.2, 0.1, -0.1], [7], id="we-4"),
])
def test_a_rule_fires_at_the_point_that_completes_its_pattern(
        rule: str, series: list[float], expected: list[int]) -> None:
    assert fired(rule, series) == expected


@pytest.mark.parametrize(("rule", "series"), [
    # Nelson 1: 3.0 and -3.0 sit on the limits, which is not beyond them.
    pytest.param("nelson-1", [2.9, -2.99, 3.0, -3.0], id="nelson-1-on-the-limits"),
    # Nelson 2: eight above, one on the centre line (on neither side), eight above.
    pytest.param("nelson-2", [0.4] * 8 + [0.0] + [0.4] * 8, id="nelson-2-broken-by-centre"),
    # Nelson 2: eight below then the ninth above.
    pytest.param("nelson-2", [-0.4] * 8 + [0.1], id="nelson-2-eight-only"),
    # Nelson 3: five rising points, a tie (not a rise), then one more rise.
    pytest.param("nelson-3", [-1.0, -0.5, 0.0, 0.5, 1.0, 1.0, 1.5], id="nelson-3-tie"),
    # Nelson 3: only five points, rising.
    pytest.param("nelson-3", [0.0, 0.2, 0.4, 0.6, 0.8], id="nelson-3-five-only"),
    # Nelson 4: thirteen alternating points are one short.
    pytest.param("nelson-4", [0.5, -0.5] * 6 + [0.5], id="nelson-4-thirteen-only"),
    # Nelson 4: fourteen points whose steps 4->5 and 5->6 both go down.
    pytest.param("nelson-4", [0.5, -0.5, 0.5, -0.5, 0.5, -0.5, -0.7, 0.5, -0.5, 0.5, -0.5,
                              0.5, -0.5, 0.5], id="nelson-4-two-steps-down"),
    # Nelson 5: two beyond 2 sigma, but on opposite sides (0, 1), or three apart (0, 3);
    # 2.0 is exactly 2 sigma, not beyond; 1.9 is within.
    pytest.param("nelson-5", [2.5, -2.5, 0.0, 2.5, 1.9, 2.0], id="nelson-5-near-miss"),
    # Nelson 6: only three of any five above 1 sigma; -1.1 is beyond, but below.
    pytest.param("nelson-6", [1.5, 1.2, 0.3, -1.1, 1.8, 1.1], id="nelson-6-near-miss"),
    # Nelson 7: fifteen points, the eighth (1.2) outside 1 sigma: runs of seven.
    pytest.param("nelson-7", [0.2] * 7 + [1.2] + [0.2] * 7, id="nelson-7-near-miss"),
    # Nelson 8: index 7 is exactly 1 sigma (not beyond): runs of seven and two.
    pytest.param("nelson-8", [1.5, -1.5, 1.2, -2.0, 1.1, -1.1, 2.5, 1.0, -1.3, 1.4],
                 id="nelson-8-near-miss"),
    # Western Electric 4: seven above, one below, seven above.
    pytest.param("we-4", [0.3] * 7 + [-0.1] + [0.3] * 7, id="we-4-near-miss"),
    # Western Electric 2 and 3 near misses are Nelson 5's and 6's.
    pytest.param("we-2", [2.5, -2.5, 0.0, 2.5, 1.9, 2.0], id="we-2-near-miss"),
    pytest.param("we-3", [1.5, 1.2, 0.3, -1.1, 1.8, 1.1], id="we-3-near-miss"),
])
def test_a_near_miss_does_not_fire(rule: str, series: list[float]) -> None:
    assert fired(rule, series) == []


def test_zones_are_measured_in_sigmas_from_the_chart_centre() -> None:
    # centre 10, sigma 0.5: 11.6 and 8.4 are 1.6 away, 3.2 sigma; 11.4 is 2.8 sigma.
    assert fired("nelson-1", [10.0, 11.6, 8.4, 11.4], centre=10.0, sigma=0.5) == [1, 2]
    # 10.6 and 10.7 are 1.2 and 1.4 sigma above, within 2 sigma; 11.1 and 11.2 are 2.2
    # and 2.4 sigma: the second of them (index 3) completes two of three beyond 2 sigma.
    assert fired("nelson-5", [10.6, 10.7, 11.1, 11.2], centre=10.0, sigma=0.5) == [3]


def test_every_nelson_test_and_western_electric_rule_is_named_with_its_span() -> None:
    assert tuple(f"nelson-{n}" for n in range(1, 9)) == NELSON_RULES
    assert WESTERN_ELECTRIC_RULES == ("we-1", "we-2", "we-3", "we-4")
    assert [RULES[r].span for r in NELSON_RULES] == [1, 9, 6, 14, 3, 5, 15, 8]
    assert [RULES[r].span for r in WESTERN_ELECTRIC_RULES] == [1, 3, 5, 8]
    assert all(rule.description for rule in RULES.values())


def test_violations_are_listed_by_completing_point_then_by_rule_order() -> None:
    series = [0.2] * 8 + [3.5]
    hits = violations(rules_named(["we-4", "we-1"]), series, 0.0, 1.0)
    assert [(i, rule.id) for i, rule in hits] == [(7, "we-4"), (8, "we-4"), (8, "we-1")]


def test_violations_before_the_given_index_are_left_out() -> None:
    hits = violations(rules_named(["we-1"]), [3.5, 0.0, -3.5], 0.0, 1.0, since=1)
    assert [i for i, _ in hits] == [2]


def test_an_unknown_rule_is_refused_with_the_names_of_the_known_ones() -> None:
    with pytest.raises(UnknownRule, match="no SPC rule 'nelson-9'; the rules are nelson-1"):
        rules_named(["nelson-1", "nelson-9"])


def test_rules_need_a_positive_sigma() -> None:
    with pytest.raises(InvalidValue, match="positive sigma, not 0.0"):
        violations(rules_named(["we-1"]), [1.0], 0.0, 0.0)
