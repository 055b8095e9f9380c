"""Toll-fraud guard: count failed authorization entries, lock when due, and count code uses.

:class:`FailureTracker` keeps, per user and per group, the times of recent failed entries and
says which :class:`~callcodes.Lock` to apply when a threshold of the group's
:class:`~callcodes.Lockout` settings is reached within its sliding window. :func:`settle` is
what a facade runs after each decision: it counts the use of a use-limited code (turning the
decision into USED_UP if another call took the last use meanwhile), records a failure and puts
due locks in the book. No I/O and no clock: the caller passes ``now``.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Final

from ._errors import InvalidValueError, UnknownGroupError
from ._index import CodeBook
from ._model import Call, CallType, Decision, Lock, Lockout, Reason, Verdict

__all__ = ["FAILURE_REASONS", "FailureTracker", "is_failure", "settle"]

#: Rejected entries that count toward lockout: every refusal of a code that was entered.
#: A missing code (the caller said nothing) and an unknown validity (the integration gave no
#: time) are not guesses and do not count. Refusals of listed codes (expired, used up, level too
#: low...) do count: they tell apart codes that exist, and retrying them never helps.
FAILURE_REASONS: Final = frozenset(
    {
        Reason.INVALID_CODE,
        Reason.MALFORMED_CODE,
        Reason.NOT_YET_VALID,
        Reason.EXPIRED,
        Reason.USED_UP,
        Reason.LEVEL_TOO_LOW,
    }
)


def is_failure(decision: Decision) -> bool:
    """Tell whether *decision* is a failed authorization entry that counts toward lockout.

    Runtime complexity: O(1).
    """
    return decision.verdict is Verdict.BLOCK and decision.reason in FAILURE_REASONS


def _check_now(now: object) -> datetime:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidValueError("now", now, "must be a timezone-aware datetime (use UTC)")
    return now


def _slide(times: deque[datetime], now: datetime, window: timedelta, keep: int) -> None:
    """Drop failures that left the window (at or before ``now - window``), keep at most *keep*."""
    start = now - window
    while times and times[0] <= start:
        times.popleft()
    while len(times) > keep:
        times.popleft()


class FailureTracker:
    """Recent failed entries per user and per group, and the locks they call for.

    A failure counts while it is less than the window old: with the defaults, the tenth failure
    within 3 minutes locks the user, the fiftieth within 10 minutes across the group locks the
    group. A lock empties the count it came from, so the next lock needs a full count again.
    Memory: at most ``user_attempts`` times per user who failed recently and ``group_attempts``
    per group. Safe for several threads.
    """

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], deque[datetime]] = {}
        self._groups: dict[str, deque[datetime]] = {}
        self._mutex = threading.Lock()

    def record(self, group: str, user: str, now: datetime, lockout: Lockout) -> tuple[Lock, ...]:
        """Count one failed entry by *user* of *group* at *now*; return the locks now due.

        The user's lock comes first, then the group's; each lasts ``lockout.lock_for`` from
        *now* (or until unlocked when that is None). Runtime complexity: O(1) amortised.
        """
        now = _check_now(now)
        if not isinstance(lockout, Lockout):
            raise InvalidValueError("lockout", lockout, "must be a Lockout")
        until = None if lockout.lock_for is None else now + lockout.lock_for
        due: list[Lock] = []
        with self._mutex:
            mine = self._users.setdefault((group, user), deque())
            mine.append(now)
            _slide(mine, now, lockout.user_window, lockout.user_attempts)
            theirs = self._groups.setdefault(group, deque())
            theirs.append(now)
            _slide(theirs, now, lockout.group_window, lockout.group_attempts)
            if len(mine) >= lockout.user_attempts:
                mine.clear()
                due.append(Lock(group, user, now, until))
            if len(theirs) >= lockout.group_attempts:
                theirs.clear()
                due.append(Lock(group, None, now, until))
        return tuple(due)

    def count(self, group: str, user: str | None, now: datetime, lockout: Lockout) -> int:
        """How many failures of *user* (of the whole group when None) are in the window at *now*.

        Runtime complexity: O(k) for the k failures kept.
        """
        now = _check_now(now)
        with self._mutex:
            if user is None:
                times = self._groups.get(group, ())
                window = lockout.group_window
            else:
                times = self._users.get((group, user), ())
                window = lockout.user_window
            return sum(1 for t in times if t > now - window)

    def forget(self, group: str, user: str | None = None) -> None:
        """Drop the count of *user* (of the group's own count when None): after an unlock.

        Runtime complexity: O(1).
        """
        with self._mutex:
            if user is None:
                self._groups.pop(group, None)
            else:
                self._users.pop((group, user), None)

    def prune(self, now: datetime, older_than: timedelta) -> int:
        """Drop every count whose last failure is at or before ``now - older_than``.

        Call it now and then with the longest window in use to bound memory. Returns how many
        counts were dropped. Runtime complexity: O(u + g) for u users and g groups tracked.
        """
        limit = _check_now(now) - older_than
        with self._mutex:
            stale_users = [k for k, t in self._users.items() if not t or t[-1] <= limit]
            stale_groups = [k for k, t in self._groups.items() if not t or t[-1] <= limit]
            for user_key in stale_users:
                del self._users[user_key]
            for group_key in stale_groups:
                del self._groups[group_key]
        return len(stale_users) + len(stale_groups)


def settle(
    book: CodeBook,
    tracker: FailureTracker,
    call: Call,
    decision: Decision,
    *,
    attempt: int,
    now: datetime,
) -> tuple[Decision, tuple[Lock, ...]]:
    """After *decision* on entry *attempt* of *call*: count a use, or a failure and its locks.

    An authorized use-limited code uses one of its calls (:meth:`CodeBook.consume`); if none
    is left (another call took the last one since the decision), the decision becomes a BLOCK
    with reason USED_UP. A failed entry (:func:`is_failure`) is recorded and the locks it makes
    due are put in *book*. Returns the final decision and the locks applied. Emergency calls
    are returned untouched before anything else. Runtime complexity: O(1) amortised.
    """
    if call.call_type is CallType.EMERGENCY:
        return decision, ()
    entry = decision.entry
    try:
        if (
            decision.reason is Reason.AUTHORIZED
            and entry is not None
            and entry.max_uses is not None
            and not book.consume(call.group, entry.code)
        ):
            retry = attempt < book.group(call.group).max_attempts
            decision = Decision(Verdict.BLOCK, Reason.USED_UP, None, retry)
        if not is_failure(decision):
            return decision, ()
        locks = tracker.record(call.group, call.user, now, book.group(call.group).lockout)
        for lock in locks:
            book.lock(lock)
    except UnknownGroupError:  # the group was removed since the decision: nothing to count
        return decision, ()
    return decision, locks
