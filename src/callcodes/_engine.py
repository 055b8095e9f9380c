"""The engine: the stateful facade a softswitch calls, where the clock and the event log enter.

:class:`Engine` holds a :class:`~callcodes.CodeBook`, an optional event sink and a clock.
``Engine.decide`` reads the clock, asks the pure :func:`~callcodes.decide`, records one
:class:`~callcodes.Event`, and returns the decision. The core stays pure: everything stateful
or timed happens here.

Emergency calls are never stopped: whatever fails (the clock, the book, the sink, a hook),
``decide`` returns ALLOW for an emergency call, logs the failure on the ``callcodes.events``
logger and passes it to the ``on_error`` hook. For other calls, a sink that cannot record
raises :class:`~callcodes.SinkError`: the decision was taken but not kept.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from ._decide import decide as _decide
from ._decide import requirement as _requirement
from ._errors import InvalidValueError, SinkError
from ._event import _EPOCH, _row_from_decision, _row_to_event
from ._index import CodeBook
from ._model import Call, CallType, Decision, Need, Reason, Requirement, Verdict
from ._sinks import Sink, _RowSink

__all__ = ["Engine"]

_log = logging.getLogger("callcodes.events")
_EMERGENCY: Final = Decision(Verdict.ALLOW, Reason.EMERGENCY)
_EMERGENCY_REQUIREMENT: Final = Requirement(Need.NONE, 0, 0, Reason.EMERGENCY)

#: Called with the exception and the call whenever recording (or anything, for an emergency
#: call) fails. Its own failures are logged and ignored.
ErrorHook = Callable[[Exception, Call], object]


#: The wall clock in UTC: the engine's default clock.
utc_now: Final[Callable[[], datetime]] = functools.partial(datetime.now, UTC)


def _is_emergency(call: object) -> bool:
    return getattr(call, "call_type", None) is CallType.EMERGENCY


class Engine:
    """Decisions with a clock and an event log: what a softswitch calls on each entry.

    *sink* receives one event per decision (``None``: decide without recording). *clock*
    returns the time as a timezone-aware datetime (default: the UTC wall clock); tests pass
    their own. *on_error* is told of every failure to record, and of any failure on an
    emergency call. Safe for several threads when the sink is (the built-in ones are).
    """

    def __init__(
        self,
        book: CodeBook,
        sink: Sink | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        on_error: ErrorHook | None = None,
    ) -> None:
        if not isinstance(book, CodeBook):
            raise InvalidValueError("book", book, "must be a CodeBook")
        if sink is not None and not callable(getattr(sink, "write", None)):
            raise InvalidValueError("sink", sink, "must have write(event), like the Sink protocol")
        if clock is not None and not callable(clock):
            raise InvalidValueError("clock", clock, "must be a function returning a datetime")
        if on_error is not None and not callable(on_error):
            raise InvalidValueError("on_error", on_error, "must be a function (exc, call)")
        self._book = book
        self._sink = sink
        self._write_row = sink._write_row if isinstance(sink, _RowSink) else None
        self._clock = clock or utc_now
        self._on_error = on_error

    @property
    def book(self) -> CodeBook:
        """The code book decisions are taken from."""
        return self._book

    @property
    def sink(self) -> Sink | None:
        """Where events go (None: not recorded)."""
        return self._sink

    def decide(self, call: Call, code: str | None = None, attempt: int = 1) -> Decision:
        """Decide one entry (or no entry) on *call* now, record the event, return the decision.

        Raises ``SinkError`` when the event cannot be recorded (never for an emergency call),
        and ``InvalidValueError`` on misuse (an attempt below 1, a clock without a timezone).
        Runtime complexity: O(1) plus the sink's write.
        """
        try:
            now = self._now()
            decision = _decide(self._book, call, code, attempt, now=now)
            decision = self._settle(call, code, attempt, decision, now)
        except Exception as exc:
            if not _is_emergency(call):
                raise
            self._failed(exc, call, "deciding")
            return _EMERGENCY
        if self._sink is not None:
            try:
                self._record(now, call, code, attempt, decision)
            except Exception as exc:
                self._failed(exc, call, "recording")
                if _is_emergency(call):
                    return decision
                if isinstance(exc, SinkError):
                    raise
                raise SinkError(f"the event sink failed: {exc!r}; the event was not kept") from exc
        return decision

    def _settle(
        self,
        call: Call,  # noqa: ARG002  # for lockout
        code: str | None,  # noqa: ARG002  # for lockout
        attempt: int,  # noqa: ARG002  # for use counting (retry after USED_UP)
        decision: Decision,
        now: datetime,  # noqa: ARG002  # for lockout windows
    ) -> Decision:
        """What follows a decision and changes state, before it is recorded.

        The place for counting a use of a use-limited code (``CodeBook.consume``, which may
        turn an ALLOW into USED_UP when another call took the last use) and for counting a
        rejected authorization entry toward a lockout. Nothing yet: the decision is returned
        as it is.
        """
        return decision

    def _record(
        self, now: datetime, call: Call, code: object, attempt: int, decision: Decision
    ) -> None:
        found = self._book._groups.get(call.group)
        row = _row_from_decision(
            now, call, decision, None if found is None else found.settings.mode, code, attempt
        )
        write_row = self._write_row
        if write_row is not None:
            write_row(row)
        else:
            assert self._sink is not None
            self._sink.write(_row_to_event(row))

    def requirement(self, call: Call) -> Requirement:
        """Tell, now, whether to prompt for a code on *call* and for how many digits.

        Records nothing. Never raises for an emergency call. Runtime complexity: O(1).
        """
        try:
            return _requirement(self._book, call, now=self._now())
        except Exception as exc:
            if not _is_emergency(call):
                raise
            self._failed(exc, call, "asking what the call requires")
            return _EMERGENCY_REQUIREMENT

    def _now(self) -> datetime:
        now = self._clock()
        if type(now) is datetime and now.tzinfo is UTC and now.year >= 1970:
            return now
        if not isinstance(now, datetime) or now.utcoffset() is None:
            raise InvalidValueError(
                "clock", now, "the engine's clock must return a timezone-aware datetime"
            )
        now = now.astimezone(UTC)
        if now < _EPOCH:
            raise InvalidValueError("clock", now, "the engine's clock must be 1970 UTC or later")
        return now

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
