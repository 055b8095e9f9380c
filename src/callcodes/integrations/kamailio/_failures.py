"""Failed entries counted in SQLite, so that every Kamailio worker adds to one count.

An engine's own :class:`~callcodes.FailureTracker` counts in the memory of one process: with W
workers an attacker would get W times the allowance. :class:`SharedFailureTracker` is a
:class:`~callcodes.core.guard.Tracker` with the same rules (sliding windows, a lock empties
its count) kept in the table ``guard_failures`` of a file the workers share (the router uses
the event log's), each change one ``BEGIN IMMEDIATE`` transaction. It is written only on a
failed entry, never on the common path.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from ..._errors import InvalidValueError
from ..._sqlite import connect, migrate, problem, transaction
from ..._timefmt import ONE_MICROSECOND, micros
from ...core.model import Lock, Lockout

__all__ = ["SharedFailureTracker", "SharedFile"]

# The component whose schema version callcodes_schema records: the table's own name.
_COMPONENT: Final = "guard_failures"
# Version i + 1 of the table is reached by the statements of _STEPS[i].
_STEPS: Final = (
    (
        "CREATE TABLE IF NOT EXISTS guard_failures (grp TEXT NOT NULL, "
        "whole INTEGER NOT NULL, user TEXT NOT NULL, at INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS guard_failures_key ON guard_failures (grp, whole, user, at)",
    ),
)
# One count is (group, whole, user): whole=1 with user "" for the group's own count.
_DELETE_KEY: Final = "DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND user = ?"
_DELETE_OLD: Final = (
    "DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND user = ? AND at <= ?"
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
    """A connection to an SQLite file the workers share, its component's tables up to date.

    *turns*, when given, is held around each write (the Kamailio router passes the lock its
    workers take turns with); without it, a writer waits for the others up to *busy_timeout*
    seconds. Raises :class:`InvalidValueError` saying why the file cannot be used.
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
        self.path = Path(path)
        self._turns = turns if turns is not None else contextlib.nullcontext()
        self._mutex = threading.Lock()  # one statement at a time on the connection
        try:
            conn = connect(self.path, busy_timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise InvalidValueError("path", str(path), problem(self.path, exc)) from exc
        try:
            migrate(conn, self.path, component, steps)
        except sqlite3.Error as exc:
            conn.close()
            raise InvalidValueError("path", str(path), problem(self.path, exc)) from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        """Release the file."""
        with self._mutex:
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, in turn with the other processes."""
        with self._mutex, self._turns, transaction(self._conn) as conn:
            yield conn


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
                (count,) = conn.execute(
                    "SELECT count(*) FROM guard_failures WHERE grp = ? AND whole = ? AND user = ?",
                    key,
                ).fetchone()
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
        with self._mutex:
            (count,) = self._conn.execute(
                "SELECT count(*) FROM guard_failures WHERE grp = ? AND whole = ? AND user = ? "
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
                "SELECT grp, whole, user FROM guard_failures GROUP BY grp, whole, user "
                "HAVING max(at) <= ?",
                (limit,),
            ).fetchall()
            conn.executemany(_DELETE_KEY, stale)
        return len(stale)
