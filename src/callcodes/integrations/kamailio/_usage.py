"""Use limits counted in SQLite, so that every Kamailio worker adds to one count.

An engine's own :class:`~callcodes.UseCounter` counts in the memory of one process: with W
workers a stolen code would get W times its limit, and a call's end (Kamailio's ``dialog``
event) may reach another worker than its start. :class:`SharedUseCounter` is a
:class:`~callcodes.UseTracker` with the same rules kept in the tables ``guard_uses`` and
``guard_active`` of a file the workers share (the router uses the event log's), each call one
``BEGIN IMMEDIATE`` transaction, only for groups whose limits are on. Codes are not kept: each
is named by its keyed fingerprint (``key``, the policy store's), so the file holds no code.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from ..._errors import InvalidValueError
from ..._timefmt import ONE_MICROSECOND, micros
from ...core.guard import _check_now
from ...core.limits import Limits
from ...core.model import Reason
from ...core.usage import CALL_LIMIT
from ._failures import SharedFile

__all__ = ["SharedUseCounter"]

_COMPONENT: Final = "guard_uses"
_STEPS: Final = (
    (
        # One row per counted call: code is the code's fingerprint ('' for a redirected leg).
        "CREATE TABLE IF NOT EXISTS guard_uses (grp TEXT NOT NULL, code TEXT NOT NULL, "
        '"user" TEXT NOT NULL, costly INTEGER NOT NULL, at INTEGER NOT NULL)',
        "CREATE INDEX IF NOT EXISTS guard_uses_code ON guard_uses (grp, code, at)",
        'CREATE INDEX IF NOT EXISTS guard_uses_user ON guard_uses (grp, "user", costly, at)',
        "CREATE INDEX IF NOT EXISTS guard_uses_at ON guard_uses (grp, at)",
        # Calls in progress, by call id, until their end is reported (or CALL_LIMIT).
        "CREATE TABLE IF NOT EXISTS guard_active (grp TEXT NOT NULL, call_id TEXT NOT NULL, "
        "code TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (grp, call_id))",
    ),
)
_ONE: Final = "SELECT count(*) FROM guard_uses WHERE grp = ? AND "


class SharedUseCounter(SharedFile):
    """Recent uses of codes, counted in an SQLite file that several processes share.

    The rules of :class:`~callcodes.UseCounter` for every process that opens the file: pass it
    as the ``usage`` of each process's :class:`~callcodes.Engine`. *key* names a code in the
    file (the store's ``fingerprinter()``); *turns*, when given, is held around each write.
    Open it after ``fork()``; safe for several threads. Raises
    :class:`~callcodes.InvalidValueError` when the file cannot be used, saying why.
    """

    def __init__(
        self,
        path: str | Path,
        key: Callable[[str], str],
        *,
        busy_timeout: float = 5.0,
        turns: contextlib.AbstractContextManager[object] | None = None,
    ) -> None:
        super().__init__(path, _COMPONENT, _STEPS, busy_timeout=busy_timeout, turns=turns)
        self._key = key

    def admit(  # noqa: PLR0917  # the UseTracker protocol's signature
        self,
        group: str,
        code: str | None,
        user: str,
        costly: bool,
        now: datetime,
        limits: Limits,
        call_id: str | None = None,
    ) -> Reason | None:
        """Count one call for every process unless a limit is reached; that limit's reason.

        Runtime complexity: O(log u + k) for the k calls counted, in one transaction.
        """
        now = _check_now(now)
        if not isinstance(limits, Limits):
            raise InvalidValueError("limits", limits, "must be a Limits")
        at = micros(now)
        start = at - limits.window // ONE_MICROSECOND
        name = "" if code is None else self._key(code)
        track = code is not None and limits.concurrent_per_code is not None and bool(call_id)
        with self._write() as conn:
            conn.execute("DELETE FROM guard_uses WHERE grp = ? AND at <= ?", (group, start))
            refusal = None
            if code is not None:
                refusal = self._code_refusal(conn, group, name, user, costly, start, limits)
            if refusal is None and track:
                conn.execute(
                    "DELETE FROM guard_active WHERE grp = ? AND at <= ?",
                    (group, at - CALL_LIMIT // ONE_MICROSECOND),
                )
                (active,) = conn.execute(
                    "SELECT count(*) FROM guard_active WHERE grp = ? AND code = ?", (group, name)
                ).fetchone()
                if active >= limits.concurrent_per_code:
                    refusal = Reason.CONCURRENT_LIMIT
            if refusal is None and costly and limits.costly_per_user is not None:
                (mine,) = conn.execute(
                    _ONE + '"user" = ? AND costly = 1 AND at > ?', (group, user, start)
                ).fetchone()
                if mine >= limits.costly_per_user:
                    refusal = Reason.USER_COSTLY_LIMIT
            if refusal is not None:
                return refusal
            conn.execute(
                "INSERT INTO guard_uses VALUES (?, ?, ?, ?, ?)",
                (group, name, user, int(costly), at),
            )
            if track:
                conn.execute(
                    "INSERT INTO guard_active VALUES (?, ?, ?, ?) ON CONFLICT (grp, call_id) "
                    "DO UPDATE SET code = excluded.code, at = excluded.at",
                    (group, call_id, name, at),
                )
        return None

    @staticmethod
    def _code_refusal(  # noqa: PLR0917  # one call's facts
        conn: sqlite3.Connection,
        group: str,
        name: str,
        user: str,
        costly: bool,
        start: int,
        limits: Limits,
    ) -> Reason | None:
        where = (group, name, start)
        if limits.calls_per_code is not None:
            (calls,) = conn.execute(_ONE + "code = ? AND at > ?", where).fetchone()
            if calls >= limits.calls_per_code:
                return Reason.CALLS_LIMIT
        if limits.users_per_code is not None:
            users = {
                row[0]
                for row in conn.execute(
                    'SELECT DISTINCT "user" FROM guard_uses WHERE grp = ? AND code = ? AND at > ?',
                    where,
                )
            }
            if user not in users and len(users) >= limits.users_per_code:
                return Reason.USERS_LIMIT
        if costly and limits.costly_per_code is not None:
            (dear,) = conn.execute(_ONE + "code = ? AND costly = 1 AND at > ?", where).fetchone()
            if dear >= limits.costly_per_code:
                return Reason.COSTLY_LIMIT
        return None

    def end(self, group: str, call_id: str) -> None:
        """The call *call_id* ended, for every process. Runtime complexity: O(log a)."""
        with self._write() as conn:
            conn.execute("DELETE FROM guard_active WHERE grp = ? AND call_id = ?", (group, call_id))

    def forget(self, group: str, code: str) -> None:
        """Drop the counts of *code*: after an administrator restores it. Runtime: O(c)."""
        name = self._key(code)
        with self._write() as conn:
            conn.execute("DELETE FROM guard_uses WHERE grp = ? AND code = ?", (group, name))
            conn.execute("DELETE FROM guard_active WHERE grp = ? AND code = ?", (group, name))

    def prune(self, now: datetime, older_than: timedelta) -> int:
        """Drop every count at or before ``now - older_than``; how many rows were dropped."""
        limit = micros(_check_now(now)) - older_than // ONE_MICROSECOND
        with self._write() as conn:
            dropped = conn.execute("DELETE FROM guard_uses WHERE at <= ?", (limit,)).rowcount
            dropped += conn.execute("DELETE FROM guard_active WHERE at <= ?", (limit,)).rowcount
        return int(dropped)
