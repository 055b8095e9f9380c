"""Trusted bulk loading: one group built from a store's rows and installed in a book at once.

The store validated every row when it wrote it, so loading builds only what the book keeps per
code, without running the validators again. Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sortedcontainers import SortedDict

from .._errors import InvalidValueError
from .book import CodeBook, _Group, _place_lock
from .model import CodeEntry, Decision, GroupSettings, Lock
from .plain import ENTRY_SETTERS, entry_reader
from .rules import listed_outcome
from .stored import (
    DECISION_SETTERS,
    NEW,
    NO_DESCRIPTION,
    TEMPLATE_ENTRY,
    Listed,
    entry,
    kept,
)

__all__ = ["GroupLoader"]


class GroupLoader:
    """One group built from a store's rows, which were validated when written, then installed.

    Most codes hold only a description: they come as ``(code, description, more)`` rows through
    :meth:`add_rows`, where *more* says that the row also holds a level, a validity window or a
    use limit; those codes are returned, to be given whole to :meth:`add_full`. :meth:`install`
    then puts the group into a book in one batch. Nothing is validated again, so this builds,
    per code, only what the book keeps (a plain code's description, another code's outcome
    holding its entry); the tests check that it builds exactly what ``CodeBook.replace_group``
    builds.
    """

    __slots__ = ("_compact", "_listed", "_settings", "_uses")

    def __init__(self, settings: GroupSettings, *, compact: bool = False) -> None:
        """Start an empty group with *settings*, for a book that is *compact* or not."""
        self._settings = settings
        self._compact = compact
        self._listed: list[tuple[str, Listed]] = []
        self._uses: dict[str, int] = {}

    def add_rows(self, rows: Iterable[tuple[str, str | None, object]]) -> list[str]:
        """Add ``(code, description, more)`` rows; return the codes whose *more* is true.

        Rows should come in code order (sorting is then linear). Runtime complexity: O(1) per
        row.
        """
        pending: list[str] = []
        listed = list(itertools.starmap(self._plain_reader(pending), rows))
        if pending:
            listed = [item for item in listed if item is not None]
        self._listed += cast(list[tuple[str, Listed]], listed)  # the Nones were left out
        return pending

    def add_full(
        self,
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        """Add whole rows: ``(code, description, level, valid_from, valid_until, max_uses, uses)``.

        A row may end with the code's hours, in their text form (left out or None: any time).
        Times are aware datetimes or None. The use count of a use-limited code is kept, capped
        at its limit (the decision is the same: used up). Runtime complexity: O(1) per row.
        """
        read, mode = entry_reader(), self._settings.mode
        for code, description, level, valid_from, valid_until, max_uses, used, *hours in rows:
            entry = read(code, description, level, valid_from, valid_until, max_uses, *hours)
            self._listed.append((code, kept(mode, entry, self._compact)))
            if max_uses is not None and used:
                self._uses[code] = min(used, max_uses)

    def install(
        self,
        book: CodeBook,
        group: str,
        locks: Iterable[Lock] = (),
        suspended: Mapping[str, datetime] | None = None,
    ) -> None:
        """Put the group into *book* in one batch, replacing any group of that name.

        The codes given must be unique and valid for the settings (as stored rows are). The
        loader is empty afterwards. Runtime complexity: O(n) for n codes in code order.
        """
        if book.compact != self._compact:
            raise InvalidValueError("book", book, "a loader fills books as compact as itself")
        fresh = _Group(self._settings, compact=self._compact)
        listed, self._listed = self._listed, []
        fresh.codes = SortedDict(listed)
        fresh.suspended = {c: t for c, t in (suspended or {}).items() if c in fresh.codes}
        # Only a code kept whole can be limited (a plain one has no window, limit or hours).
        fresh.limited = {
            code for code, stored in listed if type(stored) is Decision and entry(stored).limited
        }
        fresh.limited |= fresh.suspended.keys()
        fresh.uses, self._uses = self._uses, {}
        for lock in locks:
            _place_lock(fresh, lock)
        with book._writing():
            book._groups[group] = fresh

    def _plain_reader(self, pending: list[str]) -> Callable[..., tuple[str, Listed] | None]:
        shared: dict[str, str] = {}
        share = shared.setdefault
        if self._compact:

            def kept(code: str, description: str | None, more: object) -> tuple[str, Listed] | None:
                if more:
                    pending.append(code)
                    return None
                if description is None:
                    return code, NO_DESCRIPTION
                return code, share(description, description)

            return kept
        template = listed_outcome(self._settings.mode, TEMPLATE_ENTRY)
        verdict, reason, retry = template.verdict, template.reason, template.retry
        set_verdict, set_reason, set_entry, set_retry = DECISION_SETTERS
        set_code, set_description, set_level, set_from, set_until, set_max, set_hours = (
            ENTRY_SETTERS
        )

        # One function builds the entry and its outcome: this runs once per code of every group
        # loaded, and a second function call per row would slow every load.
        def read(code: str, description: str | None, more: object) -> tuple[str, Listed] | None:
            if more:
                pending.append(code)
                return None
            entry = NEW(CodeEntry)
            set_code(entry, code)
            set_description(entry, None if description is None else share(description, description))
            set_level(entry, 0)
            set_from(entry, None)
            set_until(entry, None)
            set_max(entry, None)
            set_hours(entry, None)
            outcome = NEW(Decision)
            set_verdict(outcome, verdict)
            set_reason(outcome, reason)
            set_entry(outcome, entry)
            set_retry(outcome, retry)
            return code, outcome

        return read
