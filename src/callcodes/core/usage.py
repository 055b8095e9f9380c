"""Use limits counted: who used which code when, and whether the next call is over a limit.

:class:`UseTracker` is what counting takes: :class:`UseCounter` keeps, in memory, the recent
authorized calls per code and the recent international and premium calls per user, and the
calls of each code in progress; a tracker that several processes share (the Kamailio adapter's,
in SQLite) keeps the same rules. :func:`admit` is what a facade runs after a decision that lets
a call through in a group with :class:`~callcodes.core.limits.Limits`: the call is counted, or
refused with the limit's own reason (and, when the group says so, its code suspended in the
book and the store). :class:`LimitEvent` is what the facade's alert hook receives.
No clock: the caller passes ``now``; the only I/O is the store's, when the caller gives one.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Final, Protocol

import attrs

from .._errors import InvalidValueError, UnknownGroupError
from .book import CodeBook
from .guard import GUARD_ACTOR, _check_now
from .limits import Limits
from .model import Call, CallType, CodeEntry, Decision, Reason, Verdict

__all__ = [
    "CALL_LIMIT",
    "CODE_LIMIT_REASONS",
    "COSTLY",
    "LIMIT_REASONS",
    "LimitEvent",
    "SuspendStore",
    "UseCounter",
    "UseTracker",
    "admit",
]

#: The call types the costly limits count.
COSTLY: Final = frozenset({CallType.INTERNATIONAL, CallType.PREMIUM})
#: A call in progress whose end is never reported stops counting after this long.
CALL_LIMIT: Final = timedelta(hours=12)
#: The refusals of a code's own limits: these suspend the code when the group says so.
CODE_LIMIT_REASONS: Final = frozenset(
    {Reason.CALLS_LIMIT, Reason.USERS_LIMIT, Reason.COSTLY_LIMIT, Reason.CONCURRENT_LIMIT}
)
#: Every refusal :func:`admit` gives.
LIMIT_REASONS: Final = CODE_LIMIT_REASONS | {Reason.USER_COSTLY_LIMIT}


class UseTracker(Protocol):
    """What :func:`admit` needs to count uses against a group's :class:`Limits`.

    :class:`UseCounter` counts in the memory of one process; a tracker shared by several
    processes keeps the same rules: a call counts while it is less than ``limits.window`` old,
    a refused call is not counted, a call in progress counts until :meth:`end` or
    :data:`CALL_LIMIT`. Any object with these methods will do.
    """

    def admit(  # noqa: PLR0917  # the facts of one call, as the protocol names them
        self,
        group: str,
        code: str | None,
        user: str,
        costly: bool,
        now: datetime,
        limits: Limits,
        call_id: str | None = None,
    ) -> Reason | None:
        """Count one call (of *code*, None for a redirected leg) unless a limit is reached."""
        ...  # pragma: no cover

    def end(self, group: str, call_id: str) -> None:
        """The call *call_id* ended: it no longer counts as in progress."""
        ...  # pragma: no cover

    def forget(self, group: str, code: str) -> None:
        """Drop the counts of *code*: after an administrator restores it."""
        ...  # pragma: no cover


class SuspendStore(Protocol):
    """What :func:`admit` needs from a persistent store to suspend a code (``PolicyStore``)."""

    def suspend(self, group: str, code: str, since: datetime, *, actor: str) -> bool:
        """Persist the suspension of *code*; False when the code is not listed."""
        ...  # pragma: no cover


@attrs.frozen(weakref_slot=False)
class LimitEvent:
    """A call refused for a use limit: what alert hooks receive.

    ``reason`` is the limit reached; ``suspended`` whether the code was suspended for it;
    ``entry`` the code's entry (None for a redirected leg): in memory only, never recorded.
    """

    reason: Reason
    call: Call
    time: datetime
    suspended: bool = False
    entry: CodeEntry | None = None


class UseCounter:
    """Recent calls per code and costly calls per user, in memory, against a group's limits.

    Memory: the calls of each code within the longest window asked for (a code limit bounds
    them), the costly calls of each user within it, and the calls in progress. Call
    :meth:`prune` now and then. Safe for several threads.
    """

    def __init__(self) -> None:
        # (group, code) -> (time, user, costly) of each counted call, oldest first
        self._codes: dict[tuple[str, str], deque[tuple[datetime, str, bool]]] = {}
        # (group, user) -> times of counted costly calls
        self._users: dict[tuple[str, str], deque[datetime]] = {}
        # (group, code) -> {call id: start} of calls in progress; (group, call id) -> code
        self._active: dict[tuple[str, str], dict[str, datetime]] = {}
        self._call_codes: dict[tuple[str, str], str] = {}
        self._mutex = threading.Lock()

    def admit(  # noqa: PLR0917  # the Tracker protocol's signature
        self,
        group: str,
        code: str | None,
        user: str,
        costly: bool,
        now: datetime,
        limits: Limits,
        call_id: str | None = None,
    ) -> Reason | None:
        """Count one call unless a limit of *limits* is reached; that limit's reason if so.

        The code's limits are judged first (in progress, calls, users, costly calls), then the
        user's costly calls. Runtime complexity: O(k) for the k calls counted in the window.
        """
        now = _check_now(now)
        if not isinstance(limits, Limits):
            raise InvalidValueError("limits", limits, "must be a Limits")
        start = now - limits.window
        with self._mutex:
            calls = active = mine = None
            if code is not None:
                calls = self._codes.setdefault((group, code), deque())
                while calls and calls[0][0] <= start:
                    calls.popleft()
                refusal = self._code_refusal(calls, user, costly, limits)
                if refusal is None and limits.concurrent_per_code is not None and call_id:
                    active = self._active.setdefault((group, code), {})
                    for old in [c for c, t in active.items() if t <= now - CALL_LIMIT]:
                        del active[old]
                        self._call_codes.pop((group, old), None)
                    if len(active) >= limits.concurrent_per_code:
                        refusal = Reason.CONCURRENT_LIMIT
                if refusal is not None:
                    return refusal
            if costly and limits.costly_per_user is not None:
                mine = self._users.setdefault((group, user), deque())
                while mine and mine[0] <= start:
                    mine.popleft()
                if len(mine) >= limits.costly_per_user:
                    return Reason.USER_COSTLY_LIMIT
            if calls is not None:
                calls.append((now, user, costly))
            if active is not None and call_id:
                # A call id names one call: counted again, it leaves the code it was under.
                moved = self._call_codes.get((group, call_id))
                if moved is not None and moved != code:
                    self._active.get((group, moved), {}).pop(call_id, None)
                active[call_id] = now
                self._call_codes[group, call_id] = code  # type: ignore[assignment]  # set above
            if mine is not None:
                mine.append(now)
        return None

    @staticmethod
    def _code_refusal(
        calls: deque[tuple[datetime, str, bool]], user: str, costly: bool, limits: Limits
    ) -> Reason | None:
        if limits.calls_per_code is not None and len(calls) >= limits.calls_per_code:
            return Reason.CALLS_LIMIT
        if limits.users_per_code is not None:
            users = {who for _, who, _ in calls}
            if user not in users and len(users) >= limits.users_per_code:
                return Reason.USERS_LIMIT
        if (
            costly
            and limits.costly_per_code is not None
            and sum(1 for _, _, dear in calls if dear) >= limits.costly_per_code
        ):
            return Reason.COSTLY_LIMIT
        return None

    def end(self, group: str, call_id: str) -> None:
        """The call *call_id* ended. Runtime complexity: O(1)."""
        with self._mutex:
            code = self._call_codes.pop((group, call_id), None)
            if code is not None:
                self._active.get((group, code), {}).pop(call_id, None)

    def in_progress(self, group: str, code: str) -> int:
        """How many calls of *code* are counted as in progress. Runtime complexity: O(1)."""
        with self._mutex:
            return len(self._active.get((group, code), {}))

    def forget(self, group: str, code: str) -> None:
        """Drop the counts of *code* (its calls and those in progress). Runtime: O(c)."""
        with self._mutex:
            self._codes.pop((group, code), None)
            for call_id in self._active.pop((group, code), {}):
                self._call_codes.pop((group, call_id), None)

    def prune(self, now: datetime, older_than: timedelta) -> int:
        """Drop counts whose last call is at or before ``now - older_than``; how many.

        Call it now and then with the longest window in use (and at least :data:`CALL_LIMIT`
        for calls in progress). Runtime complexity: O(c + u) for c codes and u users tracked.
        """
        limit = _check_now(now) - older_than
        dropped = 0
        with self._mutex:
            for key in [k for k, c in self._codes.items() if not c or c[-1][0] <= limit]:
                del self._codes[key]
                dropped += 1
            for key in [k for k, t in self._users.items() if not t or t[-1] <= limit]:
                del self._users[key]
                dropped += 1
            for key, active in list(self._active.items()):
                for call_id in [c for c, t in active.items() if t <= limit]:
                    del active[call_id]
                    self._call_codes.pop((key[0], call_id), None)
                if not active:
                    del self._active[key]
                    dropped += 1
        return dropped


_PASSED: Final = frozenset({Reason.AUTHORIZED, Reason.REDIRECT_ALLOWED})


def admit(
    book: CodeBook,
    usage: UseTracker,
    call: Call,
    decision: Decision,
    *,
    now: datetime,
    store: SuspendStore | None = None,
) -> tuple[Decision, LimitEvent | None]:
    """After *decision* on *call*: count the call against the group's limits, or refuse it.

    Only a call let through in AUTHORIZATION mode (AUTHORIZED, or REDIRECT_ALLOWED) in a group
    with a limit on is counted; anything else is returned untouched, emergency calls first of
    all. A call over a limit becomes a BLOCK with the limit's reason and no retry (another try
    would not help); with ``limits.suspend``, a code over one of its own limits is suspended in
    *book*, then in *store* when it has ``suspend`` (audited as the guard). Returns the final
    decision and, for a refusal, the :class:`LimitEvent` to alert. Runtime complexity: that of
    the tracker, plus the store's write.
    """
    if call.call_type is CallType.EMERGENCY or decision.reason not in _PASSED:
        return decision, None
    try:
        limits = book.group(call.group).limits
    except UnknownGroupError:  # removed since the decision: nothing to count
        return decision, None
    if not limits.active:
        return decision, None
    entry = decision.entry
    code = None if entry is None else entry.code
    refusal = usage.admit(
        call.group, code, call.user, call.call_type in COSTLY, now, limits, call.call_id
    )
    if refusal is None:
        return decision, None
    suspended = False
    if limits.suspend and code is not None and refusal in CODE_LIMIT_REASONS:
        try:
            suspended = book.suspend(call.group, code, now)
        except UnknownGroupError:
            suspended = False
        if suspended and store is not None and callable(getattr(store, "suspend", None)):
            store.suspend(call.group, code, now, actor=GUARD_ACTOR)
    blocked = Decision(Verdict.BLOCK, refusal, None, False)
    return blocked, LimitEvent(refusal, call, now, suspended, entry)
