"""The engine: the stateful facade a softswitch calls, where the clock and the event log enter.

:class:`Engine` holds a :class:`~callcodes.CodeBook`, an optional event sink and a clock.
``Engine.decide`` reads the clock, asks the pure :func:`~callcodes.decide`, records one
:class:`~callcodes.Event`, and returns the decision. The core stays pure: everything stateful
or timed happens here, including the toll-fraud guard (:func:`~callcodes.settle`): use counts,
failed entries, locks (written through to a store when the engine has one), lock events in the
event log and the ``on_lock`` alert hook.

Emergency calls are never stopped: whatever fails (the clock, the book, the sink, a hook),
``decide`` returns ALLOW for an emergency call, logs the failure on the ``callcodes.events``
logger and passes it to the ``on_error`` hook. For other calls, a sink that cannot record
raises :class:`~callcodes.SinkError`: the decision was taken but not kept. A deferred sink
(``FlushPolicy.deferred``) takes the event at once and acknowledges it later; a batch it could
not write makes the next decision raise (and tell ``on_error``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, NamedTuple, cast

from ._errors import InvalidValueError, SinkError
from ._timefmt import EPOCH as _EPOCH
from .core.book import CodeBook
from .core.collect import Collector
from .core.decide import decide as _decide
from .core.decide import requirement as _requirement
from .core.guard import (
    GUARD_ACTOR,
    FailureTracker,
    LockChange,
    LockEvent,
    LockStore,
    Tracker,
    settle,
    tracker_missing,
)
from .core.model import Call, CallType, Decision, Lock, Mode, Need, Reason, Requirement, Verdict
from .core.usage import LimitEvent, SuspendStore, UseCounter, UseTracker, admit
from .events.event import Event, Row, mask_inline, row_from_decision, row_to_event
from .events.sinks import RowSink, Sink

__all__ = ["Engine"]

_log = logging.getLogger("callcodes.events")
_EMERGENCY: Final = Decision(Verdict.ALLOW, Reason.EMERGENCY)
_EMERGENCY_REQUIREMENT: Final = Requirement(Need.NONE, 0, 0, Reason.EMERGENCY)
_BLOCK: Final = Verdict.BLOCK
_ALLOW: Final = Verdict.ALLOW
_REDIRECT_ALLOWED: Final = Reason.REDIRECT_ALLOWED


class _UnknownGroup(NamedTuple):
    """What an event records of a group the book does not hold: no mode, no code prefix."""

    mode: None = None
    code_prefix: str = ""
    code_length: int = 0


_UNKNOWN_GROUP: Final = _UnknownGroup()

#: Called with the exception and the call whenever recording (or anything, for an emergency
#: call) fails. Its own failures are logged and ignored.
ErrorHook = Callable[[Exception, Call], object]

#: Called with a :class:`~callcodes.LockEvent` whenever a lock is put in place or lifted (the
#: alert hook). Its own failures are logged and ignored.
LockHook = Callable[[LockEvent], object]

#: Called with a :class:`~callcodes.core.usage.LimitEvent` whenever a call is refused for a use
#: limit (the alert hook of the use limits). Its own failures are logged and ignored.
LimitHook = Callable[[LimitEvent], object]


#: The wall clock in UTC: the engine's default clock.
utc_now: Final[Callable[[], datetime]] = functools.partial(datetime.now, UTC)


def _write_event(sink: Sink, row: Row) -> None:
    sink.write(row_to_event(row))


def _checked(clock: Callable[[], object]) -> Callable[[], datetime]:
    """*clock*, its times checked: aware, and from 1970 on; other offsets turned to UTC."""

    def now() -> datetime:
        when = clock()
        if type(when) is datetime and when.tzinfo is UTC and when.year >= 1970:
            return when
        if not isinstance(when, datetime) or when.utcoffset() is None:
            raise InvalidValueError(
                "clock", when, "the engine's clock must return a timezone-aware datetime"
            )
        when = when.astimezone(UTC)
        if when < _EPOCH:
            raise InvalidValueError("clock", when, "the engine's clock must be 1970 UTC or later")
        return when

    return now


def _is_emergency(call: object) -> bool:
    return getattr(call, "call_type", None) is CallType.EMERGENCY


class Engine:
    """Decisions with a clock and an event log: what a softswitch calls on each entry.

    *sink* receives one event per decision (``None``: decide without recording); a built-in
    sink gets it as a row, without building an ``Event``. *clock* returns the time as a
    timezone-aware datetime (default: the UTC wall clock, trusted; another clock's times are
    checked); tests pass their own. *on_error* is told of every failure to record, and of any
    failure on an emergency call. Safe for several threads when the sink is (the built-in ones
    are).

    Toll-fraud guard: failed authorization entries are counted in ``tracker`` (by default a
    ``FailureTracker`` per engine, in memory; pass any :class:`~callcodes.core.guard.Tracker`,
    such as one shared by several processes that decide for one group) and
    lock the user or group when the group's ``Lockout`` says so; an authorized use-limited
    code uses one call. With a *store* (a ``PolicyStore``, or anything
    with its ``consume``, ``lock`` and ``unlock``), use counts and locks are written through to
    it, so they survive a restart and reach the store's audit trail. Each lock and unlock is
    recorded in the event log (reason ``locked out``, see docs/security.md) and passed to
    *on_lock*.

    Use limits (a group's ``limits``): each call let through in such a group is counted in
    *usage* (by default a ``UseCounter`` per engine; pass one shared by several processes),
    and a call over a limit is blocked with the limit's reason, recorded like any decision and
    passed to *on_limit*; the group may also suspend the code (in the book and, when the store
    has ``suspend``, in the store) until :meth:`restore`.
    """

    def __init__(
        self,
        book: CodeBook,
        sink: Sink | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        on_error: ErrorHook | None = None,
        store: LockStore | None = None,
        on_lock: LockHook | None = None,
        tracker: Tracker | None = None,
        usage: UseTracker | None = None,
        on_limit: LimitHook | None = None,
    ) -> None:
        if not isinstance(book, CodeBook):
            raise InvalidValueError("book", book, "must be a CodeBook")
        if sink is not None and not callable(getattr(sink, "write", None)):
            raise InvalidValueError("sink", sink, "must have write(event), like the Sink protocol")
        if clock is not None and not callable(clock):
            raise InvalidValueError("clock", clock, "must be a function returning a datetime")
        if on_error is not None and not callable(on_error):
            raise InvalidValueError("on_error", on_error, "must be a function (exc, call)")
        if store is not None and not all(
            callable(getattr(store, name, None)) for name in ("consume", "lock", "unlock")
        ):
            raise InvalidValueError(
                "store", store, "must have consume, lock and unlock, like PolicyStore"
            )
        if on_lock is not None and not callable(on_lock):
            raise InvalidValueError("on_lock", on_lock, "must be a function (lock_event)")
        if tracker is not None and (missing := tracker_missing(tracker)):
            raise InvalidValueError(
                "tracker",
                tracker,
                "must have record, count and forget, like FailureTracker (the Tracker "
                f"protocol); missing: {', '.join(missing)}",
            )
        if usage is not None and not all(
            callable(getattr(usage, name, None)) for name in ("admit", "end", "forget")
        ):
            raise InvalidValueError(
                "usage", usage, "must have admit, end and forget, like UseCounter"
            )
        if on_limit is not None and not callable(on_limit):
            raise InvalidValueError("on_limit", on_limit, "must be a function (limit_event)")
        self._book = book
        self._sink = sink
        # Where a decision's row goes: straight to a built-in sink, as an Event to another one.
        self._record_row: Callable[[Row], object] | None = None
        if isinstance(sink, RowSink):
            self._record_row = sink._write_row
        elif sink is not None:
            self._record_row = functools.partial(_write_event, sink)
        # The default clock gives aware UTC times; another is checked on every reading.
        self._clock: Callable[[], datetime] = utc_now if clock is None else _checked(clock)
        self._on_error = on_error
        self._store = store
        self._on_lock = on_lock
        self._tracker: Tracker = FailureTracker() if tracker is None else tracker
        self._usage: UseTracker = UseCounter() if usage is None else usage
        self._on_limit = on_limit

    @property
    def book(self) -> CodeBook:
        """The code book decisions are taken from."""
        return self._book

    @property
    def sink(self) -> Sink | None:
        """Where events go (None: not recorded)."""
        return self._sink

    @property
    def usage(self) -> UseTracker:
        """The recent uses per code and user, which decide the use limits."""
        return self._usage

    @property
    def tracker(self) -> Tracker:
        """The recent failed entries per user and group, which decide the next locks."""
        return self._tracker

    def decide(self, call: Call, code: str | None = None, attempt: int = 1) -> Decision:
        """Decide one entry (or no entry) on *call* now, record the event, return the decision.

        Raises ``SinkError`` when the event cannot be recorded (never for an emergency call),
        and ``InvalidValueError`` on misuse (an attempt below 1, a clock without a timezone).
        Runtime complexity: O(1) plus the sink's write.
        """
        try:
            now = self._clock()
            decision = _decide(self._book, call, code, attempt, now=now)
            entry = decision.entry
            if decision.verdict is _ALLOW and (
                entry is not None or decision.reason is _REDIRECT_ALLOWED
            ):
                found = self._book._groups.get(call.group)
                if found is not None and found.settings.limits.active:
                    decision = self._admit(call, decision, now)
                    entry = decision.entry
            if decision.verdict is _BLOCK or (entry is not None and entry.max_uses is not None):
                decision, locks = self._settle(call, attempt, decision, now)
                if locks:
                    return self._lock_out(call, code, attempt, decision, now, locks)
        except Exception as exc:
            if not _is_emergency(call):
                raise
            self._failed(exc, call, "deciding")
            return _EMERGENCY
        record = self._record_row
        if record is None:
            return decision
        try:  # _record, written out: this is the path of almost every call
            found = self._book._groups.get(call.group)
            group = _UNKNOWN_GROUP if found is None else found.settings
            mode, prefix, length = group.mode, group.code_prefix, group.code_length
            record(row_from_decision(now, call, decision, mode, code, attempt, prefix, length))
        except Exception as exc:  # noqa: BLE001  # raised again, except for an emergency call
            return self._not_recorded(exc, call, decision)
        return decision

    def _record(
        self, now: datetime, call: Call, code: object, attempt: int, decision: Decision
    ) -> None:
        """Write the decision's event: a row straight to a built-in sink, else an Event."""
        assert self._record_row is not None
        found = self._book._groups.get(call.group)
        group = _UNKNOWN_GROUP if found is None else found.settings
        prefix, length = group.code_prefix, group.code_length
        self._record_row(
            row_from_decision(now, call, decision, group.mode, code, attempt, prefix, length)
        )

    def _lock_out(  # noqa: PLR0917  # the rare path of decide, with its arguments
        self,
        call: Call,
        code: object,
        attempt: int,
        decision: Decision,
        now: datetime,
        locks: tuple[Lock, ...],
    ) -> Decision:
        """Alert and record the locks that *decision* put in place, after its own event."""
        changes = [LockEvent(LockChange.LOCKED, lock, now, GUARD_ACTOR, call) for lock in locks]
        for change in changes:
            self._alert(change)
        if self._sink is None:
            return decision
        try:
            self._record(now, call, code, attempt, decision)
            for change in changes:
                self._sink.write(_lock_event(change, attempt, self._book))
        except Exception as exc:  # noqa: BLE001  # raised again, except for an emergency call
            return self._not_recorded(exc, call, decision)
        return decision

    def _not_recorded(self, exc: Exception, call: Call, decision: Decision) -> Decision:
        """Tell of a failure to record; raise it as SinkError, except for an emergency call."""
        self._failed(exc, call, "recording")
        if _is_emergency(call):
            return decision
        if isinstance(exc, SinkError):
            raise exc
        raise SinkError(f"the event sink failed: {exc!r}; the event was not kept") from exc

    def _settle(
        self, call: Call, attempt: int, decision: Decision, now: datetime
    ) -> tuple[Decision, tuple[Lock, ...]]:
        """Count a use of a use-limited code, or a failed entry and the locks it makes due.

        ``settle`` may turn an ALLOW into USED_UP when another call took the last use.
        """
        return settle(
            self._book, self._tracker, call, decision, attempt=attempt, now=now, store=self._store
        )

    def _admit(self, call: Call, decision: Decision, now: datetime) -> Decision:
        """Count a call let through against its group's use limits, or refuse and alert."""
        store = self._store if callable(getattr(self._store, "suspend", None)) else None
        decision, limit = admit(
            self._book, self._usage, call, decision, now=now, store=cast(SuspendStore, store)
        )
        if limit is not None and self._on_limit is not None:
            try:
                self._on_limit(limit)
            except Exception:  # noqa: BLE001  # an alert that fails must never stop a call
                _log.exception("the on_limit hook failed")
        return decision

    def end(self, group: str, call_id: str) -> None:
        """The call *call_id* of *group* ended: it no longer counts toward concurrent calls.

        For softswitches that report call ends (Kamailio's dialog module). Runtime: O(1).
        """
        self._usage.end(group, call_id)

    def restore(self, group: str, code: str, *, actor: str) -> bool:
        """Lift the suspension of *code* as administrator *actor*; whether it was suspended.

        Lifts it in the book and, when the store has ``restore``, in the store (which audits
        it); the code's use counts start afresh. Runtime complexity: O(1) plus the store's write.
        """
        if not isinstance(actor, str) or not actor.strip():
            raise InvalidValueError("actor", actor, "name who restores (a non-empty string)")
        stored = False
        restore = getattr(self._store, "restore", None)
        if callable(restore):
            stored = bool(restore(group, code, actor=actor))
        lifted = self._book.restore(group, code)
        self._usage.forget(group, code)
        return lifted or stored

    def unlock(self, group: str, user: str | None = None, *, actor: str) -> bool:
        """Lift the lock on *user* (on the whole group when None), as administrator *actor*.

        Lifts it in the book and, with a store, in the store (which audits it); starts the
        failure count afresh; records an event and tells ``on_lock``. Returns whether a lock
        was lifted. Runtime complexity: O(u log u) for u locked users, plus the store's write.
        """
        if not isinstance(actor, str) or not actor.strip():
            raise InvalidValueError("actor", actor, "name who unlocks (a non-empty string)")
        held = [lock for lock in self._book.locks(group) if lock.user == user]
        stored = False
        if self._store is not None:
            stored = self._store.unlock(group, user, actor=actor)
        lifted = self._book.unlock(group, user)
        self._tracker.forget(group, user)
        if not (lifted or stored):
            return False
        now = self._clock()
        lock = held[0] if held else Lock(group, user, now)
        change = LockEvent(LockChange.UNLOCKED, lock, now, actor)
        self._alert(change)
        if self._sink is not None:
            self._sink.write(_lock_event(change, 1, self._book))
        return True

    def locks(self, group: str) -> list[Lock]:
        """The group's locks that hold now, group lock first. Runtime: O(u log u)."""
        return self._book.locks(group, self._clock())

    def collector(self, call: Call) -> Collector:
        """A digit collector for *call* whose entries this engine judges, records and guards.

        Runtime complexity: O(1), plus one recorded decision when the call needs no code.
        """
        return Collector(
            self.requirement(call), lambda code, attempt: self.decide(call, code, attempt)
        )

    def _alert(self, change: LockEvent) -> None:
        hook = self._on_lock
        if hook is not None:
            try:
                hook(change)
            except Exception:  # noqa: BLE001  # an alert that fails must never stop a call
                _log.exception("the on_lock hook failed")

    def requirement(self, call: Call) -> Requirement:
        """Tell, now, whether to prompt for a code on *call* and for how many digits.

        Records nothing. Never raises for an emergency call. Runtime complexity: O(1).
        """
        try:
            return _requirement(self._book, call, now=self._clock())
        except Exception as exc:
            if not _is_emergency(call):
                raise
            self._failed(exc, call, "asking what the call requires")
            return _EMERGENCY_REQUIREMENT

    def _failed(self, exc: Exception, call: Call, doing: str) -> None:
        """Tell the log (for an emergency call, which goes on) and the hook about *exc*."""
        if _is_emergency(call):
            _log.error(
                "emergency call %r allowed although %s failed: %s",
                getattr(call, "call_id", None),
                doing,
                exc,
                exc_info=exc,
            )
        hook = self._on_error
        if hook is not None:
            try:
                hook(exc, call)
            except Exception:  # noqa: BLE001  # a failing hook must never stop a call
                _log.exception("the on_error hook failed")


def _lock_event(change: LockEvent, attempt: int, book: CodeBook) -> Event:
    """The event-log record of a lock change: reason LOCKED_OUT, a description says which.

    A lock is a BLOCK on the call whose entry caused it; an unlock is LOG_ONLY, without a call.
    ``user`` is empty for a group lock.
    """
    lock = change.lock
    who = "group" if lock.user is None else "user"
    if change.change is LockChange.LOCKED:
        until = "unlocked" if lock.until is None else lock.until.astimezone(UTC).isoformat()
        description = f"{who} locked until {until}"
    else:
        actor = "".join(c for c in change.actor if c.isprintable())
        description = f"{who} unlocked by {actor}"[:80]
    call = change.call
    dialed = ""
    if call is not None:
        found = book._groups.get(call.group)
        dialed = call.dialed
        if found is not None:
            settings = found.settings
            dialed = mask_inline(dialed, settings.code_prefix, settings.code_length)
    return Event(
        change.time,
        lock.group,
        lock.user or "",
        dialed,
        CallType.UNKNOWN if call is None else call.call_type,
        Mode.AUTHORIZATION,
        Verdict.BLOCK if change.change is LockChange.LOCKED else Verdict.LOG_ONLY,
        Reason.LOCKED_OUT,
        attempt,
        False,
        None if call is None else call.call_id,
        None,
        None,
        description,
    )
