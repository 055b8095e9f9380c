"""The PostgreSQL event log: one ``events`` table that every node writes, read back and purged.

For fleets: each node's sink writes its batches with ``COPY`` into a table partitioned by month
(so that retention drops whole partitions), and stamps each event with an idempotent key, the
writer's *node* name and its sequence number there. A batch sent twice (its commit's answer was
lost with the connection, or a spool delivered it again) is stored once. Sequence numbers go on
from the node's last stored one when a sink is opened, and a node name is held by one writer at
a time (a session advisory lock), so two writers never share a key. The sink keeps the promises
of the other durable sinks (write-through or deferred, the durable watermark), through the
group-commit engine: an event is acknowledged once its transaction committed.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from .. import _postgres
from .._errors import BatchError, ConflictError, InvalidValueError, RowError, SinkError
from .._timefmt import from_micros, micros
from ..core._validate import check_name
from ._commit import GroupCommitSink
from .event import Event, Row, excerpt
from .sinks import DurableHook, FlushPolicy
from .sqlite import COLUMNS, event_from_sql, sql_row

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "EVENTS_TABLE_VERSION",
    "PostgresSink",
    "PostgresWriter",
    "purge_postgres",
    "read_postgres",
]

_COMPONENT: Final = "events"
_EVENTS_V1: Final = (
    """CREATE TABLE events(
        time_us BIGINT NOT NULL,
        group_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dialed TEXT NOT NULL,
        call_type TEXT NOT NULL,
        mode TEXT,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        retry BOOLEAN NOT NULL,
        call_id TEXT,
        code TEXT,
        masked TEXT,
        description TEXT,
        schema INTEGER NOT NULL,
        node TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (node, seq, time_us)
    ) PARTITION BY RANGE (time_us)""",
    "CREATE INDEX events_group_time ON events(group_id, time_us)",
    "CREATE INDEX events_group_user_time ON events(group_id, user_id, time_us)",
    "CREATE INDEX events_group_code_time ON events(group_id, code, time_us) WHERE code IS NOT NULL",
)
_STEPS: Final = (_EVENTS_V1,)
#: Version of the PostgreSQL tables, recorded as component 'events' in ``callcodes_schema``.
EVENTS_TABLE_VERSION: Final = len(_STEPS)
_COPY: Final = f"COPY events ({COLUMNS}, node, seq) FROM STDIN"
#: Where a batch that may have been stored already goes first (see ``_store_again``).
_STAGING: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS events_again "
    "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
#: Batches this small go in by INSERT (keyed, so a resend stores nothing twice), larger by COPY.
_INSERT_AT_MOST: Final = 16
_ROW_MARKS: Final = f"({', '.join(['%s'] * 17)})"
#: The INSERT statement of each small batch size.
_INSERTS: Final = {
    size: f"INSERT INTO events ({COLUMNS}, node, seq) "  # noqa: S608  # constants
    f"VALUES {', '.join([_ROW_MARKS] * size)} ON CONFLICT DO NOTHING"
    for size in range(1, _INSERT_AT_MOST + 1)
}
_PARTITION_PREFIX: Final = "events_"
_MAX_NODE: Final = 128


def _partition(year: int, month: int) -> tuple[str, int, int]:
    """The name and time bounds (microseconds, upper exclusive) of one month's partition."""
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return f"{_PARTITION_PREFIX}{year:04d}{month:02d}", micros(start), micros(end)


def _month_of(name: str) -> tuple[int, int] | None:
    """(year, month) of a partition named by :func:`_partition`; None for another table."""
    digits = name.removeprefix(_PARTITION_PREFIX)
    if len(digits) != 6 or not digits.isascii() or not digits.isdecimal():
        return None
    return int(digits[:4]), int(digits[4:])


def _ensure_partitions(conn: psycopg.Connection[Any], months: set[tuple[int, int]]) -> None:
    """Create the partitions of *months* that do not exist yet; nodes take turns doing it."""
    with _postgres.transaction(conn, lock=_postgres.lock_key("callcodes events partitions")):
        for year, month in sorted(months):
            name, start, end = _partition(year, month)
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "  # constants and ints
                f"FOR VALUES FROM ({start}) TO ({end})"
            )


