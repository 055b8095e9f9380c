"""What a group's index keeps for a code, and the entry and decision it stands for.

A stored code is its decision (which holds its entry), or in a compact book, for a plain code,
just its description. These functions convert between the two forms and build, without
validating again, what a trusted plain code stands for. Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Final, cast

import attrs

from .model import CodeEntry, Decision, Mode, Reason, Verdict
from .plain import plain_entry
from .rules import listed_outcome

__all__ = [
    "DECISION_SETTERS",
    "NEW",
    "NO_DESCRIPTION",
    "TEMPLATE_ENTRY",
    "Listed",
    "entry",
    "entry_of",
    "is_plain",
    "kept",
    "outcome_of",
]

NEW: Final = object.__new__
# Decisions are built by setting their slots directly: a change to its fields must show up here.
assert [f.name for f in attrs.fields(Decision)] == ["verdict", "reason", "entry", "retry"]
DECISION_SETTERS: Final = tuple(
    Decision.__dict__[name].__set__ for name in ("verdict", "reason", "entry", "retry")
)


def entry(listed: Decision) -> CodeEntry:
    """The entry a stored decision holds."""
    entry = listed.entry
    assert entry is not None  # every stored outcome holds its entry
    return entry


class _NoDescription:
    """What the book keeps for a plain code without a description: one object for them all."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<plain code>"


NO_DESCRIPTION: Final = _NoDescription()
TEMPLATE_ENTRY: Final = CodeEntry("00")

#: What a group's index keeps for a code: its decision, which holds its entry (returned as it
#: is: the fastest call). In a compact book, a plain code (a code and at most a description,
#: nearly every code) is kept as its description (or ``NO_DESCRIPTION``) and its decision is
#: built when a call asks (about 0.8 µs more). So a call then reads no object of the code's
#: own, and processes forked after loading (Kamailio's workers) share the loaded pages:
#: CPython writes the reference count of every object it hands out, which would copy the
#: page into each process.
Listed = Decision | str | _NoDescription


def is_plain(entry: CodeEntry) -> bool:
    """Whether *entry* holds no more than a code and a description."""
    return (
        entry.level == 0
        and entry.valid_from is None
        and entry.valid_until is None
        and entry.max_uses is None
        and entry.hours is None
    )


def kept(mode: Mode, entry: CodeEntry, compact: bool) -> Listed:
    """What the index keeps of *entry*: its decision (a plain one's description if compact)."""
    if compact and is_plain(entry):
        return NO_DESCRIPTION if entry.description is None else entry.description
    return listed_outcome(mode, entry)


def entry_of(code: str, listed: Listed) -> CodeEntry:
    """The entry of a listed code (built anew for a plain one)."""
    if type(listed) is Decision:
        return entry(listed)
    return plain_entry(code, None if listed is NO_DESCRIPTION else cast(str, listed))


def outcome_of(verdict: Verdict, reason: Reason, code: str, listed: Listed) -> Decision:
    """The decision a listed *code* yields before its limits. Runtime: O(1).

    *verdict* and *reason* are what the group's listed codes yield in its mode. The stored
    decision, or for a plain code one built now, equal to ``listed_outcome``'s.
    """
    if type(listed) is Decision:
        return listed
    outcome = NEW(Decision)
    set_verdict, set_reason, set_entry, set_retry = DECISION_SETTERS
    set_verdict(outcome, verdict)
    set_reason(outcome, reason)
    set_entry(outcome, entry_of(code, listed))
    set_retry(outcome, False)
    return outcome
