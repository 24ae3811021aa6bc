"""What every view shares: a view is tables, handlers that dispatch on the event class, and
a position in the notification log committed in the same transaction as the rows.

Handlers do not talk to the database one row at a time: they read and change rows through
a ``Batch``, the unit of work of one page of events (about 1,000). The batch loads a row
once, keeps it for the rest of the page, and writes every new row with one executemany
insert and every changed one with one executemany update when the page ends, in the same
transaction that moves the view's position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Row = dict[str, Any]
Handler = Callable[["Batch", Any, int], None]
F = TypeVar("F", bound=Handler)


class ViewBase(DeclarativeBase):
    """The declarative base of every view table (the ledger keeps its own)."""

    type_annotation_map = {datetime: DateTime(timezone=True), int: BigInteger}


class ViewPosition(ViewBase):
    """How far each view has read the notification log, and which version of the view's
    code made its rows (a different version means a rebuild)."""

    __tablename__ = "view_positions"

    view: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int]
    version: Mapped[int]


POSITIONS: Table = ViewPosition.__table__  # type: ignore[assignment]


class View:
    """One read model: its tables and a handler per event class it reads."""

    def __init__(self, name: str, version: int, models: tuple[type[ViewBase], ...],
                 description: str) -> None:
        self.name, self.version, self.description = name, version, description
        self.tables: tuple[Table, ...] = tuple(m.__table__ for m in models)  # type: ignore[misc]
        self.handlers: dict[type, Handler] = {}
        self.every_event: Handler | None = None

    def handles(self, *event_classes: type) -> Callable[[F], F]:
        def register(handler: F) -> F:
            for cls in event_classes:
                self.handlers[cls] = handler
            return handler
        return register

    def handles_every_event(self, handler: F) -> F:
        self.every_event = handler
        return handler

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        handler = self.handlers.get(type(event), self.every_event)
        if handler is not None:
            handler(batch, event, position)

    def __repr__(self) -> str:
        return f"View({self.name!r}, v{self.version})"


_ABSENT: Row = {}


class Batch:
    """The rows one page of events reads and changes, written back together."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._rows: dict[Table, dict[tuple[Any, ...], Row]] = {}
        self._new: dict[Table, dict[tuple[Any, ...], Row]] = {}
        self._changed: dict[Table, dict[tuple[Any, ...], Row]] = {}

    def get(self, model: type[ViewBase], *key: Any) -> Row | None:
        """The row with this primary key (loaded once per page), or None."""
        table = _table(model)
        rows = self._rows.setdefault(table, {})
        row = rows.get(key)
        if row is None:
            row = self._load(table, key)
            rows[key] = row
        return None if row is _ABSENT else row

    def add(self, model: type[ViewBase], **values: Any) -> Row:
        """A new row; it is inserted when the page ends, with any later changes."""
        table = _table(model)
        row = {c.key: values.get(c.key) for c in table.columns}
        key = tuple(row[c.key] for c in table.primary_key.columns)
        self._rows.setdefault(table, {})[key] = row
        self._new.setdefault(table, {})[key] = row
        return row

    def changed(self, model: type[ViewBase], row: Row) -> None:
        """Mark a row got with ``get`` as changed."""
        table = _table(model)
        key = tuple(row[c.key] for c in table.primary_key.columns)
        if key not in self._new.get(table, {}):
            self._changed.setdefault(table, {})[key] = row

    def flush(self) -> None:
        copy = self.conn.dialect.name == "postgresql"
        for table, rows in self._new.items():
            if rows and copy:
                _copy_rows(self.conn, table, list(rows.values()))
            elif rows:
                self.conn.execute(insert(table), list(rows.values()))
        for table, rows in self._changed.items():
            if rows:
                self.conn.execute(_update_by_key(table), [_keyed(table, r) for r in
                                                          rows.values()])
        self._new.clear()
        self._changed.clear()

    def _load(self, table: Table, key: tuple[Any, ...]) -> Row:
        where = and_(*(c == v for c, v in zip(table.primary_key.columns, key, strict=True)))
        found = self.conn.execute(select(table).where(where)).mappings().first()
        return dict(found) if found is not None else _ABSENT


def _copy_rows(conn: Connection, table: Table, rows: list[Row]) -> None:
    """New rows into PostgreSQL with COPY, in the page's transaction: several times the
    speed of an executemany of INSERTs."""
    from psycopg import sql

    columns = [c.key for c in table.columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _table(model: type[ViewBase]) -> Table:
    return model.__table__  # type: ignore[return-value]


def _update_by_key(table: Table) -> Any:
    keys = table.primary_key.columns
    where = and_(*(c == bindparam(f"key_{c.key}") for c in keys))
    return update(table).where(where).values(
        {c.key: bindparam(c.key) for c in table.columns if c not in keys.values()})


def _keyed(table: Table, row: Row) -> Row:
    return {**row, **{f"key_{c.key}": row[c.key] for c in table.primary_key.columns}}


# -- the views database --------------------------------------------------------------------

def create_views_engine(url: str, schema: str = "public") -> Engine:
    """An engine for the views database: SQLite takes its write lock when a transaction
    begins (two runners serialize instead of deadlocking); PostgreSQL uses ``schema``."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=4, max_overflow=4, pool_pre_ping=True,
                         connect_args={"options": f"-c search_path={schema}"})


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def ddl_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction in which only one process at a time creates or drops view tables."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                         {"k": "qrec-views-ddl"})
        yield conn


def table_rows(conn: Connection, table: Table) -> list[tuple[Any, ...]]:
    """Every row of a table in primary-key order (to compare two builds of a view)."""
    order = list(table.primary_key.columns)
    return [tuple(r) for r in conn.execute(select(table).order_by(*order))]
