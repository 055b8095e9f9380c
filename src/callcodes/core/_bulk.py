"""Trusted bulk construction: code entries and whole groups built without re-validation.

Only for data that was validated when it was written (the policy store's rows). Building a
``CodeEntry`` through its validators costs about four times as much as setting its six slots,
and ``CodeBook.replace_group`` checks every code again; for a million stored codes that is
seconds. This module sets the slots directly and installs a group in one book batch.

It reaches into the private structure of ``CodeBook`` (``_Group``, ``_writing``, the listed
outcome it stores per code), so it stays minimal; the tests check that it builds exactly what
the public, validating path builds (``CodeBook._check`` included).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

import attrs
from sortedcontainers import SortedDict

from .book import CodeBook, _Group, _place_lock
from .model import CodeEntry, Decision, GroupSettings, Lock, Mode
from .rules import listed_outcome

__all__ = ["install_group", "listed_readers", "no_gc", "row_readers", "validated_new_codes"]

FullReader = Callable[[str, str | None, int, str | None, str | None, int | None, int], object]
PlainReader = Callable[[str, str | None], object]
FlaggedReader = Callable[[str, str | None, int], object]

_NEW: Final = object.__new__
_ENTRY_SLOTS: Final = CodeEntry.__dict__
_DECISION_SLOTS: Final = Decision.__dict__
# The slots set below: a change to either class must show up here, not as a half-built object.
assert [f.name for f in attrs.fields(CodeEntry)] == [
    "code",
    "description",
    "level",
    "valid_from",
    "valid_until",
    "max_uses",
]
assert [f.name for f in attrs.fields(Decision)] == ["verdict", "reason", "entry", "retry"]


def row_readers(uses: dict[str, int]) -> tuple[FullReader, PlainReader]:
    """Make functions that turn stored code rows into ``CodeEntry`` values, skipping validation.

    The first reads a whole row ``(code, description, level, valid_from, valid_until,
    max_uses, uses)`` with times in ISO 8601; the count of a use-limited code that has been used
    goes into *uses*, capped at its limit (the decision is the same: used up). The second reads
    ``(code, description)`` for codes without level, window or limit, which most codes are.
    Repeated descriptions are shared, which saves their memory when many codes carry one.
    Runtime complexity: O(1) per row.
    """
    set_code = _ENTRY_SLOTS["code"].__set__
    set_description = _ENTRY_SLOTS["description"].__set__
    set_level = _ENTRY_SLOTS["level"].__set__
    set_from = _ENTRY_SLOTS["valid_from"].__set__
    set_until = _ENTRY_SLOTS["valid_until"].__set__
    set_max = _ENTRY_SLOTS["max_uses"].__set__
    shared: dict[str, str] = {}
    share = shared.setdefault
    parse = datetime.fromisoformat

    def read(  # noqa: PLR0917  # called by itertools.starmap with a row's columns
        code: str,
        description: str | None,
        level: int,
        valid_from: str | None,
        valid_until: str | None,
        max_uses: int | None,
        used: int,
    ) -> CodeEntry:
        entry = _NEW(CodeEntry)
        set_code(entry, code)
        set_description(entry, None if description is None else share(description, description))
        set_level(entry, level)
        set_from(entry, None if valid_from is None else parse(valid_from))
        set_until(entry, None if valid_until is None else parse(valid_until))
        set_max(entry, max_uses)
        if max_uses is not None and used:
            uses[code] = min(used, max_uses)
        return entry

    def read_plain(code: str, description: str | None) -> CodeEntry:
        entry = _NEW(CodeEntry)
        set_code(entry, code)
        set_description(entry, None if description is None else share(description, description))
        set_level(entry, 0)
        set_from(entry, None)
        set_until(entry, None)
        set_max(entry, None)
        return entry

    return read, read_plain


def listed_readers(
    uses: dict[str, int], mode: Mode, limited: list[str]
) -> tuple[FullReader, FlaggedReader]:
    """Like :func:`row_readers`, but each row gives what a book stores for a listed code.

    That is the outcome the code yields in *mode* (``listed_outcome``), holding the entry. The
    second function reads ``(code, description, flag)``: a row whose flag says it holds more
    than a description gives None and its code goes into *limited*, to be read whole.
    Runtime complexity: O(1) per row.
    """
    read = row_readers(uses)[0]
    template = listed_outcome(mode, CodeEntry("00"))
    verdict, reason, retry = template.verdict, template.reason, template.retry
    set_verdict = _DECISION_SLOTS["verdict"].__set__
    set_reason = _DECISION_SLOTS["reason"].__set__
    set_entry = _DECISION_SLOTS["entry"].__set__
    set_retry = _DECISION_SLOTS["retry"].__set__

    def read_listed(*row: Any) -> Decision:
        outcome = _NEW(Decision)
        set_verdict(outcome, verdict)
        set_reason(outcome, reason)
        set_entry(outcome, read(*row))
        set_retry(outcome, retry)
        return outcome

    set_code = _ENTRY_SLOTS["code"].__set__
    set_description = _ENTRY_SLOTS["description"].__set__
    set_level = _ENTRY_SLOTS["level"].__set__
    set_from = _ENTRY_SLOTS["valid_from"].__set__
    set_until = _ENTRY_SLOTS["valid_until"].__set__
    set_max = _ENTRY_SLOTS["max_uses"].__set__
    shared: dict[str, str] = {}
    share = shared.setdefault

    def read_plain_listed(code: str, description: str | None, flag: int) -> Decision | None:
        if flag:
            limited.append(code)
            return None
        # read_plain's work inlined: this runs once per code of every group loaded.
        entry = _NEW(CodeEntry)
        set_code(entry, code)
        set_description(entry, None if description is None else share(description, description))
        set_level(entry, 0)
        set_from(entry, None)
        set_until(entry, None)
        set_max(entry, None)
        outcome = _NEW(Decision)
        set_verdict(outcome, verdict)
        set_reason(outcome, reason)
        set_entry(outcome, entry)
        set_retry(outcome, retry)
        return outcome

    return read_listed, read_plain_listed


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic objects are built.

    Each collection would walk every object built so far; entries hold no cycles, so nothing
    is lost by waiting. The collector is restored (if it was on) however the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def install_group(
    book: CodeBook,
    group: str,
    settings: GroupSettings,
    outcomes: list[Decision],
    *,
    uses: Mapping[str, int],
    locks: Iterable[Lock],
) -> None:
    """Put a whole group into *book* in one batch, replacing any group of that name.

    *outcomes* come from :func:`listed_readers` with the group's mode; their entries must be valid
    for *settings* and unique, and should come in code order (sorting is then linear). *uses*
    maps use-limited codes to their counts (1 to ``max_uses``).
    Runtime complexity: O(n) for n codes in code order.
    """
    fresh = _Group(settings)
    entries = [outcome.entry for outcome in outcomes]
    keys = [entry.code for entry in entries]  # type: ignore[union-attr]
    fresh.codes = SortedDict(zip(keys, outcomes, strict=True))
    fresh.limited = {entry.code for entry in entries if entry.limited}  # type: ignore[union-attr]
    fresh.uses = dict(uses)
    for lock in locks:
        _place_lock(fresh, lock)
    with book._writing():
        book._groups[group] = fresh


def validated_new_codes(
    group: str, settings: GroupSettings, stored: Collection[str], codes: Iterable[CodeEntry | str]
) -> list[CodeEntry]:
    """Check a batch of new codes exactly as ``CodeBook.add_codes`` does, without a book.

    *stored* holds the codes of the batch that the group already has (only membership is
    read). Returns the entries in batch order, or raises the book's :class:`BatchError`.
    Runtime complexity: O(k) for k codes.
    """
    target = _Group(settings)
    target.codes = stored  # type: ignore[assignment]  # the check only asks "code in codes"
    return CodeBook._validated_new_codes(group, settings, target, codes)
