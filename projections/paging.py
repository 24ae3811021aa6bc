"""Reading a view a page at a time: rows in the order of a unique key, filtered by column
values and a time range, each page starting after the key of the last row of the page
before (keyset pagination: page 1,000 costs what page 1 costs, and rows added meanwhile
neither repeat nor vanish)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection, DateTime, Table, and_, or_, select


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    last_key: tuple[Any, ...] | None  # where the next page starts; None: this was the last


def read_page(conn: Connection, table: Table, key: Sequence[str], *,
              equal: Mapping[str, Any] | None = None, time_column: str | None = None,
              since: datetime | None = None, until: datetime | None = None,
              after: Sequence[Any] | None = None, limit: int = 100) -> Page:
    """Rows ordered by ``key`` (columns that together are unique), with ``equal`` column
    values, ``time_column`` in [since, until], after the key ``after``."""
    columns = [table.c[name] for name in key]
    query = select(table)
    for name, value in (equal or {}).items():
        query = query.where(table.c[name] == value)
    if time_column is not None and since is not None:
        query = query.where(table.c[time_column] >= since)
    if time_column is not None and until is not None:
        query = query.where(table.c[time_column] <= until)
    if after is not None:
        query = query.where(_after(columns, list(after)))
    found = conn.execute(query.order_by(*columns).limit(limit + 1)).mappings().all()
    rows = [_aware_times(table, dict(r)) for r in found[:limit]]
    more = len(found) > limit
    return Page(rows, tuple(rows[-1][name] for name in key) if more and rows else None)


def _after(columns: list[Column[Any]], values: list[Any]) -> Any:
    """(c1, c2, ...) > (v1, v2, ...), spelled out: SQLite and PostgreSQL alike."""
    ors = []
    for i, column in enumerate(columns):
        equal = [c == v for c, v in zip(columns[:i], values[:i], strict=True)]
        ors.append(and_(*equal, column > values[i]))
    return or_(*ors)


def _aware_times(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """SQLite gives back times without their zone; every time in a view is UTC."""
    out = dict(row)
    for column in table.columns:
        value = out.get(column.key)
        if isinstance(column.type, DateTime) and isinstance(value, datetime) \
                and value.tzinfo is None:
            out[column.key] = value.replace(tzinfo=UTC)
    return out
