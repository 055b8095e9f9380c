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
#: ``_STEPS[i]`` takes the tables from version i to i + 1 (the first creates them).
_STEPS: Final = (EVENTS_V1,)
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
        existed = self._path.exists()
        try:
            conn = _sqlite.connect(self._path, busy_timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise SinkError(f"cannot open event log: {_sqlite.problem(self._path, exc)}") from exc
        try:
            # Every commit of a policy that syncs each one is synced by SQLite (FULL); the
            # others are synced by _sync, which syncs the write-ahead log (NORMAL).
            sync = "FULL" if self._policy._syncs_each_commit else "NORMAL"
            conn.execute(f"PRAGMA synchronous={sync}")
            _sqlite.migrate(conn, self._path, _COMPONENT, _STEPS)
        except sqlite3.Error as exc:
            conn.close()
            raise SinkError(f"cannot open event log: {_sqlite.problem(self._path, exc)}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        if not existed:
            sync_directory(self._path)
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
