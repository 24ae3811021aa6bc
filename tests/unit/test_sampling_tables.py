"""ISO 2859-1 tables checked against the published text (ISO 2859-1's tables are those of
MIL-STD-105E, US DoD 1989, public domain, and of ANSI/ASQ Z1.4). Where each checked value
comes from:

[T1]  Table I, sample size code letters: "ANSI/ASQC Z1.4/MIL-STD-105E/BS 6001/DIN 40080/
      ISO 2859" AQL chart, Table I (zh.scribd.com/document/339359187/AQL-Sampling-Chart);
      the same rows at qualitycontrolpartners.com/aql-tables ("Source: ISO 2859-1") and
      www.wisetool.com/sampling.htm.
[2A]  Table II-A, normal: MIL-STD-105E page 19 of 74, the Ac/Re pairs of each row in order
      (www.scribd.com/document/563507790/Tablas, which prints "44 65" for 44 45);
      and where each plan and arrow sits, AQL 0.65 to 15, rows A-Q: "TABLE 1-A ... developed
      from MIL-STD-105E using TABLE I and TABLE II-A" (www.nibs.org/FMOC/DPW_AC/AC-TABLE.ASC,
      rejection numbers and arrows); AQL 0.065 to 6.5, rows A-L: qualitycontrolpartners.com.
[2B]  Table II-B, tightened: the same nibs.org file, "TABLE 1-B ... Single Tightened", AQL
      0.65 to 15, rows A-L.
[2C]  Table II-C, reduced. No copy of the printed page could be retrieved: the copies of
      105E found (studylib.net/doc/26308233 "MIL STD 105E legible copy", the scribd "Tablas"
      above, pdfcoffee.com "Tabel MIL-STD-105E") could be read only as far as their first
      pages. Checked instead against the transcription of 105E in the R package AQLSchemes
      1.7-2 (J. S. Lawson, 2023), file R/AAZ14Single.R, the matrices ANSIASQSingleReduced{ss,
      ac,re}; its DESCRIPTION names archive.org/details/MIL-STD-105E_1 as the source. It gives
      each cell's plan after the arrows (n Ac Re), not the arrows, and its normal and
      tightened matrices reproduce [2A] cell for cell (all 416) and [2B] but for the row S
      this module does not carry. Independently: the AQL Inspector's Rule manual, ANSI version
      (www.aqlinspectorsrule.com: "Example 3 - Differences between ANSI and ISO versions",
      "AQL Inspector's Rule use for AQLs below 0.065", and manual/notes.html note 1).
      See domain/sampling_tables.py for why 105E's reduced table is the one used.
"""

from __future__ import annotations

import pytest

from domain.records import InvalidValue
from domain.sampling_tables import (
    AQLS,
    LETTERS,
    MASTER_TABLES,
    NORMAL,
    REDUCED,
    TIGHTENED,
    Arrow,
    UnknownAql,
    UnknownInspectionLevel,
    code_letter,
    plan_for_lot,
    single_plan,
    tighter_acceptance,
)

# [T1], as printed: lot size band, then S-1 S-2 S-3 S-4 I II III.
TABLE_I = """
2 8 A A A A A A B
9 15 A A A A A B C
16 25 A A B B B C D
26 50 A B B C C D E
51 90 B B C C C E F
91 150 B B C D D F G
151 280 B C D E E G H
281 500 B C D E F H J
501 1200 C C E F G J K
1201 3200 C D E G H K L
3201 10000 C D F G J L M
10001 35000 C D F H K M N
35001 150000 D E G J L N P
150001 500000 D E G J M P Q
500001 - D E H K N Q R
"""
LEVEL_COLUMNS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")


def test_every_cell_of_table_i_gives_its_code_letter_at_both_ends_of_its_lot_band() -> None:
    for line in TABLE_I.strip().splitlines():
        low, high, *letters = line.split()
        ends = [int(low)] + ([int(high)] if high != "-" else [10_000_000])
        for level, letter in zip(LEVEL_COLUMNS, letters, strict=True):
            for size in ends:
                assert code_letter(size, level) == letter, (size, level)


def test_a_lot_size_or_level_outside_table_i_is_refused() -> None:
    with pytest.raises(UnknownInspectionLevel, match="S-1, S-2, S-3, S-4, I, II, III"):
        code_letter(100, "IV")
    with pytest.raises(InvalidValue, match="Table I starts at 2"):
        code_letter(1, "II")