def _partitions(conn: psycopg.Connection[Any]) -> list[tuple[str, int, int]]:
    """Every monthly partition of the table: (name, start, end), oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass"
    ).fetchall()
    found = []
    for (name,) in rows:
        month = _month_of(name)
        if month is not None:
            found.append(_partition(*month))
    return sorted(found, key=lambda item: item[1])


def _storable(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """*values* with each NUL character, which PostgreSQL text cannot hold, written as U+FFFD.

    Events come from the network (a Call-ID, dialed digits); one with a NUL must still be kept
    rather than fail its whole batch, so the character that Unicode reserves for what cannot be
    represented stands in for it.
    """
    if not any(type(value) is str and "\x00" in value for value in values):
        return values
    return tuple(
        value.replace("\x00", "\ufffd") if type(value) is str else value for value in values
    )


class PostgresWriter:
    """One node's connection to the log: it stores numbered rows, each once.

    Opening connects, creates or upgrades the tables (nodes starting together take turns) and
    takes the node's name, which one writer holds at a time (``ConflictError`` for a second).
    :meth:`store` writes a batch in one transaction; when the connection breaks meanwhile, the
    batch may or may not be in, so it connects again and sends the batch once more: the keys
    store each row once. What still fails raises ``SinkError``. Not thread-safe: one caller at
    a time (the sinks call it from their leader or flusher only).
    """

    def __init__(self, url: str, node: str) -> None:
        self.url = url
        self.node = check_name("node", node, "a node name", _MAX_NODE)
        self._psycopg = _postgres.driver()
        self._months: set[tuple[int, int]] = set()
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        def prepare(conn: psycopg.Connection[Any]) -> None:
            _postgres.migrate(conn, self.url, _COMPONENT, _STEPS)
            self._take_node(conn)

        return _open(self.url, "open", prepare)

    def _take_node(self, conn: psycopg.Connection[Any]) -> None:
        """Hold the node's name for as long as *conn* lives; refuse a name another writer holds."""
        key = _postgres.lock_key(f"callcodes events node {self.node}")
        held = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not held or not held[0]:
            raise ConflictError(
                f"another writer records events as node {self.node!r} in "
                f"{_postgres.redact(self.url)}: give each writer its own node name"
            )

    def last_stored(self) -> int:
        """The node's highest stored sequence number (0: none)."""
        try:
            row = self._conn.execute(
                "SELECT COALESCE(max(seq), 0) FROM events WHERE node = %s", (self.node,)
            ).fetchone()
        except self._psycopg.Error as exc:
            raise SinkError(f"cannot read event log: {_postgres.problem(self.url, exc)}") from exc
        return int(row[0]) if row else 0

    def store(self, rows: list[tuple[Any, ...]], first: int) -> None:
        """Store *rows* (``sql_row`` values) numbered from *first*; each key at most once."""
        pg = self._psycopg
        try:
            try:
                self._store(rows, first)
            except (pg.OperationalError, pg.InterfaceError):
                # The connection broke: the batch may or may not be in. Connect again and send
                # it once more; its keys make that safe.
                self._reconnect()
                self._store(rows, first)
        except pg.Error as exc:
            raise SinkError(
                f"cannot write to event log: {_postgres.problem(self.url, exc)}; "
                "the events were not kept"
            ) from exc

    def _reconnect(self) -> None:
        try:
            self._conn.close()
        finally:
            self._conn = self._connect()

    def _store(self, rows: list[tuple[Any, ...]], first: int) -> None:
        """One transaction: ``COPY`` the rows; a batch stored before goes in by key instead."""
        months = {(when.year, when.month) for when in map(from_micros, {r[0] for r in rows})}
        if not months <= self._months:
            _ensure_partitions(self._conn, months - self._months)
            self._months |= months
        if len(rows) <= _INSERT_AT_MOST:
            # A few events (a write-through sink with one writer): one INSERT statement, its
            # own transaction, is one round trip where a COPY in a transaction takes three.
            values: list[Any] = []
            for offset, row in enumerate(rows):
                values.extend((*_storable(row), self.node, first + offset))
            self._conn.execute(_INSERTS[len(rows)], values)
            return
        try:
            with self._conn.transaction():
                self._copy("events", rows, first)
        except self._psycopg.errors.UniqueViolation:
            with self._conn.transaction():
                self._conn.execute(_STAGING)
                self._copy("events_again", rows, first)
                self._conn.execute(
                    f"INSERT INTO events ({COLUMNS}, node, seq) "  # noqa: S608  # constants
                    f"SELECT {COLUMNS}, node, seq FROM events_again ON CONFLICT DO NOTHING"
                )

    def _copy(self, table: str, rows: list[tuple[Any, ...]], first: int) -> None:
        node = self.node
        with self._conn.cursor().copy(f"COPY {table} ({COLUMNS}, node, seq) FROM STDIN") as copy:
            for offset, row in enumerate(rows):
                copy.write_row((*_storable(row), node, first + offset))

    def close(self) -> None:
        """Let go of the connection, and with it the node's name."""
        self._conn.close()


