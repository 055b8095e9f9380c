"""How a store checks a change: with the core's own rules, on a scratch book, before writing.

A store must refuse exactly what a ``CodeBook`` refuses, with the same errors, whatever its
database. So a change is first applied to a scratch book holding just the stored rows it touches
(the group's settings and the entries of the codes named); what the scratch book then holds is
what the store writes. Every backend uses these functions; none checks a value its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Final

from .._errors import ConflictError, InvalidValueError
from ..core import _validate
from ..core.book import CodeBook
from ..core.model import CodeEntry, GroupSettings
from ..dialplan.plan import DialPlan

__all__ = [
    "changed_entries",
    "check_actor",
    "check_enrolled",
    "check_group_name",
    "check_plan",
    "check_time",
    "codes_of",
    "in_code_order",
    "scratch_book",
]

_CODE_OF: Final = attrgetter("code")


def scratch_book(
    group: str, settings: GroupSettings, entries: Iterable[CodeEntry] = ()
) -> CodeBook:
    """A book holding *group* with *settings* and *entries*: where a change is checked first.

    Setting the group up runs the book's checks of the name and the settings.
    """
    scratch = CodeBook()
    scratch.set_group(group, settings)
    stored = list(entries)
    if stored:
        scratch.add_codes(group, stored)
    return scratch


def changed_entries(
    scratch: CodeBook, group: str, before: Mapping[str, CodeEntry | None]
) -> list[tuple[CodeEntry, CodeEntry]]:
    """The ``(old, new)`` entries a change made on *scratch* to codes that were stored."""
    edits: list[tuple[CodeEntry, CodeEntry]] = []
    for code, old in before.items():
        new = scratch.get(group, code)
        if old is not None and new is not None and new != old:
            edits.append((old, new))
    return edits


def codes_of(items: Sequence[object]) -> list[str]:
    """The codes named by a batch's items (entries or strings); anything else is left out."""
    return [
        item.code if isinstance(item, CodeEntry) else item
        for item in items
        if isinstance(item, CodeEntry | str)
    ]


def in_code_order(entries: list[CodeEntry]) -> list[CodeEntry]:
    """Sort a batch by code: B-tree inserts in key order are the fastest."""
    entries.sort(key=_CODE_OF)
    return entries


def check_actor(actor: object) -> None:
    """Refuse an actor that names nobody: every change's audit record says who made it.

    An actor is a name as the core holds names: printable, 1 to 161 characters, no spaces at
    either end (no newline or terminal escape reaches the audit trail).
    """
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidValueError(
            "actor", actor, "name who makes the change (a non-empty string) for the audit trail"
        )
    _validate.check_actor("actor", actor)


def check_group_name(group: object) -> str:
    """*group* if it is a group id an administrator may write: printable, 1 to 30 characters.

    Every change an administrator makes names its group through this check, whoever calls the
    store (the command line or a library caller). A group stored under a name refused today
    (by an older version) can still be read, locked, unlocked and removed.
    """
    return _validate.check_group_id("group", group)


def check_enrolled(
    group: str, old: GroupSettings | None, new: GroupSettings, directory: frozenset[str]
) -> None:
    """Refuse enrolling users who are not in the group's user directory, once it has entries.

    The one home of the directory's rule: the store's own writes and the directory's both ask
    it. *directory* holds the user ids of the group's directory (empty: it has none, and any
    user id may be enrolled); users already enrolled in *old* stay enrolled.
    """
    if not directory:
        return
    before = frozenset() if old is None else old.mandatory_users | old.optional_users
    unknown = sorted((new.mandatory_users | new.optional_users) - before - directory)
    if unknown:
        raise ConflictError(
            f"not in the user directory of group {group!r}: {', '.join(unknown)}; "
            f"add them to the directory first (see callcodes users available {group})"
        )


def check_time(when: object, name: str) -> datetime:
    """*when* if it is an aware datetime (a stored time must say its offset), else refused."""
    if not isinstance(when, datetime) or when.utcoffset() is None:
        raise InvalidValueError(name, when, "must be a timezone-aware datetime (use UTC)")
    return when


def check_plan(plan: object) -> DialPlan:
    """*plan* if it is a dial plan, else refused."""
    if not isinstance(plan, DialPlan):
        raise InvalidValueError("dialplan", plan, "give a callcodes.DialPlan, or None to remove")
    return plan