# [2A] Ac/Re pairs of each row of Table II-A, left to right, as printed.
NORMAL_ROWS = {
    "A": "0 1 1 2 2 3 3 4 5 6 7 8 10 11 14 15 21 22 30 31",
    **{letter: "0 1 1 2 2 3 3 4 5 6 7 8 10 11 14 15 21 22 30 31 44 45" for letter in "BCDE"},
    **{letter: "0 1 1 2 2 3 3 4 5 6 7 8 10 11 14 15 21 22" for letter in "FGHJKLMNPQ"},
    "R": "1 2 2 3 3 4 5 6 7 8 10 11 14 15 21 22",
}
NORMAL_SAMPLE_SIZES = "2 3 5 8 13 20 32 50 80 125 200 315 500 800 1250 2000"


def numeric_cells(severity: str, letter: str) -> list[int]:
    table = MASTER_TABLES[severity]
    cells = [table.cell(letter, column) for column in range(len(AQLS))]
    return [n for cell in cells if not isinstance(cell, Arrow) for n in cell]


def test_each_row_of_table_ii_a_holds_the_printed_plans_in_order() -> None:
    for letter, printed in NORMAL_ROWS.items():
        assert numeric_cells(NORMAL, letter) == [int(n) for n in printed.split()], letter
    assert list(MASTER_TABLES[NORMAL].sample_sizes) == \
        [int(n) for n in NORMAL_SAMPLE_SIZES.split()]


# nibs.org's rendering, AQL 0.65 1.0 1.5 2.5 4.0 6.5 10 15, one row a letter: a number is
# the rejection number of the plan there; \/ and /\ are arrow heads, || an arrow's shaft.
NIBS_NORMAL = """
A || || || || \\/ 1 /\\ \\/
B || || || \\/ 1 /\\ \\/ 2
C || || \\/ 1 /\\ \\/ 2 3
D || \\/ 1 /\\ \\/ 2 3 4
E \\/ 1 /\\ \\/ 2 3 4 6
F 1 /\\ \\/ 2 3 4 6 8
G /\\ \\/ 2 3 4 6 8 11
H \\/ 2 3 4 6 8 11 15
J 2 3 4 6 8 11 15 22
K 3 4 6 8 11 15 22 /\\
L 4 6 8 11 15 22 /\\ ||
M 6 8 11 15 22 /\\ || ||
N 8 11 15 22 /\\ || || ||
P 11 15 22 /\\ || || || ||
Q 15 22 /\\ || || || || ||
"""
NIBS_TIGHTENED = """
A || || || || || \\/ || ||
B || || || || \\/ 1 || \\/
C || || || \\/ 1 || \\/ 2
D || || \\/ 1 || \\/ 2 3
E || \\/ 1 || \\/ 2 3 4
F \\/ 1 || \\/ 2 3 4 6
G 1 || \\/ 2 3 4 6 9
H || \\/ 2 3 4 6 9 13
J \\/ 2 3 4 6 9 13 19
K 2 3 4 6 9 13 19 /\\
"""
NIBS_COLUMNS = [AQLS.index(a) for a in (0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10.0, 15.0)]


def printed_cells(text: str) -> dict[str, list[str]]:
    """Each arrow shaft read as the direction of its head, further down or up the column."""
    rows = {line.split()[0]: line.split()[1:] for line in text.strip().splitlines()}
    letters = list(rows)
    for column in range(len(NIBS_COLUMNS)):
        for i, letter in enumerate(letters):
            if rows[letter][column] == "||":
                below = [rows[x][column] for x in letters[i + 1:]]
                heads = [c for c in below if c != "||"]
                rows[letter][column] = "v" if heads and heads[0] == "\\/" else "^"
    return {letter: [{"\\/": "v", "/\\": "^"}.get(c, c) for c in cells]
            for letter, cells in rows.items()}


def our_cells(severity: str, letter: str) -> list[str]:
    table = MASTER_TABLES[severity]
    cells = [table.cell(letter, column) for column in NIBS_COLUMNS]
    return [("v" if c is Arrow.DOWN else "^") if isinstance(c, Arrow) else str(c[1])
            for c in cells]


@pytest.mark.parametrize(("severity", "printed"), [(NORMAL, NIBS_NORMAL),
                                                   (TIGHTENED, NIBS_TIGHTENED)])
def test_plans_and_arrows_sit_where_the_printed_tables_put_them(severity: str,
                                                                printed: str) -> None:
    for letter, cells in printed_cells(printed).items():
        assert our_cells(severity, letter) == cells, (severity, letter)


# [2C] reduced sample sizes and the plans of one row, with the gap between Ac and Re.
REDUCED_SAMPLE_SIZES = "2 2 2 3 5 8 13 20 32 50 80 125 200 315 500 800"

