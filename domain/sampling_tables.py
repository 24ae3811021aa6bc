"""ISO 2859-1 single sampling by attributes: the sample size code letters (Table I) and the
master tables of single sampling plans for normal, tightened and reduced inspection
(Tables II-A, II-B, II-C), as domain data, and their lookups with the arrows.

ISO 2859-1 is not freely published; its tables are those of MIL-STD-105E (US DoD, 1989,
public domain) and ANSI/ASQ Z1.4, which are what this module follows. Each master table is a
set of diagonals: along a diagonal (one code letter down, one AQL step to the left) the plan
is the same, so a table is written here as the acceptance/rejection numbers along a row,
where the first plan sits, where the arrows are, and where a row stops (an up arrow beyond).
tests/unit/test_sampling_tables.py checks cells against published copies of the tables
(Table II-C against a transcription, see below).

Where an arrow leads off the table (the up arrow printed at A, AQL 10 of Table II-A; the
down arrows of row R at the smallest AQLs), there is no plan in its direction and the first
plan the other way is used. Table II-B's extra row S (sample size 3150) is not carried.

Reduced inspection follows MIL-STD-105E Table II-C, whose rejection numbers leave a gap
above the acceptance number (Ac 1, Re 4): a count in the gap accepts the lot but
reinstates normal inspection (105E 4.7.4 b and 4.10.1.4). ISO 2859-1:1999 closed that
gap (Re = Ac + 1); its reduced table could not be read in any copy found, a transcription of
105E's could, so 105E's is used. That check is less direct than II-A's and II-B's: no copy
of the printed II-C page could be retrieved, and the transcription (the test file names it
and what else confirms it) gives each cell's plan after the arrows (n, Ac, Re), not the
arrows themselves, so which cells print an arrow rather than the same plan is inferred
from the diagonals.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.records import InvalidValue

LETTERS = "ABCDEFGHJKLMNPQR"
LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")
# Table I: the upper end of each lot-size band; the last band (500,001 and over) is open.
LOT_BANDS = (8, 15, 25, 50, 90, 150, 280, 500, 1200, 3200, 10_000, 35_000, 150_000, 500_000)
# Table I, one letter per lot-size band, per inspection level.
CODE_LETTERS = {
    "S-1": "AAAABBBBCCCCDDD",
    "S-2": "AAABBBCCCDDDEEE",
    "S-3": "AABBCCDDEEFFGGH",
    "S-4": "AABCCDEEFGGHJJK",
    "I": "AABCCDEFGHJKLMN",
    "II": "ABCDEFGHJKLMNPQ",
    "III": "BCDEFGHJKLMNPQR",
}
AQLS = (0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0,
        6.5, 10.0, 15.0, 25.0, 40.0, 65.0, 100.0, 150.0, 250.0, 400.0, 650.0, 1000.0)
# Above 10 an AQL is in nonconformities per 100 units only (ISO 2859-1 5.3); a count of
# nonconforming units needs an AQL in percent nonconforming.
MAX_PERCENT_AQL = 10.0


NORMAL, TIGHTENED, REDUCED = "normal", "tightened", "reduced"
SEVERITIES = (NORMAL, TIGHTENED, REDUCED)


class Arrow(StrEnum):
    DOWN = "down"  # use the first sampling plan below the arrow
    UP = "up"  # use the first sampling plan above the arrow


Cell = tuple[int, int] | Arrow


@dataclass(frozen=True)
class MasterTable:
    """One master table: ``sample_sizes`` per code letter; along each row the cells are, from
    the AQL column ``first_column(letter)`` on: a lead plan (or an arrow), then ``gap``
    (arrows), then ``plans`` in order, ``long_rows`` letters may use all of them, the others
    stop after ``short_row_plans``; left of the lead cell an arrow points down, right of
    the last plan an arrow points up. A row in ``row_plans`` has plans of its own after the
    gap instead of ``plans``."""

    name: str
    sample_sizes: tuple[int, ...]
    lead: Cell
    gap: tuple[Arrow, ...]
    plans: tuple[tuple[int, int], ...]
    long_rows: str
    short_row_plans: int
    lead_column_of_a: int  # the AQL column of row A's lead cell
    exceptions: tuple[tuple[str, int, Cell], ...] = ()  # (letter, AQL column, printed cell)
    row_plans: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()  # a row's own plans

    def cell(self, letter: str, column: int) -> Cell:
        for exception_letter, exception_column, printed in self.exceptions:
            if (exception_letter, exception_column) == (letter, column):
                return printed
        offset = column - (self.lead_column_of_a - LETTERS.index(letter))
        if offset < 0:
            return Arrow.DOWN
        if offset == 0:
            return self.lead
        if offset <= len(self.gap):
            return self.gap[offset - 1]
        index = offset - len(self.gap) - 1
        plans = dict(self.row_plans).get(letter, self.plans)
        last = len(plans) if letter in self.long_rows else self.short_row_plans
        return plans[index] if index < last else Arrow.UP


NORMAL_SAMPLE_SIZES = (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000)

# Table II-A. Row A: 0/1 at AQL 6.5, an up arrow, a down arrow, then 1/2 at 25 ... 30/31 at
# 1000; rows A-E run on to 44/45, rows F-R stop at 21/22.
NORMAL_TABLE = MasterTable(
    "II-A", NORMAL_SAMPLE_SIZES, (0, 1), (Arrow.UP, Arrow.DOWN),
    ((1, 2), (2, 3), (3, 4), (5, 6), (7, 8), (10, 11), (14, 15), (21, 22), (30, 31), (44, 45)),
    long_rows="ABCDE", short_row_plans=8, lead_column_of_a=AQLS.index(6.5))

# Table II-B. Row B: 0/1 at 6.5, two cells of down arrow, then 1/2 at 40...; row A has no
# 0/1 plan: its cell at AQL 10 is the top of the down arrow to D's 1/2.
TIGHTENED_TABLE = MasterTable(
    "II-B", NORMAL_SAMPLE_SIZES, (0, 1), (Arrow.DOWN, Arrow.DOWN),
    ((1, 2), (2, 3), (3, 4), (5, 6), (8, 9), (12, 13), (18, 19), (27, 28), (41, 42)),
    long_rows="ABCDE", short_row_plans=7, lead_column_of_a=AQLS.index(10.0),
    exceptions=(("A", AQLS.index(10.0), Arrow.DOWN),))

# Table II-C (MIL-STD-105E). The same diagonals as II-A, smaller samples, and a gap
# between the acceptance and rejection numbers. Rows A and B (n 2, as is C) have plans of
# their own after the gap: A those of II-A's row A (n 2 there too), B 0/2 1/3 2/4 3/5 and
# then II-A's row A's; both run to 30/31 at AQL 1000, where every row below leads up.
REDUCED_TABLE = MasterTable(
    "II-C", (2, 2, 2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800), (0, 1),
    (Arrow.UP, Arrow.DOWN),
    ((0, 2), (1, 3), (1, 4), (2, 5), (3, 6), (5, 8), (7, 10), (10, 13), (14, 17), (21, 24)),
    long_rows="ABCDE", short_row_plans=8, lead_column_of_a=AQLS.index(6.5),
    row_plans=(
        ("A", ((1, 2), (2, 3), (3, 4), (5, 6), (7, 8), (10, 11), (14, 15), (21, 22), (30, 31))),
        ("B", ((0, 2), (1, 3), (2, 4), (3, 5), (5, 6), (7, 8), (10, 11), (14, 15), (21, 22),
               (30, 31))),
    ))

MASTER_TABLES = {NORMAL: NORMAL_TABLE, TIGHTENED: TIGHTENED_TABLE, REDUCED: REDUCED_TABLE}


@dataclass(frozen=True)
class SinglePlan:
    """A single sampling plan: inspect ``sample_size`` units; accept with ``acceptance`` or
    fewer nonconforming, reject with ``rejection`` or more (reduced inspection may leave a
    gap between them). ``letter`` is the code letter whose plan it is (after the arrows);
    ``lot_letter`` the one the lot size gave."""

    severity: str  # normal, tightened or reduced
    lot_letter: str
    letter: str
    aql: float
    sample_size: int
    acceptance: int
    rejection: int


class UnknownInspectionLevel(InvalidValue):
    def __init__(self, level: str) -> None:
        super().__init__(f"inspection level must be one of {', '.join(LEVELS)}, not {level!r}")


class UnknownAql(InvalidValue):
    def __init__(self, aql: float) -> None:
        super().__init__(f"AQL {aql} is not one of the preferred values of ISO 2859-1 "
                         f"({', '.join(f'{a:g}' for a in AQLS)})")


def code_letter(lot_size: int, level: str) -> str:
    """Table I: the sample size code letter for a lot size at an inspection level."""
    if level not in CODE_LETTERS:
        raise UnknownInspectionLevel(level)
    if lot_size < 2:
        raise InvalidValue(f"a lot of {lot_size} cannot be sampled: Table I starts at 2")
    band = next((i for i, upper in enumerate(LOT_BANDS) if lot_size <= upper), len(LOT_BANDS))
    return CODE_LETTERS[level][band]


def aql_column(aql: float) -> int:
    for column, preferred in enumerate(AQLS):
        if abs(aql - preferred) < 1e-9:
            return column
    raise UnknownAql(aql)


def single_plan(letter: str, aql: float, severity: str) -> SinglePlan:
    """The plan of the master table for a code letter and AQL, following the arrows: the
    sample size is the one of the letter the arrows lead to, not the lot's own.

    An arrow that leads off the table (the up arrow printed at A/10 in Table II-A, the
    down arrows below the lead cells of row R) has no plan in its direction: the first
    plan the other way is used."""
    if letter not in LETTERS:
        raise InvalidValue(f"no sample size code letter {letter!r}")
    if severity not in MASTER_TABLES:
        raise InvalidValue(f"inspection is {', '.join(SEVERITIES)}, not {severity!r}")
    table, column = MASTER_TABLES[severity], aql_column(aql)
    row = LETTERS.index(letter)
    cell = table.cell(letter, column)
    if isinstance(cell, Arrow):
        ahead = _follow(table, row, column, cell)
        if ahead is None:
            ahead = _follow(table, row, column, _other(cell))
        assert ahead is not None  # every column of every table holds a plan
        row = ahead
    found = table.cell(LETTERS[row], column)
    assert not isinstance(found, Arrow)
    acceptance, rejection = found
    return SinglePlan(severity, letter, LETTERS[row], AQLS[column],
                      table.sample_sizes[row], acceptance, rejection)


def _follow(table: MasterTable, row: int, column: int, arrow: Arrow) -> int | None:
    """The row of the first plan in the arrow's direction, if there is one."""
    step = 1 if arrow is Arrow.DOWN else -1
    row += step
    while 0 <= row < len(LETTERS):
        if not isinstance(table.cell(LETTERS[row], column), Arrow):
            return row
        row += step
    return None


def _other(arrow: Arrow) -> Arrow:
    return Arrow.UP if arrow is Arrow.DOWN else Arrow.DOWN


def tighter_acceptance(plan: SinglePlan) -> int | None:
    """The acceptance number of the same code letter at the AQL one step tighter (for the
    switching score of ISO 2859-1:1999 9.3.3.1), or None if that cell is an arrow."""
    column = aql_column(plan.aql)
    if column == 0:
        return None
    cell = MASTER_TABLES[plan.severity].cell(plan.letter, column - 1)
    return None if isinstance(cell, Arrow) else cell[0]


def plan_for_lot(lot_size: int, level: str, aql: float, severity: str) -> SinglePlan:
    """Table I then the master table; a sample as large as the lot is the whole lot (the
    footnote to the tables: 100 percent inspection)."""
    plan = single_plan(code_letter(lot_size, level), aql, severity)
    if plan.sample_size >= lot_size:
        return SinglePlan(plan.severity, plan.lot_letter, plan.letter, plan.aql, lot_size,
                          plan.acceptance, plan.rejection)
    return plan