class PostgresSink(GroupCommitSink[list[tuple[Any, ...]]]):
    """Events in the ``events`` table of a PostgreSQL database that several nodes share.

    *node* names this writer in the idempotent key (default: the host name and the process
    id); see :class:`PostgresWriter` for what opening does and how a broken connection is
    handled. A commit is durable when PostgreSQL says so (``synchronous_commit``), so each
    acknowledged event is in the database. A batch that cannot be stored is not acknowledged
    and the sink says why (a deferred sink stops, as the file sinks do). Sequence numbers go
    on from the node's last stored one.
    """

    def __init__(
        self,
        url: str,
        flush: FlushPolicy | None = None,
        *,
        node: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_durable: DurableHook | None = None,
    ) -> None:
        if node is None:
            node = f"{socket.gethostname()}/{os.getpid()}"
        self._writer = PostgresWriter(url, node)
        super().__init__(
            f"event log {_postgres.redact(url)}", flush or FlushPolicy(), clock, on_durable
        )
        try:
            self._last_seq = self._writer.last_stored()
        except BaseException:
            self._writer.close()
            raise
        self._start_timer()

    @property
    def url(self) -> str:
        """The database the events go to, as given."""
        return self._writer.url

    @property
    def node(self) -> str:
        """The name this writer stamps on its events."""
        return self._writer.node

    def _encode(self, rows: list[Row]) -> list[tuple[Any, ...]]:
        return [sql_row(row) for row in rows]

    def _commit(self, payloads: list[list[tuple[Any, ...]]], sync: bool) -> None:  # noqa: ARG002  # each commit is durable on PostgreSQL's side
        rows = [row for payload in payloads for row in payload]
        # The numbers are taken before trying: a batch whose fate is unknown keeps them, so a
        # later batch never reuses a number that may already be stored.
        first = self._last_seq + 1
        self._last_seq += len(rows)
        self._writer.store(rows, first)

    def _sync(self) -> None:
        """Nothing to do: PostgreSQL made each commit durable before answering it."""

    def _release(self) -> None:
        self._writer.close()


def _check_version(url: str, version: int) -> None:
    """Refuse a database without the events tables, or with newer ones (``ConflictError``)."""
    if not version:
        raise InvalidValueError(
            "event log", _postgres.redact(url), "holds no events table: record events first"
        )
    _postgres.refuse_newer(url, _COMPONENT, version, EVENTS_TABLE_VERSION)


def _open(
    url: str, doing: str, prepare: Callable[[psycopg.Connection[Any]], None]
) -> psycopg.Connection[Any]:
    """A connection to the log at *url*, made ready by *prepare*; closed again if that fails.

    Database errors become ``SinkError`` saying what could not be done (*doing*) and why.
    """
    pg = _postgres.driver()
    try:
        conn = _postgres.connect(url)
    except pg.Error as exc:
        raise SinkError(f"cannot {doing} event log: {_postgres.problem(url, exc)}") from exc
    try:
        prepare(conn)
    except pg.Error as exc:
        conn.close()
        raise SinkError(f"cannot {doing} event log: {_postgres.problem(url, exc)}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _reader(url: str) -> psycopg.Connection[Any]:
    """A connection to an event log whose tables exist and are not newer than this code."""
    return _open(
        url, "read", lambda conn: _check_version(url, _postgres.schema_version(conn, _COMPONENT))
    )


def read_postgres(url: str, *, chunk: int = 10_000) -> Iterator[Event]:
    """Every event of a PostgreSQL event log, by time (then node and sequence).

    A stored row that is not a valid event raises :class:`~callcodes.BatchError` naming its
    node and sequence number. Runtime complexity: O(n), read *chunk* rows at a time.
    """
    pg = _postgres.driver()
    conn = _reader(url)
    try:
        last: tuple[int, str, int] = (-(1 << 62), "", 0)
        while True:
            try:
                rows = conn.execute(
                    f"SELECT node, seq, {COLUMNS} FROM events "  # noqa: S608  # constants
                    "WHERE (time_us, node, seq) > (%s, %s, %s) "
                    "ORDER BY time_us, node, seq LIMIT %s",
                    (last[0], last[1], last[2], chunk),
                ).fetchall()
            except pg.Error as exc:
                raise SinkError(f"cannot read event log: {_postgres.problem(url, exc)}") from exc
            if not rows:
                return
            for node, seq, *values in rows:
                try:
                    yield event_from_sql(tuple(values))
                except (InvalidValueError, TypeError, OverflowError) as exc:
                    raise BatchError(
                        f"read event log {_postgres.redact(url)} (node {node}, event {seq})",
                        [RowError(int(seq), excerpt(repr(values)), str(exc))],
                    ) from None
            node, seq, time_us = rows[-1][0], rows[-1][1], rows[-1][2]
            last = (int(time_us), str(node), int(seq))
    finally:
        conn.close()


def purge_postgres(url: str, before: datetime) -> int:
    """Remove every event older than *before*; the number removed.

    Months wholly before it are dropped as partitions (no row by row delete, no bloat); the
    month it falls in loses its older rows by ``DELETE``. Nodes may go on writing meanwhile.
    """
    pg = _postgres.driver()
    cut = micros(before)
    conn = _reader(url)
    removed = 0
    try:
        with _postgres.transaction(conn, lock=_postgres.lock_key("callcodes events partitions")):
            for name, start, end in _partitions(conn):
                if start >= cut:
                    break
                if end <= cut:
                    counted = conn.execute(f"SELECT count(*) FROM {name}").fetchone()  # noqa: S608
                    removed += int(counted[0]) if counted else 0
                    conn.execute(f"DROP TABLE {name}")
                else:
                    done = conn.execute(f"DELETE FROM {name} WHERE time_us < %s", (cut,))  # noqa: S608
                    removed += done.rowcount
    except pg.Error as exc:
        raise SinkError(f"cannot purge event log: {_postgres.problem(url, exc)}") from exc
    finally:
        conn.close()
    return removed