# [2C] the plan each cell leads to, as n Ac Re, at eight AQLs: down arrows to the lead plans
# of rows below, up arrows, the plans along the diagonals, the ends of the short rows, and
# AQL 1000, where every row from C down leads up to A and B's 30/31.
REDUCED_AQLS = (0.015, 0.065, 0.25, 1.0, 4.0, 15.0, 100.0, 1000.0)
REDUCED_CELLS = """
A 315 0 1    80 0 1     20 0 1     5 0 1      2 0 1      2 0 2      2 5 6      2 30 31
B 315 0 1    80 0 1     20 0 1     5 0 1      2 0 1      2 0 2      2 5 6      2 30 31
C 315 0 1    80 0 1     20 0 1     5 0 1      2 0 1      2 1 3      2 5 8      2 30 31
D 315 0 1    80 0 1     20 0 1     5 0 1      5 0 2      3 1 4      3 7 10     2 30 31
E 315 0 1    80 0 1     20 0 1     5 0 1      5 0 2      5 2 5      5 10 13    2 30 31
F 315 0 1    80 0 1     20 0 1     5 0 1      8 1 3      8 3 6      5 10 13    2 30 31
G 315 0 1    80 0 1     20 0 1     20 0 2     13 1 4     13 5 8     5 10 13    2 30 31
H 315 0 1    80 0 1     20 0 1     20 0 2     20 2 5     20 7 10    5 10 13    2 30 31
J 315 0 1    80 0 1     20 0 1     32 1 3     32 3 6     32 10 13   5 10 13    2 30 31
K 315 0 1    80 0 1     80 0 2     50 1 4     50 5 8     32 10 13   5 10 13    2 30 31
L 315 0 1    80 0 1     80 0 2     80 2 5     80 7 10    32 10 13   5 10 13    2 30 31
M 315 0 1    80 0 1     125 1 3    125 3 6    125 10 13  32 10 13   5 10 13    2 30 31
N 315 0 1    315 0 2    200 1 4    200 5 8    125 10 13  32 10 13   5 10 13    2 30 31
P 315 0 1    315 0 2    315 2 5    315 7 10   125 10 13  32 10 13   5 10 13    2 30 31
Q 315 0 1    500 1 3    500 3 6    500 10 13  125 10 13  32 10 13   5 10 13    2 30 31
R 315 0 1    800 1 4    800 5 8    500 10 13  125 10 13  32 10 13   5 10 13    2 30 31
"""

# [2C] rows A and B (n 2 throughout), Ac Re from AQL 6.5 to 1000: A has II-A's row A
# plans, no gap; B has 0/2 1/3 2/4 3/5, then II-A's row A plans.
REDUCED_TOP_ROWS = """
A 0 1  0 2  0 2  1 2  2 3  3 4  5 6  7 8  10 11  14 15  21 22  30 31
B 0 1  0 2  0 2  1 3  2 4  3 5  5 6  7 8  10 11  14 15  21 22  30 31
"""


def test_reduced_inspection_has_smaller_samples_and_a_gap_between_ac_and_re() -> None:
    assert list(MASTER_TABLES[REDUCED].sample_sizes) == \
        [int(n) for n in REDUCED_SAMPLE_SIZES.split()]
    assert numeric_cells(REDUCED, "F") == [0, 1, 0, 2, 1, 3, 1, 4, 2, 5, 3, 6, 5, 8, 7, 10,
                                           10, 13]
    # the reduced diagonals are the normal ones: the same cells hold plans and arrows
    for letter in LETTERS:
        for column in range(len(AQLS)):
            normal = MASTER_TABLES[NORMAL].cell(letter, column)
            reduced = MASTER_TABLES[REDUCED].cell(letter, column)
            assert isinstance(normal, Arrow) == isinstance(reduced, Arrow), (letter, column)


def test_every_row_of_table_ii_c_leads_to_the_transcribed_plans() -> None:
    for line in REDUCED_CELLS.strip().splitlines():
        letter, *numbers = line.split()
        printed = [tuple(int(n) for n in numbers[i:i + 3]) for i in range(0, len(numbers), 3)]
        for aql, expected in zip(REDUCED_AQLS, printed, strict=True):
            plan = single_plan(letter, aql, REDUCED)
            assert (plan.sample_size, plan.acceptance, plan.rejection) == expected, (letter, aql)


def test_rows_a_and_b_of_table_ii_c_have_plans_of_their_own() -> None:
    aqls = AQLS[AQLS.index(6.5):]
    for line in REDUCED_TOP_ROWS.strip().splitlines():
        letter, *numbers = line.split()
        printed = [(int(numbers[i]), int(numbers[i + 1])) for i in range(0, len(numbers), 2)]
        plans = [single_plan(letter, aql, REDUCED) for aql in aqls]
        assert [(p.acceptance, p.rejection) for p in plans] == printed, letter
        assert {p.sample_size for p in plans} == {2}, letter


