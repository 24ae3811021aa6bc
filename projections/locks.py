"""Only one runner per view at a time: a lock the operating system or the database lets go
of the moment its holder dies, so a killed runner is replaced at once, not after a lease
runs out.

- PostgreSQL: a session advisory lock per view, held on one connection of the runner.
- SQLite: an exclusive ``flock`` on a file next to the views database, per view.

The lock saves work, it does not carry correctness: every page also moves the view's
position with a compare-and-set in the same transaction as its rows, so even two runners
that both believe they hold a view cannot apply an event twice.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text


class ViewLocks(Protocol):
    def try_acquire(self, view: str) -> bool: ...

    def release(self, view: str) -> None: ...

    def close(self) -> None: ...


def locks_for(engine: Engine) -> ViewLocks:
    if engine.dialect.name == "postgresql":
        return AdvisoryLocks(engine)
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValueError("views on SQLite need a database file to lock next to")
    return FileLocks(database)


class AdvisoryLocks:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        self.held: set[str] = set()

    def _key(self, conn: Connection, view: str) -> str:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        return f"qrec-view:{schema}:{view}"

    def _connection(self) -> Connection:
        if self.conn is None or self.conn.closed:
            self.conn = self.engine.connect()
        return self.conn

    def try_acquire(self, view: str) -> bool:
        if view in self.held:
            return True
        conn = self._connection()
        got = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"),
                           {"k": self._key(conn, view)}).scalar()
        conn.commit()
        if got:
            self.held.add(view)
        return bool(got)

    def release(self, view: str) -> None:
        if view in self.held and self.conn is not None:
            self.conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"),
                              {"k": self._key(self.conn, view)})
            self.conn.commit()
        self.held.discard(view)

    def close(self) -> None:
        if self.conn is not None:
            # The connection goes back to the pool, its session alive: let go explicitly.
            if not self.conn.closed and not self.conn.invalidated:
                self.conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self.conn.commit()
            self.conn.close()
        self.conn, self.held = None, set()


class FileLocks:
    def __init__(self, database: str) -> None:
        self.database = database
        self.files: dict[str, IO[bytes]] = {}

    def try_acquire(self, view: str) -> bool:
        if view in self.files:
            return True
        f = open(f"{self.database}.{view}.lock", "ab")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.truncate(0)
        f.write(str(os.getpid()).encode())
        f.flush()
        self.files[view] = f
        return True

    def release(self, view: str) -> None:
        f = self.files.pop(view, None)
        if f is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    def close(self) -> None:
        for view in list(self.files):
            self.release(view)
