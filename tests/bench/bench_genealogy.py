"""Genealogy trace on PostgreSQL: a forward trace from one lot through a genealogy ten
levels deep that reaches every lot (100,000 at scale 1.0: 10,000 a level, each made from
two lots of the level above; the first level from the one root), with depths and
quantities, as `qrec trace lot:X --forward` walks it (projections.genealogy.trace: a query
a level, in chunks). Plain alternative on the same tables, in the same run: one recursive
SQL query (WITH RECURSIVE) returning the same links. The tables are the genealogy view's
own, filled with COPY (recording the genealogy is not what is timed here).
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from projections.base import ViewBase, create_views_engine
from projections.genealogy import VIEW, trace
from tests.bench.common import bench_line
from tests.conftest import PG_URL, drop_pg_schema

LEVELS = 10
ROUNDS = 3
T0 = datetime(2026, 11, 1, tzinfo=UTC)
RECURSIVE = text("""
    WITH RECURSIVE down(via, lot, quantity, depth) AS (
        SELECT parent_lot, child_lot, quantity, 1 FROM lot_genealogy WHERE parent_lot = :root
      UNION
        SELECT g.parent_lot, g.child_lot, g.quantity, d.depth + 1
        FROM lot_genealogy g JOIN down d ON g.parent_lot = d.lot
    )
    SELECT depth, lot, via, quantity FROM down""")


def run(scale: float) -> None:
    per_level = max(10, int(10_000 * scale))
    schema = f"qrec_bench_genealogy_{uuid.uuid4().hex[:8]}"
    url = "postgresql+psycopg" + PG_URL.removeprefix("postgresql")
    with create_views_engine(url, "public").begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_views_engine(url, schema)
    try:
        lots, links = fill(engine, per_level)
        print(f"genealogy: {lots:,} lots, {links:,} links, {LEVELS} levels below the root",
              flush=True)
        ours, plain = [], []
        for _ in range(ROUNDS):  # alternate, so neither side has the warmer cache
            ours.append(timed(lambda: len(traced(engine))))
            plain.append(timed(lambda: len(recursive(engine))))
        check_same(engine, lots - 1)
        report(lots - 1, ours, plain)
    finally:
        engine.dispose()
        drop_pg_schema(PG_URL, schema)


def name(level: int, k: int) -> str:
    return f"G{level:02d}-{k:06d}"


def links(per_level: int) -> Iterator[tuple[str, str, float]]:
    """(child, parent, quantity): level 1 from the root, then each lot from 2 lots above."""
    rng = random.Random(5)
    for k in range(per_level):
        yield name(1, k), name(0, 0), 10.0
    for level in range(2, LEVELS + 1):
        for k in range(per_level):
            for parent in rng.sample(range(per_level), 2):
                yield name(level, k), name(level - 1, parent), float(rng.randint(1, 50))


def fill(engine: Engine, per_level: int) -> tuple[int, int]:
    with engine.begin() as conn:
        ViewBase.metadata.create_all(conn, tables=list(VIEW.tables))
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy("COPY genealogy_lots (lot_id, lot, product, quantity, unit, "
                             "position) FROM STDIN") as copy:
                names = [name(0, 0)] + [name(level, k) for level in range(1, LEVELS + 1)
                                        for k in range(per_level)]
                for position, lot in enumerate(names):
                    copy.write_row((str(uuid.uuid4()), lot, "P-7", 100.0, "pcs", position))
            count = 0
            with cursor.copy("COPY lot_genealogy (child_lot, parent_lot, quantity, "
                             "recorded_at, position) FROM STDIN") as copy:
                for count, (child, parent, quantity) in enumerate(links(per_level), 1):
                    copy.write_row((child, parent, quantity, T0, count))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE lot_genealogy"))
        conn.execute(text("ANALYZE genealogy_lots"))
    return len(names), count


def traced(engine: Engine) -> list[tuple[int, str, str, float | None]]:
    with engine.connect() as conn:
        return [(s.depth, s.lot, s.via, s.quantity) for s in trace(conn, name(0, 0))]


def recursive(engine: Engine) -> list[tuple[int, str, str, float | None]]:
    with engine.connect() as conn:
        rows = conn.execute(RECURSIVE, {"root": name(0, 0)})
        return [(depth, lot, via, quantity) for depth, lot, via, quantity in rows]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def check_same(engine: Engine, below: int) -> None:
    """Both walks return the same links at the same depths, reaching every lot."""
    ours, plain = sorted(traced(engine)), sorted(recursive(engine))
    assert ours == plain, (len(ours), len(plain))
    assert len({lot for _, lot, _, _ in ours}) == below
    assert max(depth for depth, _, _, _ in ours) == LEVELS


def report(lots: int, ours: list[float], plain: list[float]) -> None:
    for who, samples in (("qrec (a query a level)", ours), ("WITH RECURSIVE", plain)):
        print(f"trace-genealogy: {who:24s} {lots:,} lots in "
              f"{statistics.median(samples) * 1000:.0f} ms (median of {len(samples)})",
              flush=True)
    bench_line("trace-genealogy", lots / statistics.median(ours), "lots/s",
               lots / statistics.median(plain))
