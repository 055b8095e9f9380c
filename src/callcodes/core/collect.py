"""Prompted code entry: a digit collector, as a state machine without I/O and without a clock.

One :class:`Collector` per call. The softswitch plays the prompt, owns the timers and feeds the
collector what happens: a :class:`Key` for each key press (``0``-``9``, ``*``, ``#``) and a
:class:`Timeout` when its inter-digit timer runs out. Each event is answered with
:class:`NeedDigits` (keep listening), :class:`Reprompt` (the entry was rejected; play "invalid
code, try again" and keep listening) or :class:`Finished` (the call's final decision).

An entry ends at ``code_length`` keys, on ``#`` or on a timeout, and is judged as the keys
collected: ``*`` is a key like the others, so an entry holding it is a malformed code. The
transitions are the table ``TRANSITIONS`` below; the docs render it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import attrs

from .._errors import InvalidValueError
from .book import CodeBook
from .decide import decide, requirement
from .model import Call, Decision, Need, Requirement

__all__ = [
    "KEYS",
    "TRANSITIONS",
    "Collector",
    "CollectorState",
    "Finished",
    "Judge",
    "Key",
    "NeedDigits",
    "Reprompt",
    "Timeout",
]

#: The keys a telephone keypad sends during code entry.
KEYS: Final = frozenset("0123456789*#")

#: Judges one entry: ``(code or None, attempt) -> Decision``, as :func:`callcodes.decide` does.
Judge = Callable[[str | None, int], Decision]


def _check_key(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str or value not in KEYS:
        raise InvalidValueError(attribute.name, value, "a key is one of 0-9, '*' and '#'")


@attrs.frozen(weakref_slot=False)
class Key:
    """The caller pressed one key: ``0``-``9``, ``*`` or ``#``."""

    key: str = attrs.field(validator=_check_key, repr=False)  # part of a secret: never shown


@attrs.frozen(weakref_slot=False)
class Timeout:
    """The softswitch's inter-digit timer ran out: the entry ends with the keys collected."""


@attrs.frozen(weakref_slot=False)
class NeedDigits:
    """Keep listening: *collected* keys of entry number *attempt* are in."""

    attempt: int
    collected: int


@attrs.frozen(weakref_slot=False)
class Reprompt:
    """The entry was rejected and another is allowed: prompt again and keep listening.

    ``decision`` is the rejected entry's decision (``retry`` is true); ``attempt`` is the number
    of the entry to collect next.
    """

    decision: Decision
    attempt: int


@attrs.frozen(weakref_slot=False)
class Finished:
    """Collection is over: ``decision`` is what happens to the call.

    ``attempt`` is the entry the decision was taken on (1 when no code was asked for) and
    ``code`` what that entry held (None for no code). ``code`` is kept out of ``repr`` because
    an authorization code is a secret.
    """

    decision: Decision
    attempt: int
    code: str | None = attrs.field(repr=False)


class CollectorState(enum.StrEnum):
    """Where a collector is: listening for keys, or done."""

    COLLECTING = "collecting"
    FINISHED = "finished"


#: ``(state, what happens) -> (next state, answer)``: the whole machine, as data for the docs.
TRANSITIONS: Final = (
    ("collecting", "0-9 or '*', entry not full", "collecting", "NeedDigits"),
    ("collecting", "'#' first in an entry after a full, rejected one", "collecting", "NeedDigits"),
    ("collecting", "key that fills the entry, '#', or timeout; rejected, attempts remain",
     "collecting", "Reprompt"),
    ("collecting", "key that fills the entry, '#', or timeout; otherwise", "finished", "Finished"),
    ("finished", "any event", "finished", "the same Finished"),
)  # fmt: skip


