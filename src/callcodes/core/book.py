"""The code index: every group's settings, codes, use counts and locks, in memory.

``CodeBook`` is the only mutable structure of the core. Each group keeps its codes in a
``SortedDict``: a ``dict`` for O(1) exact lookup on the call path, and a sorted key list for
listing and prefix search in O(log n + k). The value stored for a code is the decision it yields
in the group's mode (rule 7 or 10 of the table), which holds its entry: the call path returns it
as it is rather than building an object per call. A compact book keeps a plain code as its
description instead, and builds its decision per call (:mod:`.stored`): for processes that share
the loaded pages after a fork. Writers validate a whole batch before touching anything, so a
refused batch changes nothing.

Readers never take a lock on the call path, yet never see half a batch. A decision reads one
group object once; what it reads from it together (settings, the call types they code, the
mode each stored outcome was built for) is never changed in place: a settings change builds a
new group object and swaps it in with one assignment. What is changed in place is read one key
at a time (a code, a user's lock, a use count), and a decision reads one code. This relies on
the GIL making each single dictionary or attribute operation atomic, which CPython guarantees.
Writers are serialised by one lock, which the administrator's multi-key reads also take.

A store installs whole groups read from its rows with :class:`~.loader.GroupLoader`, the one
way in that skips validation: the rows were validated when they were written, and checking a
million codes again would cost seconds.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Final

import attrs
from sortedcontainers import SortedDict

from .._errors import BatchError, ConflictError, InvalidValueError, RowError, UnknownGroupError
from .model import (
    MAX_CODE_LENGTH,
    CallType,
    CodeEntry,
    GroupSettings,
    Lock,
    Mode,
    description_problem,
    is_code,
)
from .rules import listed_outcome
from .stored import TEMPLATE_ENTRY, Listed, entry_of, kept, outcome_of

__all__ = ["CodeBook", "no_gc", "validated_new_codes"]

#: What ``settings_for`` gives a group the book does not hold.
_DEFAULTS: Final = GroupSettings()


class _Group:
    """One group's state, changed only under the book's write lock.

    ``settings``, ``coded`` and the mode of the outcomes in ``codes`` belong together and are
    never changed in place: a settings change swaps in a new ``_Group``.
    """

    __slots__ = (
        "checks",
        "coded",
        "codes",
        "compact",
        "group_lock",
        "limited",
        "reason",
        "settings",
        "suspended",
        "user_locks",
        "uses",
        "verdict",
    )

    def __init__(self, settings: GroupSettings, *, compact: bool = False) -> None:
        self.settings = settings
        self.compact = compact  # plain codes kept without an object of their own (see Listed)
        self.coded: frozenset[CallType] = _coded(settings)
        # What a listed code yields in this mode: a plain code's decision is built from it.
        template = listed_outcome(settings.mode, TEMPLATE_ENTRY)
        self.verdict, self.reason = template.verdict, template.reason
        # Whether a call type has a minimum level or allowed hours: one test on the call path.
        self.checks = bool(settings.min_levels or settings.hours)
        # code -> what the book keeps of it (see Listed): its decision, or for a plain code
        # just its description
        self.codes: SortedDict[str, Listed] = SortedDict()
        # The codes with a window, a use limit or hours, and the suspended ones: the call path
        # reads an entry only for these (an extra memory access per call, which a million-code
        # group notices). Writers add a code here before storing it and discard it after.
        self.limited: set[str] = set()
        # code -> when it was suspended (a use limit reached), until an administrator restores it
        self.suspended: dict[str, datetime] = {}
        self.uses: dict[str, int] = {}
        self.user_locks: dict[str, Lock] = {}
        self.group_lock: Lock | None = None


def _coded(settings: GroupSettings) -> frozenset[CallType]:
    return frozenset(t for t in CallType if settings.needs_code(t))


def _entry_or_row_error(row: int, item: object) -> CodeEntry | RowError:
    if isinstance(item, CodeEntry):
        return item
    try:
        return CodeEntry(item)  # type: ignore[arg-type]  # validated right here
    except InvalidValueError as exc:
        return RowError(row, str(item), exc.problem)


def _prefix_end(prefix: str) -> str:
    """Return the smallest digit string greater than every string that starts with *prefix*."""
    head = prefix.rstrip("9")
    if not head:
        return ":"  # every code starts with "9...": ":" sorts after "9"
    return head[:-1] + chr(ord(head[-1]) + 1)


class CodeBook:
    """Groups, their settings and their codes: the policy that ``decide`` reads.

    Safe for many reader threads and concurrent writers: writes are serialised and every batch is
    all-or-nothing for readers too.
    """

    def __init__(self, *, compact: bool = False) -> None:
        """An empty book. *compact* keeps no object per plain code (see ``compact``)."""
        self.compact = compact
        self._groups: dict[str, _Group] = {}
        self._write_lock = threading.RLock()
        self._version = 0

    # -- writing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._write_lock:
            try:
                yield
            finally:
                self._version += 1

    def _get(self, group: str) -> _Group:
        found = self._groups.get(group)
        if found is None:
            raise UnknownGroupError(group)
        return found

    def set_group(self, group: str, settings: GroupSettings) -> None:
        """Create *group* or change its settings; its codes are kept.

        Refused with :class:`ConflictError` when the group holds codes of another length.
        Runtime complexity: O(1); O(n) when the mode changes to or from ACCOUNT.
        """
        _check_group_args(group, settings)
        with self._write_lock:
            existing = self._groups.get(group)
            if existing is not None and existing.settings.code_length != settings.code_length:
                in_the_way = len(existing.codes)
                if in_the_way:
                    raise ConflictError(
                        f"group {group!r} holds {in_the_way} code(s) of "
                        f"{existing.settings.code_length} digits; delete them before changing "
                        f"code_length to {settings.code_length}"
                    )
            fresh = _Group(settings, compact=self.compact)
            if existing is not None:
                fresh.codes = existing.codes
                if (existing.settings.mode is Mode.ACCOUNT) != (settings.mode is Mode.ACCOUNT):
                    fresh.codes = SortedDict(
                        (code, kept(settings.mode, entry_of(code, listed), fresh.compact))
                        for code, listed in existing.codes.items()
                    )
                fresh.limited = existing.limited
                fresh.suspended = existing.suspended
                fresh.uses = existing.uses
                fresh.user_locks = existing.user_locks
                fresh.group_lock = existing.group_lock
            with self._writing():
                self._groups[group] = fresh

    def replace_group(
        self,
        group: str,
        settings: GroupSettings,
        codes: Iterable[CodeEntry | str] = (),
        *,
        uses: Mapping[str, int] | None = None,
        locks: Iterable[Lock] = (),
        suspended: Mapping[str, datetime] | None = None,
    ) -> None:
        """Replace a whole group (settings, codes, use counts, locks, suspensions) in one batch.

        Used by stores and imports. All-or-nothing: every bad code is reported in one
        :class:`BatchError`. Runtime complexity: O(n log n) for n codes.
        """
        _check_group_args(group, settings)
        fresh = _Group(settings, compact=self.compact)
        entries = self._validated_new_codes(group, settings, fresh, codes)
        fresh.codes = SortedDict((e.code, kept(settings.mode, e, fresh.compact)) for e in entries)
        fresh.suspended = {c: t for c, t in (suspended or {}).items() if c in fresh.codes}
        fresh.limited = {e.code for e in entries if e.limited} | fresh.suspended.keys()
        fresh.uses = {code: count for code, count in (uses or {}).items() if code in fresh.codes}
        for lock in locks:
            _place_lock(fresh, lock)
        with self._writing():
            self._groups[group] = fresh

    def remove_group(self, group: str) -> None:
        """Delete a group with its codes. Runtime complexity: O(1)."""
        with self._write_lock:
            self._get(group)
            with self._writing():
                del self._groups[group]

    def add_codes(self, group: str, codes: Iterable[CodeEntry | str]) -> None:
        """Add codes to *group* in one all-or-nothing batch.

        A plain string is taken as a code without a description. Every bad row (malformed code,
        wrong length, duplicate in the batch or of a stored code) is reported in one
        :class:`BatchError`, and nothing changes. Runtime complexity: O(k log(n + k)) for k codes.
        """
        with self._write_lock:
            found = self._get(group)
            entries = self._validated_new_codes(group, found.settings, found, codes)
            with self._writing():
                mode = found.settings.mode
                found.limited.update(e.code for e in entries if e.limited)
                found.codes.update((e.code, kept(mode, e, found.compact)) for e in entries)

    @staticmethod
    def _validated_new_codes(
        group: str, settings: GroupSettings, target: _Group, codes: Iterable[CodeEntry | str]
    ) -> list[CodeEntry]:
        entries: list[CodeEntry] = []
        bad: list[RowError] = []
        seen: set[str] = set()
        for row, item in enumerate(codes, start=1):
            entry = _entry_or_row_error(row, item)
            if isinstance(entry, RowError):
                bad.append(entry)
                continue
            code = entry.code
            if len(code) != settings.code_length:
                bad.append(
                    RowError(
                        row, code, f"has {len(code)} digits; the group uses {settings.code_length}"
                    )
                )
            elif code in seen:
                bad.append(RowError(row, code, "appears twice in this batch"))
            elif code in target.codes:
                bad.append(RowError(row, code, "is already on the group's list"))
            seen.add(code)
            entries.append(entry)
        if bad:
            raise BatchError(f"add codes to group {group!r}", bad)
        return entries

    def edit_codes(self, group: str, descriptions: Mapping[str, str | None]) -> None:
        """Set the descriptions of many codes at once (bulk edit); ``None`` clears one.

        All-or-nothing: unknown codes and bad descriptions are all reported in one
        :class:`BatchError`. Runtime complexity: O(k) for k codes.
        """
        with self._write_lock:
            found = self._get(group)
            bad: list[RowError] = []
            edited: list[CodeEntry] = []
            for row, (code, description) in enumerate(descriptions.items(), start=1):
                listed = found.codes.get(code)
                if listed is None:
                    bad.append(RowError(row, str(code), "is not on the group's list"))
                    continue
                problem = _description_row_problem(description)
                if problem is not None:
                    bad.append(RowError(row, code, problem))
                    continue
                edited.append(attrs.evolve(entry_of(code, listed), description=description))
            if bad:
                raise BatchError(f"edit codes of group {group!r}", bad)
            self._put(found, edited)

    def update_codes(self, group: str, entries: Iterable[CodeEntry]) -> None:
        """Replace existing codes' entries wholly (description, level, validity, use limit).

        All-or-nothing; every code must already be on the list. Use counts are kept while the
        entry has a use limit (a lower limit may leave a code used up) and dropped without one.
        Runtime complexity: O(k) for k codes.
        """
        with self._write_lock:
            found = self._get(group)
            bad: list[RowError] = []
            updated: list[CodeEntry] = []
            items: Iterable[object] = entries  # checked at run time: callers may pass anything
            for row, entry in enumerate(items, start=1):
                if not isinstance(entry, CodeEntry):
                    bad.append(RowError(row, str(entry), "must be a CodeEntry"))
                elif entry.code not in found.codes:
                    bad.append(RowError(row, entry.code, "is not on the group's list"))
                else:
                    updated.append(entry)
            if bad:
                raise BatchError(f"update codes of group {group!r}", bad)
            self._put(found, updated)

    def _put(self, found: _Group, entries: list[CodeEntry]) -> None:
        with self._writing():
            mode = found.settings.mode
            for entry in entries:
                if entry.limited:
                    found.limited.add(entry.code)
                # An existing key: O(1), and the sorted order is untouched.
                found.codes[entry.code] = kept(mode, entry, found.compact)
                if not entry.limited and entry.code not in found.suspended:
                    found.limited.discard(entry.code)
                if entry.max_uses is None:
                    found.uses.pop(entry.code, None)  # no limit any more: nothing to count

    def delete_codes(self, group: str, codes: Iterable[str]) -> None:
        """Delete a selection of codes in one all-or-nothing batch.

        A code that is not on the list is a bad row: nothing is deleted and every such code is
        reported. Runtime complexity: O(k log n) for k codes.
        """
        with self._write_lock:
            found = self._get(group)
            wanted = list(dict.fromkeys(codes))
            bad = [
                RowError(row, str(code), "is not on the group's list")
                for row, code in enumerate(wanted, start=1)
                if code not in found.codes
            ]
            if bad:
                raise BatchError(f"delete codes of group {group!r}", bad)
            with self._writing():
                for code in wanted:
                    del found.codes[code]
                    found.limited.discard(code)
                    found.suspended.pop(code, None)
                    found.uses.pop(code, None)

    # -- use counts and locks -------------------------------------------------------------------

    def uses(self, group: str, code: str) -> int:
        """How many calls *code* has authorized (counted only for codes with ``max_uses``).

        Runtime complexity: O(1).
        """
        return self._get(group).uses.get(code, 0)

    def consume(self, group: str, code: str) -> bool:
        """Count one use of a use-limited code; False when it has none left (or is gone).

        Atomic: two calls racing for the last use cannot both win. Codes without ``max_uses``
        are not counted and always succeed. Runtime complexity: O(1).
        """
        with self._write_lock:
            found = self._get(group)
            listed = found.codes.get(code)
            if listed is None:
                return False
            entry = entry_of(code, listed)
            if entry.max_uses is None:
                return True
            used = found.uses.get(code, 0)
            if used >= entry.max_uses:
                return False
            with self._writing():
                found.uses[code] = used + 1
            return True

    def suspend(self, group: str, code: str, since: datetime) -> bool:
        """Suspend *code* from *since* until :meth:`restore`; False when it is not listed.

        A suspended code is refused (``SUSPENDED``) whatever else it has left. Runtime: O(1).
        """
        with self._write_lock:
            found = self._get(group)
            if code not in found.codes:
                return False
            with self._writing():
                found.limited.add(code)  # before the mark: a reader that sees it looks it up
                found.suspended[code] = since
            return True

    def restore(self, group: str, code: str) -> bool:
        """Lift the suspension of *code*; whether it was suspended. Runtime: O(1)."""
        with self._write_lock:
            found = self._get(group)
            if found.suspended.pop(code, None) is None:
                return False
            with self._writing():
                listed = found.codes.get(code)
                if listed is None or not entry_of(code, listed).limited:
                    found.limited.discard(code)
            return True

    def suspended(self, group: str) -> dict[str, datetime]:
        """The group's suspended codes and since when, in code order. Runtime: O(s log s)."""
        with self._write_lock:
            found = self._get(group)
            return {code: found.suspended[code] for code in sorted(found.suspended)}

    def lock(self, lock: Lock) -> None:
        """Put a user or group lock in place (replacing an earlier one). Runtime: O(1)."""
        if not isinstance(lock, Lock):
            raise InvalidValueError("lock", lock, "must be a Lock")
        with self._write_lock:
            found = self._get(lock.group)
            with self._writing():
                _place_lock(found, lock)

    def unlock(self, group: str, user: str | None = None) -> bool:
        """Lift the lock on *user*, or on the whole group when *user* is None.

        Returns whether a lock was lifted. Runtime complexity: O(1).
        """
        with self._write_lock:
            found = self._get(group)
            if (found.group_lock if user is None else found.user_locks.get(user)) is None:
                return False
            with self._writing():
                if user is None:
                    found.group_lock = None
                else:
                    del found.user_locks[user]
            return True

    def locks(self, group: str, now: datetime | None = None) -> list[Lock]:
        """The group's locks that hold at *now* (all of them when *now* is None), group lock first.

        Runtime complexity: O(u log u) for u locked users.
        """
        with self._write_lock:
            found = self._get(group)
            held = [found.group_lock] if found.group_lock is not None else []
            held += [found.user_locks[u] for u in sorted(found.user_locks)]
        if now is None:
            return held
        return [lock for lock in held if lock.active(now)]

    # -- reading ----------------------------------------------------------------------------------

    def group(self, group: str) -> GroupSettings:
        """The settings of *group*; :class:`UnknownGroupError` if there is none. Runtime: O(1)."""
        return self._get(group).settings

    def settings_for(self, group: str) -> GroupSettings:
        """The settings a call of *group* is read with: the defaults for an unknown group.

        The group's own settings, or ``GroupSettings()`` for a group the book does not hold (its
        calls pass as ``not enabled``). Runtime complexity: O(1).
        """
        found = self._groups.get(group)
        return _DEFAULTS if found is None else found.settings

    def groups(self) -> list[str]:
        """The names of all groups, sorted. Runtime complexity: O(g log g) for g groups."""
        return sorted(self._groups)

    def __contains__(self, group: object) -> bool:
        return group in self._groups

    def get(self, group: str, code: str) -> CodeEntry | None:
        """The entry for *code* in *group*, or None. Runtime complexity: O(1)."""
        listed = self._get(group).codes.get(code)
        return None if listed is None else entry_of(code, listed)

    def count(self, group: str) -> int:
        """How many codes *group* holds. Runtime complexity: O(1)."""
        return len(self._get(group).codes)

    def codes(
        self,
        group: str,
        prefix: str = "",
        after: str | None = None,
        limit: int | None = 50,
    ) -> list[CodeEntry]:
        """One page of codes in code order, optionally only those starting with *prefix*.

        *after* is the last code of the previous page; *limit* is the page size (None for all).
        Runtime complexity: O(log n + k) for a page of k codes.
        """
        if prefix and not is_code(prefix):
            raise InvalidValueError("prefix", prefix, "a prefix has ASCII digits 0-9 only")
        if len(prefix) > MAX_CODE_LENGTH:
            raise InvalidValueError("prefix", prefix, f"at most {MAX_CODE_LENGTH} digits")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise InvalidValueError("limit", limit, "a page holds at least 1 code (or None)")
        with self._write_lock:
            found = self._get(group)
            low, low_inclusive = prefix, True
            if after is not None and after >= low:
                low, low_inclusive = after, False
            high = _prefix_end(prefix) if prefix else None
            keys = found.codes.irange(low, high, inclusive=(low_inclusive, False))
            return [entry_of(k, found.codes[k]) for k in itertools.islice(keys, limit)]

    @property
    def version(self) -> int:
        """A counter that grows with every applied change; equal values mean an unchanged book."""
        return self._version

    def _check(self) -> None:
        """Assert every invariant of the structure (for tests; O(total size))."""
        for name, found in self._groups.items():
            settings = found.settings
            assert found.coded == _coded(settings), name
            found.codes._check()  # type: ignore[attr-defined]  # sortedcontainers' own check
            limited = {c for c, listed in found.codes.items() if entry_of(c, listed).limited}
            assert found.limited == limited | found.suspended.keys(), name
            assert found.suspended.keys() <= found.codes.keys(), name
            assert found.checks == bool(settings.min_levels or settings.hours), name
            assert (found.verdict, found.reason) == (
                listed_outcome(settings.mode, TEMPLATE_ENTRY).verdict,
                listed_outcome(settings.mode, TEMPLATE_ENTRY).reason,
            ), name
            for code, listed in found.codes.items():
                entry = entry_of(code, listed)
                assert listed == kept(settings.mode, entry, found.compact), (name, code)
                outcome = outcome_of(found.verdict, found.reason, code, listed)
                assert outcome == listed_outcome(settings.mode, entry), (name, code)
                assert code == entry.code, (name, code)
                assert is_code(code, settings.code_length), (name, code)
            for code, used in found.uses.items():
                assert entry_of(code, found.codes[code]).max_uses is not None, (name, code)
                assert used > 0, (name, code)
            for user, lock in found.user_locks.items():
                assert (lock.group, lock.user) == (name, user)
            if found.group_lock is not None:
                assert (found.group_lock.group, found.group_lock.user) == (name, None)


def _description_row_problem(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        return "a description is a string or None"
    return description_problem(description)


def _check_group_args(group: object, settings: object) -> None:
    if not isinstance(group, str) or not group or group != group.strip():
        raise InvalidValueError(
            "group", group, "a group id is a non-empty string without surrounding spaces"
        )
    if not isinstance(settings, GroupSettings):
        raise InvalidValueError("settings", settings, "must be a GroupSettings")


def _place_lock(found: _Group, lock: Lock) -> None:
    if lock.user is None:
        found.group_lock = lock
    else:
        found.user_locks[lock.user] = lock


# -- trusted bulk loading -------------------------------------------------------------------------


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


@contextlib.contextmanager
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
