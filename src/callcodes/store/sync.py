"""Loaded books and the change journal: how a book is built and how it catches up.

Every write adds journal entries naming what it changed: ``group`` (reload the whole group),
``settings``, ``locks``, ``dialplan``, ``provider`` or ``code`` (one code). A book remembers the
last entry it has read; refreshing it applies only the entries written since, reading just the
codes, settings or locks they name. A batch of more than ``BULK_CODES`` codes is journaled as a
whole-group change, since reloading the group is then cheaper; a book further behind than the
journal keeps (``JOURNAL_KEEP`` entries) is reloaded whole. This is the same for every backend:
a backend only reads and writes the rows (:class:`~callcodes.store.backend.Transaction`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from .._errors import BatchError, ConflictError, UnknownGroupError
from ..core.book import CodeBook, no_gc
from ..core.loader import GroupLoader
from ..core.model import Lock
from .backend import Change, Transaction

__all__ = [
    "BULK_CODES",
    "JOURNAL_KEEP",
    "Pending",
    "Synced",
    "journal_codes",
    "load_book",
    "must_reload",
    "refresh_book",
    "trim_journal",
]

#: How many journal entries are kept; a book further behind reloads whole groups instead.
JOURNAL_KEEP = 100_000
#: A batch touching more codes than this is journaled as a whole-group change.
BULK_CODES = 1_000


@attrs.define
class Synced:
    """How far a loaded book has read the journal, and which groups it holds (None: all)."""

    seq: int
    groups: frozenset[str] | None


@attrs.define
class Pending:
    """What the journal entries since a book's last read ask of it, group by group."""

    whole: set[str] = attrs.Factory(set)
    settings: set[str] = attrs.Factory(set)
    locks: set[str] = attrs.Factory(set)
    codes: dict[str, set[str]] = attrs.Factory(dict)

    @classmethod
    def of(
        cls, changes: Iterable[Change], book: CodeBook, groups: frozenset[str] | None
    ) -> Pending:
        """Sum up *changes* for *book*, which holds *groups* (None: all)."""
        pending = cls()
        for grp, kind, code in changes:
            if groups is not None and grp not in groups:
                continue
            if kind == "group" or grp not in book:
                pending.whole.add(grp)
            elif kind == "settings":
                pending.settings.add(grp)
            elif kind == "locks":
                pending.locks.add(grp)
            elif kind in ("dialplan", "provider"):
                continue  # books hold no dial plans or providers: the entry moves the version on
            elif code is not None:
                pending.codes.setdefault(grp, set()).add(code)
        return pending


def journal_codes(tx: Transaction, group: str, codes: Sequence[str]) -> None:
    """Journal a batch of changed codes: one by one, or as a whole-group change when bulky."""
    if len(codes) > BULK_CODES:
        tx.journal(group, "group")
    else:
        tx.journal_codes(group, codes)


def trim_journal(tx: Transaction) -> None:
    """Drop the journal entries older than the last ``JOURNAL_KEEP``."""
    tx.trim_journal(JOURNAL_KEEP)


def must_reload(synced: Synced | None, oldest: int | None) -> bool:
    """Whether a book must be reloaded whole rather than catch up entry by entry.

    So it must when the store did not load it (*synced* is None), when the journal is empty, or
    when entries it has not read were dropped already (*oldest* is the oldest kept).
    """
    return synced is None or oldest is None or synced.seq < oldest - 1


def install(tx: Transaction, book: CodeBook, name: str, gid: int) -> None:
    """Read the whole group *name* into *book*, replacing what it held of it."""
    loader = GroupLoader(tx.settings(gid), compact=book.compact)
    tx.read_codes(gid, loader)
    loader.install(book, name, tx.locks(gid, name), tx.suspended(gid))


def load_book(
    tx: Transaction, wanted: frozenset[str] | None, *, compact: bool = False
) -> tuple[CodeBook, int]:
    """A book holding every group (or those *wanted*), and the journal entry it is synced to."""
    book = CodeBook(compact=compact)
    head = tx.head()
    names = tx.names()
    if wanted is not None:
        missing = sorted(wanted - names.keys())
        if missing:
            raise UnknownGroupError(missing[0])
    with no_gc():
        for name, gid in names.items():
            if wanted is None or name in wanted:
                install(tx, book, name, gid)
    return book, head


def refresh_book(tx: Transaction, book: CodeBook, synced: Synced | None) -> int | None:
    """Bring *book* up to date; the journal entry it is now synced to, or None if unchanged."""
    head = tx.head()
    if synced is not None and synced.seq == head:
        return None
    oldest = tx.oldest()
    names = tx.names()
    with no_gc():
        if synced is None or must_reload(synced, oldest):
            _reload_all(tx, book, names, None if synced is None else synced.groups)
        else:
            pending = Pending.of(tx.changes(synced.seq), book, synced.groups)
            _apply(tx, book, names, pending)
    return head


def _reload_all(
    tx: Transaction, book: CodeBook, names: Mapping[str, int], wanted: frozenset[str] | None
) -> None:
    for name in book.groups():
        if name not in names:
            book.remove_group(name)
    for name, gid in names.items():
        if wanted is None or name in wanted:
            install(tx, book, name, gid)


def _apply(tx: Transaction, book: CodeBook, names: Mapping[str, int], pending: Pending) -> None:
    for grp in pending.whole:
        if grp in names:
            install(tx, book, grp, names[grp])
        elif grp in book:
            book.remove_group(grp)
    for grp in (pending.settings | pending.locks | pending.codes.keys()) - pending.whole:
        gid = names.get(grp)
        if gid is None:  # removed later, but the 'group' entry would have said so
            continue
        try:
            if grp in pending.settings:
                book.set_group(grp, tx.settings(gid))
            if grp in pending.locks:
                _sync_locks(book, grp, tx.locks(gid, grp))
            if grp in pending.codes:
                _sync_codes(tx, book, grp, gid, sorted(pending.codes[grp]))
        except (BatchError, ConflictError):
            # The book was changed behind the store's back: replace the group whole.
            install(tx, book, grp, gid)


def _sync_locks(book: CodeBook, group: str, stored: list[Lock]) -> None:
    wanted = {lock.user: lock for lock in stored}
    for lock in book.locks(group):
        if lock.user not in wanted:
            book.unlock(group, lock.user)
    held = {lock.user: lock for lock in book.locks(group)}
    for user, lock in wanted.items():
        if held.get(user) != lock:
            book.lock(lock)


def _sync_codes(tx: Transaction, book: CodeBook, grp: str, gid: int, codes: list[str]) -> None:
    stored = tx.entries(gid, codes)
    used = tx.use_counts(gid, codes)
    gone = [code for code in codes if code not in stored and book.get(grp, code) is not None]
    reset = [
        code
        for code, entry in stored.items()
        if book.get(grp, code) is not None and book.uses(grp, code) > used.get(code, 0)
    ]
    book.delete_codes(grp, gone + reset)
    fresh = [entry for code, entry in stored.items() if book.get(grp, code) is None]
    book.add_codes(grp, fresh)
    changed = [entry for code, entry in stored.items() if book.get(grp, code) != entry]
    book.update_codes(grp, changed)
    for code, count in used.items():
        for _ in range(count - book.uses(grp, code)):
            book.consume(grp, code)