class Collector:
    """Collect the code of one call, entry by entry, and judge each entry as it ends.

    Build it with :meth:`for_call` (judged by :func:`callcodes.decide`) or from a
    :class:`Requirement` and any *judge* (an engine's ``decide``, which records each entry).
    When the call needs no code (``requirement.need`` is NONE) the judge is asked once, with no
    code, and the collector is finished from the start: check :attr:`finished` before prompting.

    Feed it with :meth:`send`. An entry ends at ``requirement.digits`` keys, on ``#`` or on a
    :class:`Timeout`; no entry is judged twice and at most ``requirement.max_attempts`` are
    judged. A ``#`` pressed first after an entry that ended full is the caller's habitual
    terminator and is ignored rather than taken as an empty entry. Events after the end are
    answered with the same :class:`Finished`, so a stray key cannot fail the call path.
    """

    __slots__ = ("_attempt", "_digits", "_finished", "_judge", "_keys", "_max", "_swallow_hash")

    def __init__(self, requirement: Requirement, judge: Judge) -> None:
        if not isinstance(requirement, Requirement):
            raise InvalidValueError("requirement", requirement, "must be a Requirement")
        if not callable(judge):
            raise InvalidValueError(
                "judge", judge, "must be a callable (code, attempt) -> Decision"
            )
        self._judge = judge
        self._digits = requirement.digits
        self._max = requirement.max_attempts
        self._attempt = 1
        self._keys: list[str] = []
        self._swallow_hash = False
        self._finished: Finished | None = None
        if requirement.need is Need.NONE:
            self._finished = Finished(judge(None, 1), 1, None)
        elif self._digits < 1 or self._max < 1:
            raise InvalidValueError(
                "requirement",
                requirement,
                "a code is asked for: give at least 1 digit and at least 1 attempt",
            )

    @classmethod
    def for_call(cls, book: CodeBook, call: Call, *, now: datetime | None = None) -> Collector:
        """A collector for *call* judged by the pure :func:`callcodes.decide` at time *now*.

        Runtime complexity: O(1).
        """
        return cls(
            requirement(book, call, now=now),
            lambda code, attempt: decide(book, call, code, attempt, now=now),
        )

    @property
    def state(self) -> CollectorState:
        """COLLECTING while keys are awaited, FINISHED once the decision is final."""
        return CollectorState.COLLECTING if self._finished is None else CollectorState.FINISHED

    @property
    def finished(self) -> bool:
        """True once the call's decision is final."""
        return self._finished is not None

    @property
    def outcome(self) -> Finished | None:
        """The final answer, or None while collecting."""
        return self._finished

    @property
    def attempt(self) -> int:
        """The number of the entry being collected (or that ended collection)."""
        return self._attempt

    def send(self, event: Key | Timeout) -> NeedDigits | Reprompt | Finished:
        """Feed one event and get the answer. Runtime complexity: O(1) plus one judge call.

        Raises :class:`~callcodes.InvalidValueError` only for an event that is neither a
        :class:`Key` nor a :class:`Timeout` (a programming error, not a caller's mistake).
        """
        if self._finished is not None:
            return self._finished
        if isinstance(event, Timeout):
            return self._end_entry(full=False)
        if not isinstance(event, Key):
            raise InvalidValueError("event", event, "send a Key or a Timeout")
        key = event.key
        if key == "#":
            if self._swallow_hash and not self._keys:
                self._swallow_hash = False
                return NeedDigits(self._attempt, 0)
            return self._end_entry(full=False)
        self._swallow_hash = False
        self._keys.append(key)
        if len(self._keys) >= self._digits:
            return self._end_entry(full=True)
        return NeedDigits(self._attempt, len(self._keys))

    def send_keys(self, keys: str) -> NeedDigits | Reprompt | Finished:
        """Feed each key of *keys* in turn and return the last answer (for scripts and tests).

        Runtime complexity: O(len(keys)) plus one judge call per entry ended.
        """
        answer: NeedDigits | Reprompt | Finished = NeedDigits(self._attempt, len(self._keys))
        for key in keys:
            answer = self.send(Key(key))
        return self._finished or answer

    def _end_entry(self, *, full: bool) -> Reprompt | Finished:
        code = "".join(self._keys) or None
        attempt = self._attempt
        decision = self._judge(code, attempt)
        if decision.retry and attempt < self._max:
            self._attempt = attempt + 1
            self._keys = []
            self._swallow_hash = full
            return Reprompt(decision, self._attempt)
        if decision.retry:  # the judge allows more entries than the requirement said: stop here
            decision = attrs.evolve(decision, retry=False)
        self._keys = []
        self._finished = Finished(decision, attempt, code)
        return self._finished
