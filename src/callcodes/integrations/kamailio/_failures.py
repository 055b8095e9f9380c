"""Failed entries counted in a shared SQLite file or PostgreSQL database: one count for all.

An engine's own :class:`~callcodes.FailureTracker` counts in the memory of one process: with W
workers an attacker would get W times the allowance. :class:`SharedFailureTracker` is a
:class:`~callcodes.core.guard.Tracker` with the same rules (sliding windows, a lock empties
its count) kept in the table ``guard_failures`` of a file the workers share (the router uses
the event log's), or of a PostgreSQL database that several nodes share, each change one
transaction taken in turn. It is written only on a failed entry, never on the common path.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from ... import _postgres
from ..._errors import InvalidValueError, UnavailableError
from ..._sqlite import connect, migrate, problem, transaction
from ..._timefmt import ONE_MICROSECOND, micros
from ...core.guard import FailureTracker
from ...core.model import Lock, Lockout

__all__ = ["FallbackFailureTracker", "SharedFailureTracker", "SharedFile"]

# The component whose schema version callcodes_schema records: the table's own name.
_COMPONENT: Final = "guard_failures"
# Version i + 1 of the table is reached by the statements of _STEPS[i].
_STEPS: Final = (
    (
        "CREATE TABLE IF NOT EXISTS guard_failures (grp TEXT NOT NULL, "
        'whole INTEGER NOT NULL, "user" TEXT NOT NULL, at INTEGER NOT NULL)',
        'CREATE INDEX IF NOT EXISTS guard_failures_key ON guard_failures (grp, whole, "user", at)',
    ),
)
# One count is (group, whole, user): whole=1 with user "" for the group's own count.
_DELETE_KEY: Final = 'DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND "user" = ?'
#: While PostgreSQL is away, a new connection is tried at most this often, in seconds.
RECONNECT_EVERY: Final = 1.0
_COUNT_KEY: Final = 'SELECT count(*) FROM guard_failures WHERE grp = ? AND whole = ? AND "user" = ?'
_DELETE_OLD: Final = (
    'DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND "user" = ? AND at <= ?'
)


def _check_now(now: object) -> datetime:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidValueError("now", now, "must be a timezone-aware datetime (use UTC)")
    return now


def _check_lockout(lockout: object) -> Lockout:
    if not isinstance(lockout, Lockout):
        raise InvalidValueError("lockout", lockout, "must be a Lockout")
    return lockout


class SharedFile:
    """A connection to a file the workers share, or a database nodes share, its tables current.

    *path* is a file, or a ``postgresql://`` URL: the statements are portable (``?``
    parameters, ``"user"`` quoted) and run on either. Each write is one transaction taken in
    turn with every other writer: ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory
    lock of the component on PostgreSQL, so counts stay exact however many nodes write.
    *turns*, when given, is held around each write (the Kamailio router passes the lock its
    workers take turns with); without it, a writer waits for the others up to *busy_timeout*
    seconds. Raises :class:`InvalidValueError` saying why the file or database cannot be used.
    """

    def __init__(
        self,
        path: str | Path,
        component: str,
        steps: tuple[tuple[str, ...], ...],
        *,
        busy_timeout: float = 5.0,
        turns: contextlib.AbstractContextManager[object] | None = None,
    ) -> None:
        self._turns = turns if turns is not None else contextlib.nullcontext()
        self._mutex = threading.Lock()  # one statement at a time on the connection
        self._pg: _postgres.QmarkConnection | None = None
        self._url = ""
        self._retry_at = 0.0
        self._lock_key = _postgres.lock_key(f"callcodes {component}")
        if _postgres.is_url(path):
            self.path = Path()
            self._url = str(path)
            self._steps = steps
            self._component = component
            try:
                self._pg = self._connect()
            except UnavailableError as exc:
                raise InvalidValueError("path", _postgres.redact(self._url), str(exc)) from exc
            self._conn: Any = self._pg
            return
        self.path = Path(path)
        try:
            conn = connect(self.path, busy_timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise InvalidValueError("path", str(path), problem(self.path, exc)) from exc
        try:
            # Committed, a count survives a crash of Kamailio; only a power loss can take the
            # last few (as the journal's events between syncs). A sync per failed entry costs
            # more than the rest of the call.
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn, self.path, component, steps)
        except sqlite3.Error as exc:
            conn.close()
            raise InvalidValueError("path", str(path), problem(self.path, exc)) from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _connect(self) -> _postgres.QmarkConnection:
        """A connection to the database, its tables up to date; ``UnavailableError`` if not."""
        return _postgres.open_ready(
            self._url,
            lambda raw: _postgres.migrate_from_sqlite(raw, self._url, self._component, self._steps),
        )

    def close(self) -> None:
        """Release the file or the connection."""
        with self._mutex:
            if self._conn is not None:
                self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction, in turn with the other processes and nodes."""
        with self._mutex, self._turns:
            if self._pg is None and not self._url:
                with transaction(self._conn) as conn:
                    yield conn
                return
            with self._postgres() as pg, _postgres.transaction(pg.raw, lock=self._lock_key):
                yield pg

    @contextlib.contextmanager
    def _read(self) -> Iterator[Any]:
        """The connection, for one read (no transaction of its own on either database)."""
        with self._mutex:
            if self._pg is None and not self._url:
                yield self._conn
                return
            with self._postgres() as pg:
                yield pg

    @contextlib.contextmanager
    def _postgres(self) -> Iterator[_postgres.QmarkConnection]:
        """The PostgreSQL connection (mutex held), made again after it broke.

        While the database is away every call fails at once with ``UnavailableError``: a new
        connection is tried at most every ``RECONNECT_EVERY`` seconds, so a caller on the call
        path never waits for a connect timeout more often than that.
        """
        if self._pg is None:
            if time.monotonic() < self._retry_at:
                raise UnavailableError(
                    f"{_postgres.redact(self._url)} was unreachable moments ago; retrying soon"
                )
            try:
                self._pg = self._conn = self._connect()
            except UnavailableError:
                self._retry_at = time.monotonic() + RECONNECT_EVERY
                raise
        pg = _postgres.driver()
        try:
            yield self._pg
        except (pg.OperationalError, pg.InterfaceError) as exc:
            with contextlib.suppress(pg.Error):
                self._pg.close()
            self._pg = self._conn = None
            self._retry_at = time.monotonic() + RECONNECT_EVERY
            raise UnavailableError(_postgres.problem(self._url, exc)) from exc


