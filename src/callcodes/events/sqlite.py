"""The SQLite event log: the ``events`` table of a shared callcodes file; and reading it back.

The embedded default: several threads and several processes write one file (WAL mode, one
transaction per commit), and reports query it with its indexes. The file may hold other
components' tables; the log owns ``events``, its indexes and the row ``component='events'`` of
``callcodes_schema``. Times are stored as microseconds since 1970 (``time_us``), so they sort
and compare as integers.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from .. import _sqlite
from .._errors import BatchError, InvalidValueError, RowError, SinkError
from .._timefmt import from_micros, micros
from ._commit import GroupCommitSink, sync_directory
from .event import Event, Row, excerpt
from .sinks import DurableHook, FlushPolicy

__all__ = [
    "EVENTS_TABLE_VERSION",
    "SqliteSink",
    "SqliteWriter",
    "event_from_sql",
    "purge_sqlite",
    "read_sqlite",
    "sql_row",
]

_COMPONENT: Final = "events"
EVENTS_V1: Final = (
    """CREATE TABLE events(
        id INTEGER PRIMARY KEY,
        time_us INTEGER NOT NULL,
        group_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dialed TEXT NOT NULL,
        call_type TEXT NOT NULL,
        mode TEXT,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        retry INTEGER NOT NULL,
        call_id TEXT,
        code TEXT,
        masked TEXT,
        description TEXT,
        schema INTEGER NOT NULL
    )""",
    "CREATE INDEX events_group_time ON events(group_id, time_us)",
    "CREATE INDEX events_group_user_time ON events(group_id, user_id, time_us)",
    "CREATE INDEX events_group_code_time ON events(group_id, code, time_us) WHERE code IS NOT NULL",
)
#: Version 2: how far each spooled writer's journal is stored (``SqliteWriter``), so that a
#: batch shipped twice goes in once.
EVENTS_V2: Final = (
    """CREATE TABLE events_delivered(
        node TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    )""",
)
#: ``_STEPS[i]`` takes the tables from version i to i + 1 (the first creates them).
_STEPS: Final = (EVENTS_V1, EVENTS_V2)
#: Version of the SQLite tables, recorded as component 'events' in ``callcodes_schema``.
EVENTS_TABLE_VERSION: Final = len(_STEPS)
COLUMNS: Final = (
    "time_us, group_id, user_id, dialed, call_type, mode, verdict, reason, attempt, retry, "
    "call_id, code, masked, description, schema"
)
INSERT: Final = f"INSERT INTO events({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608  # constants


def sql_row(row: Row) -> tuple[Any, ...]:
    """The stored columns of a row; enum members are str, so SQLite stores their values."""
    return (
        micros(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
    )


def event_from_sql(values: tuple[Any, ...]) -> Event:
    """Build an event from the 15 stored columns (in ``COLUMNS`` order); every field checked."""
    retry = values[9]
    if retry not in (0, 1):
        raise InvalidValueError("retry", retry, "a stored retry flag is 0 or 1")
    return Event(
        from_micros(values[0]),
        values[1],
        values[2],
        values[3],
        values[4],
        values[5],
        values[6],
        values[7],
        values[8],
        retry == 1,
        values[10],
        values[11],
        values[12],
        values[13],
        values[14],
    )


def checked_event(path: Path, row: tuple[Any, ...]) -> Event:
    """The event of a stored row (its id first); a row that is not one fails the read."""
    try:
        return event_from_sql(row[1:])
    except (InvalidValueError, TypeError, OverflowError) as exc:
        raise BatchError(
            f"read event log {path}", [RowError(int(row[0]), excerpt(repr(row[1:])), str(exc))]
        ) from None


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to an event log; errors say what to fix."""
    if not path.is_file():
        raise InvalidValueError("event log", str(path), "no such file: record events first")
    try:
        conn = _sqlite.connect_read_only(path)
    except sqlite3.Error as exc:
        raise SinkError(f"cannot read event log: {_sqlite.problem(path, exc)}") from exc
    try:
        _check_version(path, _sqlite.schema_version(conn, _COMPONENT))
    except sqlite3.Error as exc:
        conn.close()
        raise SinkError(f"cannot read event log: {_sqlite.problem(path, exc)}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _check_version(path: Path, version: int) -> None:
    """Refuse a file without the events tables, or with newer ones (``ConflictError``)."""
    if not version:
        raise InvalidValueError(
            "event log", str(path), "holds no events table: record events first"
        )
    _sqlite.refuse_newer(path, _COMPONENT, version, EVENTS_TABLE_VERSION)


def read_sqlite(path: str | os.PathLike[str], *, chunk: int = 10_000) -> Iterator[Event]:
    """Every event of an SQLite event log, in the order they were written.

    A stored row that is not a valid event raises :class:`~callcodes.BatchError` naming it.
    Runtime complexity: O(n), read *chunk* rows at a time.
    """
    target = Path(path)
    conn = open_reader(target)
    try:
        last = 0
        while True:
            rows = conn.execute(
                f"SELECT id, {COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
                (last, chunk),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield checked_event(target, row)
            last = rows[-1][0]
    finally:
        conn.close()


def _open_log(path: Path, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    """A writer's connection to the log at *path*, created or brought to this version."""
    existed = path.exists()
    try:
        conn = _sqlite.connect(path, busy_timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise SinkError(f"cannot open event log: {_sqlite.problem(path, exc)}") from exc
    try:
        conn.execute(f"PRAGMA synchronous={synchronous}")
        _sqlite.migrate(conn, path, _COMPONENT, _STEPS)
    except sqlite3.Error as exc:
        conn.close()
        raise SinkError(f"cannot open event log: {_sqlite.problem(path, exc)}") from exc
    except BaseException:
        conn.close()
        raise
    if not existed:
        sync_directory(path)
    return conn


class SqliteSink(GroupCommitSink[list[tuple[Any, ...]]]):
    """Events in the ``events`` table of an SQLite file (WAL mode): the embedded default.

    Safe for several threads and for several processes writing one file: each commit is one
    transaction, and processes wait for each other up to *busy_timeout* seconds. The file may
    hold other components' tables; this one owns ``events*`` and its row
    ``component='events'`` of ``callcodes_schema``. Open the sink after ``fork()``, not before.
    *on_durable* is called with the new watermark each time events are acknowledged.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        flush: FlushPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        busy_timeout: float = 5.0,
        on_durable: DurableHook | None = None,
    ) -> None:
        self._path = Path(path)
        super().__init__(f"event log {self._path}", flush or FlushPolicy(), clock, on_durable)
        # Every commit of a policy that syncs each one is synced by SQLite (FULL); the
        # others are synced by _sync, which syncs the write-ahead log (NORMAL).
        sync = "FULL" if self._policy._syncs_each_commit else "NORMAL"
        self._conn = _open_log(self._path, sync, busy_timeout)
        self._start_timer()

    @property
    def path(self) -> Path:
        """The SQLite file the events go to."""
        return self._path

    def _encode(self, rows: list[Row]) -> list[tuple[Any, ...]]:
        return [sql_row(row) for row in rows]

    def _commit(self, payloads: list[list[tuple[Any, ...]]], sync: bool) -> None:  # noqa: ARG002  # synchronous=FULL syncs when the policy asks
        conn = self._conn
        try:
            if len(payloads) == 1 and len(payloads[0]) == 1:
                conn.execute(INSERT, payloads[0][0])  # autocommit: one implicit transaction
            else:
                with _sqlite.transaction(conn):
                    for payload in payloads:
                        conn.executemany(INSERT, payload)
        except sqlite3.Error as exc:
            raise SinkError(
                f"cannot write to event log: {_sqlite.problem(self._path, exc)}; "
                "the events were not kept"
            ) from exc

    def _sync(self) -> None:
        """Sync the write-ahead log to the disk: every commit so far is then durable.

        With ``synchronous=NORMAL`` SQLite does not sync the WAL on commit; it syncs it before
        each checkpoint and syncs the database after, so commits are either in a synced
        database or in the WAL synced here.
        """
        try:
            fd = os.open(self._path.with_name(self._path.name + "-wal"), os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: every commit was checkpointed into the synced database
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _release(self) -> None:
        self._conn.close()


class SqliteWriter:
    """A journal's shipper writing to an SQLite log: it stores numbered rows, each once.

    The PostgreSQL log keys every row by its writer's *node* name and number; here the file
    keeps, per node, the number of the last row stored (``events_delivered``), updated in the
    same transaction as the rows. A batch sent again after a crash between storing it and
    noting it in the journal is then skipped, row by row. Each batch takes its turn with the
    file's other frequent writers (a Kamailio node's workers count failed entries there).
    Not thread-safe: one caller at a time.
    """

    def __init__(
        self, path: str | os.PathLike[str], node: str, *, busy_timeout: float = 5.0
    ) -> None:
        self.path = Path(path)
        self.node = node
        self._conn = _open_log(self.path, "FULL", busy_timeout)  # on the disk before noted
        try:
            self._turns = _sqlite.Turns(self.path)
        except OSError as exc:
            self._conn.close()
            raise SinkError(f"cannot open event log {self.path}: {exc}") from exc

    def last_stored(self) -> int:
        """The node's highest stored number (0: none)."""
        try:
            return self._stored(self._conn)
        except sqlite3.Error as exc:
            raise SinkError(f"cannot read event log: {_sqlite.problem(self.path, exc)}") from exc

    def _stored(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "SELECT seq FROM events_delivered WHERE node = ?", (self.node,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def store(self, rows: list[tuple[Any, ...]], first: int) -> None:
        """Store *rows* (``sql_row`` values) numbered from *first*; each number at most once."""
        try:
            with self._turns, _sqlite.transaction(self._conn) as conn:
                skip = max(0, self._stored(conn) - first + 1)
                if skip >= len(rows):
                    return
                conn.executemany(INSERT, rows[skip:])
                conn.execute(
                    "INSERT INTO events_delivered (node, seq) VALUES (?, ?) "
                    "ON CONFLICT (node) DO UPDATE SET seq = excluded.seq",
                    (self.node, first + len(rows) - 1),
                )
        except sqlite3.Error as exc:
            raise SinkError(
                f"cannot write to event log: {_sqlite.problem(self.path, exc)}; "
                "the events were not kept"
            ) from exc

    def close(self) -> None:
        """Close the file and its lock file."""
        try:
            self._conn.close()
        finally:
            self._turns.close()


def purge_sqlite(path: str | os.PathLike[str], before: datetime) -> int:
    """Remove every event older than *before* from an SQLite event log; the number removed.

    One write transaction; writers wait for it (up to their busy timeout) and go on.
    """
    target = Path(path)
    open_reader(target).close()  # the same checks as a read: the file and its version
    try:
        conn = _sqlite.connect(target, busy_timeout=30.0)
        try:
            with _sqlite.transaction(conn):
                done = conn.execute("DELETE FROM events WHERE time_us < ?", (micros(before),))
            return done.rowcount
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SinkError(f"cannot purge event log: {_sqlite.problem(target, exc)}") from exc