def test_the_aql_inspectors_rule_gives_the_same_reduced_plans() -> None:
    # Example 3, ANSI version: lot 125, level III, AQL 1.0 reduced: G, an arrow to H, n 20, 0 2
    plan = plan_for_lot(125, "III", 1.0, REDUCED)
    assert (plan.lot_letter, plan.letter, plan.sample_size, plan.acceptance,
            plan.rejection) == ("G", "H", 20, 0, 2)
    # below 0.065: reduced, AQL 0.015, code letter R: move to P, n 315, 0 1
    plan = single_plan("R", 0.015, REDUCED)
    assert (plan.letter, plan.sample_size, plan.acceptance, plan.rejection) == ("P", 315, 0, 1)
    # note 1: AQL 10, code letter A: normal and reduced use C, tightened D
    assert [single_plan("A", 10.0, severity).letter
            for severity in (NORMAL, REDUCED, TIGHTENED)] == ["C", "C", "D"]


# -- lookups, following the arrows -------------------------------------------------------

@pytest.mark.parametrize(("aql", "expected"), [
    (0.10, ("K", 125, 0, 1)),  # J/0.10 is a down arrow: K's 0/1 [2A]
    (0.15, ("J", 80, 0, 1)),   # J's own 0/1 [2A]
    (0.25, ("H", 50, 0, 1)),   # J/0.25 is an up arrow: H's 0/1 [2A]
    (0.40, ("K", 125, 1, 2)),  # J/0.40 is a down arrow: K's 1/2 [2A]
    (0.65, ("J", 80, 1, 2)),
    (2.5, ("J", 80, 5, 6)),
    (10.0, ("J", 80, 14, 15)),
])
def test_a_lot_of_1000_at_level_ii_on_normal_inspection_gets_the_printed_plan(
        aql: float, expected: tuple[str, int, int, int]) -> None:
    plan = plan_for_lot(1000, "II", aql, NORMAL)
    assert plan.lot_letter == "J"
    assert (plan.letter, plan.sample_size, plan.acceptance, plan.rejection) == expected


def test_tightened_inspection_of_the_same_lot_follows_table_ii_b() -> None:
    # J tightened [2B]: 1.0 is 1 2, 1.5 is 2 3; 0.65 is a down arrow to K's 1 2
    tightened = {aql: plan_for_lot(1000, "II", aql, TIGHTENED) for aql in (0.65, 1.0, 1.5)}
    assert [(p.letter, p.sample_size, p.acceptance, p.rejection)
            for p in tightened.values()] == [("K", 125, 1, 2), ("J", 80, 1, 2),
                                             ("J", 80, 2, 3)]
    # J/0.25, an up arrow to H (n 50) on normal inspection, is J's own 0 1 on tightened;
    # J/0.15 (J's own 0 1 on normal) is a down arrow to K's 0 1
    own, down = (plan_for_lot(1000, "II", aql, TIGHTENED) for aql in (0.25, 0.15))
    assert (own.letter, own.sample_size, own.acceptance) == ("J", 80, 0)
    assert (down.letter, down.sample_size, down.acceptance) == ("K", 125, 0)


def test_reduced_inspection_of_the_same_lot_takes_the_smaller_sample_and_the_gap() -> None:
    # normal J/1.0 is 2 3 (n 80); reduced, the same cell is 1 3 with n 32 [2C]
    plan = plan_for_lot(1000, "II", 1.0, REDUCED)
    assert (plan.letter, plan.sample_size, plan.acceptance, plan.rejection) == ("J", 32, 1, 3)


def test_an_arrow_that_leads_off_the_table_takes_the_first_plan_the_other_way() -> None:
    # Table II-A prints an up arrow at A, AQL 10, with nothing above it
    plan = single_plan("A", 10.0, NORMAL)
    assert (plan.letter, plan.sample_size, plan.acceptance, plan.rejection) == ("C", 5, 1, 2)
    # row R's down arrow at 0.015 has no row below
    assert single_plan("R", 0.015, NORMAL).letter == "P"


def test_a_sample_as_large_as_the_lot_is_the_whole_lot() -> None:
    plan = plan_for_lot(6, "II", 0.65, NORMAL)  # A/0.65 down to F's 0/1, n = 20
    assert (plan.letter, plan.sample_size, plan.acceptance) == ("F", 6, 0)


def test_the_ac_of_the_aql_one_step_tighter_is_that_of_the_same_code_letter() -> None:
    assert tighter_acceptance(single_plan("J", 2.5, NORMAL)) == 3  # J/1.5 is 3 4 [2A]
    assert tighter_acceptance(single_plan("J", 0.65, NORMAL)) is None  # J/0.40 is an arrow


def test_an_aql_that_is_not_a_preferred_value_is_refused() -> None:
    with pytest.raises(UnknownAql, match="preferred values"):
        single_plan("J", 2.0, NORMAL)
