"""Run rules for control charts: Nelson's eight tests and the Western Electric rules.

Each rule is a pure test over the plotted series (individual values or subgroup means), the
chart's centre line and the sigma of the plotted statistic; it returns the indices of the
points that complete its pattern, so a pattern that goes on (ten in a row where nine fire)
fires again at every point that extends it (a control chart raises one alarm for such an
episode: see ``ControlChart``).

Conventions, where the published wording leaves room:
- "beyond k sigma" is strictly more than k sigma from the centre; "within 1 sigma" is its
  complement, so a point exactly on 1 sigma is within.
- a point exactly on the centre line is on neither side: it breaks a same-side run.
- two equal consecutive values break a trend and an alternation.
- "k out of m" rules fire at a point that is itself beyond the zone when, with the m - 1
  points before it, at least k are beyond on that side: the pattern completes at its k-th
  point, never at an unremarkable point that follows it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from domain.records import InvalidValue

Test = Callable[[Sequence[float], float, float], list[int]]


class UnknownRule(InvalidValue):
    def __init__(self, rule: str) -> None:
        super().__init__(f"no SPC rule {rule!r}; the rules are {', '.join(RULES)}")
        self.rule = rule


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _zone_side(value: float, centre: float, sigma: float, k: float) -> int:
    """+1 above centre + k sigma, -1 below centre - k sigma, 0 in between."""
    return _sign(value - centre) if abs(value - centre) > k * sigma else 0


def _run_ends(keys: Iterable[int], length: int) -> list[int]:
    """Indices where the last ``length`` keys are equal and non-zero."""
    hits, run, previous = [], 0, 0
    for i, key in enumerate(keys):
        run = 0 if not key else run + 1 if key == previous else 1
        previous = key
        if run >= length:
            hits.append(i)
    return hits


def _steps(values: Sequence[float]) -> list[int]:
    """The direction of each point from the one before it (0 for the first)."""
    return [0] + [_sign(b - a) for a, b in zip(values, values[1:], strict=False)]


def _k_of_m_beyond(values: Sequence[float], centre: float, sigma: float, k: int, m: int,
                   zone: float) -> list[int]:
    sides = [_zone_side(v, centre, sigma, zone) for v in values]
    return [i for i, side in enumerate(sides)
            if side and sides[max(0, i - m + 1):i + 1].count(side) >= k]


def one_beyond_3_sigma(values: Sequence[float], centre: float, sigma: float) -> list[int]:
    return _run_ends((_zone_side(v, centre, sigma, 3) for v in values), 1)


def nine_on_one_side(values: Sequence[float], centre: float, sigma: float) -> list[int]:
    return _run_ends((_sign(v - centre) for v in values), 9)


def eight_on_one_side(values: Sequence[float], centre: float, sigma: float) -> list[int]:
    return _run_ends((_sign(v - centre) for v in values), 8)


def six_trending(values: Sequence[float], centre: float, sigma: float) -> list[int]:
    """Six points in a row make five steps in the same direction."""
    return _run_ends(_steps(values), 5)


def fourteen_alternating(values: Sequence[float], centre: float, sigma: float) -> list[int]:
    """Fourteen points make thirteen alternating steps; flipping every other step's sign
    turns the alternation into a run of equal keys."""
    return _run_ends((s if i % 2 else -s for i, s in enumerate(_steps(values))), 13)


def two_of_three_beyond_2_sigma(values: Sequence[float], centre: float,
                                sigma: float) -> list[int]:
    return _k_of_m_beyond(values, centre, sigma, k=2, m=3, zone=2)


def four_of_five_beyond_1_sigma(values: Sequence[float], centre: float,
                                sigma: float) -> list[int]:
    return _k_of_m_beyond(values, centre, sigma, k=4, m=5, zone=1)


def fifteen_within_1_sigma(values: Sequence[float], centre: float, sigma: float) -> list[int]:
    return _run_ends((int(abs(v - centre) <= sigma) for v in values), 15)


def eight_beyond_1_sigma(values: Sequence[float], centre: float, sigma: float) -> list[int]:
    """Eight in a row more than 1 sigma from the centre, on either side (they may mix)."""
    return _run_ends((int(abs(v - centre) > sigma) for v in values), 8)


@dataclass(frozen=True)
class Rule:
    """A named test; ``span`` is how many points its pattern covers, ending at the point
    that completes it (what a chart must keep to evaluate it on the next point)."""

    id: str
    description: str
    span: int
    test: Test

    def violations(self, values: Sequence[float], centre: float, sigma: float) -> list[int]:
        return self.test(values, centre, sigma)


_ALL = (
    Rule("nelson-1", "one point more than 3 sigma from the centre line", 1,
         one_beyond_3_sigma),
    Rule("nelson-2", "nine points in a row on the same side of the centre line", 9,
         nine_on_one_side),
    Rule("nelson-3", "six points in a row steadily increasing or decreasing", 6, six_trending),
    Rule("nelson-4", "fourteen points in a row alternating up and down", 14,
         fourteen_alternating),
    Rule("nelson-5", "two out of three points more than 2 sigma from the centre line, "
         "on the same side", 3, two_of_three_beyond_2_sigma),
    Rule("nelson-6", "four out of five points more than 1 sigma from the centre line, "
         "on the same side", 5, four_of_five_beyond_1_sigma),
    Rule("nelson-7", "fifteen points in a row within 1 sigma of the centre line", 15,
         fifteen_within_1_sigma),
    Rule("nelson-8", "eight points in a row more than 1 sigma from the centre line, "
         "on either side", 8, eight_beyond_1_sigma),
    Rule("we-1", "one point beyond the 3 sigma control limits", 1, one_beyond_3_sigma),
    Rule("we-2", "two out of three points beyond 2 sigma, on the same side", 3,
         two_of_three_beyond_2_sigma),
    Rule("we-3", "four out of five points beyond 1 sigma, on the same side", 5,
         four_of_five_beyond_1_sigma),
    Rule("we-4", "eight points in a row on the same side of the centre line", 8,
         eight_on_one_side),
)
RULES: dict[str, Rule] = {rule.id: rule for rule in _ALL}
NELSON_RULES = tuple(r.id for r in _ALL if r.id.startswith("nelson-"))
WESTERN_ELECTRIC_RULES = tuple(r.id for r in _ALL if r.id.startswith("we-"))


def rules_named(ids: Iterable[str]) -> tuple[Rule, ...]:
    """The rules with these ids, in the order given; an unknown id raises UnknownRule."""
    try:
        return tuple(RULES[i] for i in ids)
    except KeyError as e:
        raise UnknownRule(str(e.args[0])) from None


def violations(rules: Iterable[Rule], values: Sequence[float], centre: float, sigma: float,
               since: int = 0) -> list[tuple[int, Rule]]:
    """Every (completing index, rule) at or after ``since``, by index then by rule order."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise InvalidValue(f"SPC rules need a positive sigma, not {sigma}")
    hits = [(i, n, rule) for n, rule in enumerate(rules)
            for i in rule.violations(values, centre, sigma) if i >= since]
    return [(i, rule) for i, _, rule in sorted(hits, key=lambda hit: hit[:2])]
