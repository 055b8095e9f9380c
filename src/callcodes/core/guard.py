"""Toll-fraud guard: count failed authorization entries, lock when due, and count code uses.

:class:`Tracker` is what counting failures takes: :class:`FailureTracker` keeps, per user and
per group, the times of recent failed entries in memory and says which :class:`~callcodes.Lock`
to apply when a threshold of the group's :class:`~callcodes.Lockout` settings is reached within
its sliding window; a tracker that several processes share (in a file) keeps the same rules.
:func:`settle` is what a facade runs after each decision: it counts the use of a use-limited
code (turning the decision into USED_UP if another call took the last use meanwhile), records
a failure and puts due locks in the book, and writes both through to a store when one is given
(any object with the :class:`LockStore` methods, such as ``PolicyStore``). :class:`LockEvent`
is what a facade tells its alert hook and its event log when a lock is put in place or lifted.
No clock: the caller passes ``now``; the only I/O is the store's, when the caller gives one.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Final, Protocol

import attrs

from .._errors import InvalidValueError, UnknownGroupError
from .book import CodeBook
from .model import Call, CallType, Decision, Lock, Lockout, Reason, Verdict

__all__ = [
    "FAILURE_REASONS",
    "GUARD_ACTOR",
    "FailureTracker",
    "LockChange",
    "LockEvent",
    "LockStore",
    "Tracker",
    "is_failure",
    "settle",
]

#: The actor named in the audit trail for locks the guard puts in place by itself.
GUARD_ACTOR: Final = "callcodes toll-fraud guard"

#: Rejected entries that count toward lockout: every refusal of a code that was entered.
#: A missing code (the caller said nothing) and an unknown validity (the integration gave no
#: time) are not guesses and do not count. Refusals of listed codes (expired, used up, level too
#: low, suspended, outside its hours...) do count: they tell apart codes that exist, and
#: retrying them never helps. A use limit reached or a redirected leg refused is not a guess.
FAILURE_REASONS: Final = frozenset(
    {
        Reason.INVALID_CODE,
        Reason.MALFORMED_CODE,
        Reason.NOT_YET_VALID,
        Reason.EXPIRED,
        Reason.USED_UP,
        Reason.LEVEL_TOO_LOW,
        Reason.SUSPENDED,
        Reason.OUTSIDE_HOURS,
    }
)


class LockStore(Protocol):
    """What :func:`settle` needs from a persistent store: use counts and locks, written through.

    ``PolicyStore`` has these methods; the store is the authority when several processes share
    it (its ``consume`` is atomic across processes).
    """

    def consume(self, group: str, code: str) -> bool:
        """Count one use of a use-limited code; False when none is left."""
        ...  # pragma: no cover

    def lock(self, lock: Lock, *, actor: str) -> None:
        """Persist *lock* (replacing an earlier one on the same user or group)."""
        ...  # pragma: no cover

    def unlock(self, group: str, user: str | None = None, *, actor: str) -> bool:
        """Lift a persisted lock; whether one was lifted."""
        ...  # pragma: no cover


class Tracker(Protocol):
    """What :func:`settle` and :class:`~callcodes.Engine` need to count failed entries.

    :class:`FailureTracker` counts in the memory of one process; a tracker shared by several
    processes (such as the Kamailio adapter's, in SQLite) keeps the same rules: a failure counts
    while it is less than the window old, and a lock empties the count it came from. Any object
    with these methods will do (no base class). Pruning old counts is the owner's business:
    neither ``settle`` nor the engine does it.
    """

    def record(self, group: str, user: str, now: datetime, lockout: Lockout) -> tuple[Lock, ...]:
        """Count one failed entry by *user* of *group* at *now*; the locks now due, user first."""
        ...  # pragma: no cover

    def count(self, group: str, user: str | None, now: datetime, lockout: Lockout) -> int:
        """How many failures of *user* (of the whole group when None) are in the window."""
        ...  # pragma: no cover

    def forget(self, group: str, user: str | None = None) -> None:
        """Drop the count of *user* (of the group's own count when None): after an unlock."""
        ...  # pragma: no cover


# The methods of Tracker, which an engine checks its tracker has.
_TRACKER_METHODS: Final = ("record", "count", "forget")


def tracker_missing(tracker: object) -> list[str]:
    """The :class:`Tracker` methods *tracker* lacks (by name, as a ``Protocol`` is structural)."""
    return [name for name in _TRACKER_METHODS if not callable(getattr(tracker, name, None))]


class LockChange(enum.StrEnum):
    """What happened to a lock."""

    LOCKED = "locked"
    UNLOCKED = "unlocked"


@attrs.frozen(weakref_slot=False)
class LockEvent:
    """A lock put in place or lifted: what alert hooks receive and the event log records.

    ``lock`` is the lock concerned; ``time`` when it changed (the lock's start for LOCKED);
    ``actor`` who changed it (:data:`GUARD_ACTOR` for automatic locks); ``call`` the call whose
    failed entry caused a lock (None for an unlock).
    """

    change: LockChange
    lock: Lock
    time: datetime
    actor: str
    call: Call | None = None


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
    tracker: Tracker,
    call: Call,
    decision: Decision,
    *,
    attempt: int,
    now: datetime,
    store: LockStore | None = None,
) -> tuple[Decision, tuple[Lock, ...]]:
    """After *decision* on entry *attempt* of *call*: count a use, or a failure and its locks.

    An authorized use-limited code uses one of its calls: through *store* when given (the
    store decides, and the book's count follows), else :meth:`CodeBook.consume`. If none is
    left (another call took the last one since the decision), the decision becomes a BLOCK
    with reason USED_UP. A failed entry (:func:`is_failure`) is recorded and the locks it makes
    due are put in *book*, then in *store* (audited as :data:`GUARD_ACTOR`): the book first, so
    the lock holds here even if the store fails (whose error then propagates). An entry that
    brings a lock loses its ``retry``: the caller is not prompted again. Returns the
    final decision and the locks applied. Emergency calls are returned untouched before
    anything else. Runtime complexity: O(1) amortised, plus the store's writes.
    """
    if call.call_type is CallType.EMERGENCY:
        return decision, ()
    group = call.group
    entry = decision.entry
    try:
        if (
            decision.reason is Reason.AUTHORIZED
            and entry is not None
            and entry.max_uses is not None
            and not _consume(book, store, group, entry.code)
        ):
            retry = attempt < book.group(group).max_attempts
            decision = Decision(Verdict.BLOCK, Reason.USED_UP, None, retry)
        if not is_failure(decision):
            return decision, ()
        locks = tracker.record(group, call.user, now, book.group(group).lockout)
        for lock in locks:
            book.lock(lock)
        if locks and decision.retry:  # the caller is locked now: another prompt is pointless
            decision = Decision(decision.verdict, decision.reason, decision.entry, False)
    except UnknownGroupError:  # the group was removed since the decision: nothing to count
        return decision, ()
    if store is not None:
        for lock in locks:
            store.lock(lock, actor=GUARD_ACTOR)
    return decision, locks


def _consume(book: CodeBook, store: LockStore | None, group: str, code: str) -> bool:
    if store is None:
        return book.consume(group, code)
    try:
        if not store.consume(group, code):
            return False
    except UnknownGroupError:  # a book ahead of its store: refuse rather than count nothing
        return False
    book.consume(group, code)  # mirror the stored count so this book refuses the same calls
    return True