class SharedFailureTracker(SharedFile):
    """Failed entries counted in an SQLite file that several processes share.

    The same rules as :class:`~callcodes.FailureTracker` (the :class:`~callcodes.core.guard.
    Tracker` protocol, plus ``prune``), for every process that opens the file: pass it as the
    ``tracker`` of each process's :class:`~callcodes.Engine`. *turns*, when given, is held
    around each write (the Kamailio router passes the lock its workers take turns with);
    without it, a writer waits for the others up to *busy_timeout* seconds. Open it after
    ``fork()``, not before; safe for several threads. Raises
    :class:`~callcodes.InvalidValueError` when the file cannot be used, saying why.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        turns: contextlib.AbstractContextManager[object] | None = None,
    ) -> None:
        super().__init__(path, _COMPONENT, _STEPS, busy_timeout=busy_timeout, turns=turns)

    def record(self, group: str, user: str, now: datetime, lockout: Lockout) -> tuple[Lock, ...]:
        """Count one failed entry of *user* for every process; return the locks now due.

        The user's lock comes first, then the group's. Runtime complexity: O(log f) for f
        failures kept, in one transaction.
        """
        now = _check_now(now)
        lockout = _check_lockout(lockout)
        until = None if lockout.lock_for is None else now + lockout.lock_for
        at = micros(now)
        due = []
        counts = (
            (False, user, lockout.user_window, lockout.user_attempts),
            (True, "", lockout.group_window, lockout.group_attempts),
        )
        with self._write() as conn:
            for whole, who, window, attempts in counts:
                key = (group, int(whole), who)
                conn.execute(_DELETE_OLD, (*key, at - window // ONE_MICROSECOND))
                conn.execute("INSERT INTO guard_failures VALUES (?, ?, ?, ?)", (*key, at))
                (count,) = conn.execute(_COUNT_KEY, key).fetchone()
                if count >= attempts:
                    conn.execute(_DELETE_KEY, key)
                    due.append(Lock(group, None if whole else who, now, until))
        return tuple(due)

    def count(self, group: str, user: str | None, now: datetime, lockout: Lockout) -> int:
        """How many failures of *user* (of the group when None) are in the window at *now*.

        Runtime complexity: O(log f + k) for the k failures counted.
        """
        now = _check_now(now)
        lockout = _check_lockout(lockout)
        window = lockout.group_window if user is None else lockout.user_window
        key = (group, int(user is None), user or "")
        with self._read() as conn:
            (count,) = conn.execute(
                'SELECT count(*) FROM guard_failures WHERE grp = ? AND whole = ? AND "user" = ? '
                "AND at > ?",
                (*key, micros(now) - window // ONE_MICROSECOND),
            ).fetchone()
        return int(count)

    def forget(self, group: str, user: str | None = None) -> None:
        """Drop the count of *user* (of the group's own when None). Runtime: O(log f)."""
        with self._write() as conn:
            conn.execute(_DELETE_KEY, (group, int(user is None), user or ""))

    def prune(self, now: datetime, older_than: timedelta) -> int:
        """Drop every count whose last failure is at or before ``now - older_than``.

        Returns how many counts were dropped. Runtime complexity: O(f).
        """
        limit = micros(_check_now(now)) - older_than // ONE_MICROSECOND
        with self._write() as conn:
            stale = conn.execute(
                'SELECT grp, whole, "user" FROM guard_failures GROUP BY grp, whole, "user" '
                "HAVING max(at) <= ?",
                (limit,),
            ).fetchall()
            conn.executemany(_DELETE_KEY, stale)
        return len(stale)


class FallbackFailureTracker:
    """A :class:`SharedFailureTracker` that goes on counting while its database is away.

    While the shared tracker raises :class:`~callcodes.UnavailableError` (PostgreSQL down or
    unreachable), failures are counted by a :class:`~callcodes.FailureTracker` of this process,
    so an attacker still meets this node's thresholds, and kept. Once the database answers
    again they are added to the shared count, in order, before the next failure, and the locks
    that become due then come back with that failure's. A failure whose commit was answered
    by a broken connection may count twice: the count errs toward locking, never away from it.
    Safe for several threads.
    """

    def __init__(self, shared: SharedFailureTracker) -> None:
        self.shared = shared
        self._local = FailureTracker()
        self._pending: list[tuple[str, str, datetime, Lockout]] = []
        self._mutex = threading.Lock()

    @property
    def pending(self) -> int:
        """How many failures wait to be added to the shared count."""
        with self._mutex:
            return len(self._pending)

    def record(self, group: str, user: str, now: datetime, lockout: Lockout) -> tuple[Lock, ...]:
        """Count one failure, shared when the database answers, else here; the locks now due."""
        with self._mutex:
            try:
                due = self._merge()
                return due + self.shared.record(group, user, now, lockout)
            except UnavailableError:
                self._pending.append((group, user, now, lockout))
                return self._local.record(group, user, now, lockout)

    def _merge(self) -> tuple[Lock, ...]:
        """Add the failures counted while the database was away; the locks that fall due."""
        due: tuple[Lock, ...] = ()
        while self._pending:
            due += self.shared.record(*self._pending[0])
            self._pending.pop(0)
            if not self._pending:
                self._local = FailureTracker()  # they are in the shared count now
        return due

    def count(self, group: str, user: str | None, now: datetime, lockout: Lockout) -> int:
        """The shared count, or this process's while the database is away."""
        with self._mutex:
            try:
                return self.shared.count(group, user, now, lockout) + sum(
                    1 for g, u, _, _ in self._pending if g == group and (user is None or u == user)
                )
            except UnavailableError:
                return self._local.count(group, user, now, lockout)

    def forget(self, group: str, user: str | None = None) -> None:
        """Drop the count everywhere (after an unlock), the failures still waiting included."""
        with self._mutex:
            self._pending = [
                p for p in self._pending if p[0] != group or (user is not None and p[1] != user)
            ]
            self._local.forget(group, user)
            self.shared.forget(group, user)

    def close(self) -> None:
        """Release the shared tracker's connection."""
        self.shared.close()
