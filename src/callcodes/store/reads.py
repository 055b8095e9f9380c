"""The reading side of every policy store: lookups, pages, locks, the audit trail, loaded books.

:class:`ReadingStore` answers each question of :class:`~callcodes.store.protocol.Store` that
only reads, checking its arguments with the core's rules, and asks its backend's
:class:`~callcodes.store.backend.Transaction` only for rows. A backend provides the
transactions (``_transaction``), ``close`` and ``schema_version``.
"""

from __future__ import annotations

import abc
import functools
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Final, Self

import attrs

from .._errors import InvalidValueError, UnknownGroupError
from ..core._validate import MAX_CODE_LENGTH, MIN_CODE_LENGTH, is_code
from ..core.book import CodeBook
from ..core.model import CodeEntry, GroupSettings, Lock
from ..dialplan.plan import DialPlan
from . import sync
from .audit import Action, AuditRecord, code_fingerprint
from .backend import AuditQuery, Transaction
from .checks import check_time, codes_of, scratch_book

__all__ = ["ReadingStore"]

_PAGE: Final = 10_000  # codes per page when streaming


class ReadingStore(abc.ABC):
    """What a policy store reads, for any backend; the time of its records comes from *clock*."""

    def __init__(self, *, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._synced: weakref.WeakKeyDictionary[CodeBook, sync.Synced] = weakref.WeakKeyDictionary()

    # -- what a backend provides ----------------------------------------------------------------

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Transaction]:
        """One transaction: committed when the block ends, rolled back when it raises.

        A write transaction holds the database's write lock from its start; a read sees one
        snapshot.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close the store; it cannot be used afterwards."""

    @property
    @abc.abstractmethod
    def schema_version(self) -> int:
        """The policy schema version of the database (equal to what this code writes once open)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def reading(self) -> AbstractContextManager[Transaction]:
        """A read transaction, for components kept beside the policy (directory, accounts)."""
        return self._transaction(write=False)

    @staticmethod
    def group_id(tx: Transaction, group: str) -> int:
        """The id of *group* inside *tx*; ``UnknownGroupError`` if there is none."""
        gid = tx.find_group(group)
        if gid is None:
            raise UnknownGroupError(group)
        return gid

    _group_id = group_id  # the name the store's own methods use

    # -- groups and codes -----------------------------------------------------------------------

    def groups(self) -> list[str]:
        """The names of all groups, sorted. Runtime complexity: O(g log g) for g groups."""
        with self._transaction(write=False) as tx:
            return list(tx.names())

    def __contains__(self, group: object) -> bool:
        if not isinstance(group, str):
            return False
        with self._transaction(write=False) as tx:
            return tx.find_group(group) is not None

    def group(self, group: str) -> GroupSettings:
        """The settings of *group* (users included); :class:`UnknownGroupError` if none.

        Runtime complexity: O(u) for u users.
        """
        with self._transaction(write=False) as tx:
            return tx.settings(self._group_id(tx, group))

    def provider(self, group: str) -> str | None:
        """The service provider *group* belongs to, or None; :class:`UnknownGroupError` if none.

        Runtime complexity: O(1).
        """
        with self._transaction(write=False) as tx:
            return tx.provider(self._group_id(tx, group))

    def providers(self) -> dict[str, str | None]:
        """Every group's service provider (None: none) by group name, in name order.

        Runtime complexity: O(g) for g groups.
        """
        with self._transaction(write=False) as tx:
            return tx.providers()

    def count(self, group: str) -> int:
        """How many codes *group* holds. Runtime complexity: O(n) (the database counts rows)."""
        with self._transaction(write=False) as tx:
            return tx.count(self._group_id(tx, group))

    def get(self, group: str, code: str) -> CodeEntry | None:
        """The entry for *code* in *group*, or None. Runtime complexity: O(log n)."""
        with self._transaction(write=False) as tx:
            found = tx.entries(self._group_id(tx, group), codes_of([code]))
        return found.get(code)

    def uses(self, group: str, code: str) -> int:
        """How many calls *code* has authorized (counted for use-limited codes only).

        Runtime complexity: O(log n).
        """
        with self._transaction(write=False) as tx:
            return tx.use_count(self._group_id(tx, group), code)

    def codes(
        self,
        group: str,
        prefix: str = "",
        after: str | None = None,
        limit: int | None = 50,
    ) -> list[CodeEntry]:
        """One page of codes in code order, as ``CodeBook.codes`` (same arguments, same checks).

        Runtime complexity: O(log n + k) for a page of k codes.
        """
        scratch_book(group, GroupSettings()).codes(group, prefix, after, limit)  # checks args
        with self._transaction(write=False) as tx:
            return tx.page(self._group_id(tx, group), prefix, after, limit)

    def iter_codes(self, group: str, prefix: str = "") -> Iterator[CodeEntry]:
        """Every code of *group* (starting with *prefix*) in code order, read page by page.

        Each page is read in its own transaction, so writers are not held up by a slow reader.
        Runtime complexity: O(log n + k) per page of k codes.
        """
        after: str | None = None
        while True:
            page = self.codes(group, prefix, after, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].code

    def locks(self, group: str, now: datetime | None = None) -> list[Lock]:
        """The group's locks that hold at *now* (all when *now* is None), group lock first.

        Runtime complexity: O(u log u) for u locked users.
        """
        with self._transaction(write=False) as tx:
            held = tx.locks(self._group_id(tx, group), group)
        return held if now is None else [lock for lock in held if lock.active(now)]

    def suspended(self, group: str) -> dict[str, datetime]:
        """The group's codes suspended for a use limit, and since when, in code order.

        Runtime complexity: O(s log s) for s suspended codes.
        """
        with self._transaction(write=False) as tx:
            return tx.suspended(self._group_id(tx, group))

    # -- dial plans -----------------------------------------------------------------------------

    def dialplan(self, group: str) -> DialPlan | None:
        """The dial plan of *group*, or None when it has none. Runtime complexity: O(1)."""
        with self._transaction(write=False) as tx:
            return tx.dialplan(self._group_id(tx, group))

    def dialplans(self) -> dict[str, DialPlan]:
        """Every stored dial plan by group name, for a softswitch to load at start.

        Groups without a plan are left out. ``version`` moves on when a plan changes.
        Runtime complexity: O(p) for p plans.
        """
        with self._transaction(write=False) as tx:
            return tx.dialplans()

    # -- the audit trail, the clock, the version ------------------------------------------------

    def audit(
        self,
        group: str | None = None,
        *,
        actor: str | None = None,
        action: Action | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: int = 0,
        limit: int | None = None,
        latest: int | None = None,
        code: str | None = None,
    ) -> list[AuditRecord]:
        """Audit records in the order they were written, filtered by any of the arguments.

        *since* is inclusive and *until* exclusive (aware datetimes); *after_id* and *limit*
        page through the trail; *latest* keeps only the last so many matching records; *code*
        keeps the records that named that code, found by its keyed fingerprint (the code itself
        is neither stored nor written anywhere).
        Runtime complexity: O(log n + k) for k records of one group, O(n) when filtering only
        by actor or action.
        """
        if action is not None and action not in set(Action):
            raise InvalidValueError("action", action, f"one of {', '.join(Action)}")
        for bound, name in ((since, "since"), (until, "until")):
            if bound is not None:
                check_time(bound, name)
        if latest is not None:
            if limit is not None:
                raise InvalidValueError("latest", latest, "give either limit or latest")
            limit = latest
        if code is not None and not (
            is_code(code) and MIN_CODE_LENGTH <= len(code) <= MAX_CODE_LENGTH
        ):
            raise InvalidValueError(
                "code", "*" * min(len(str(code)), MAX_CODE_LENGTH), "2 to 14 ASCII digits"
            )
        query = AuditQuery(
            group=group,
            actor=actor,
            action=None if action is None else Action(action),
            since=since,
            until=until,
            after_id=after_id,
            limit=limit,
            latest=latest is not None,
        )
        with self._transaction(write=False) as tx:
            if code is not None:
                secret = tx.secret()
                if secret is None:  # a file not yet given its secret names no code
                    return []
                query = attrs.evolve(query, fp=code_fingerprint(secret, code))
            return tx.audit(query)

    def fingerprinter(self) -> Callable[[str], str]:
        """A function giving a code's keyed fingerprint, as the audit trail names codes.

        What names a code outside the policy tables (a count shared by processes) without
        holding it: it finds the code again and does not give it back. Raises
        :class:`InvalidValueError` for a store not yet given its secret (open it for writing
        once). Runtime complexity: O(1) per code.
        """
        with self._transaction(write=False) as tx:
            secret = tx.secret()
        if secret is None:
            raise InvalidValueError("store", None, "the store has no secret: open it for writing")
        return functools.partial(code_fingerprint, secret)

    def now(self) -> datetime:
        """The store's clock: the time its audit records carry (aware UTC)."""
        return check_time(self._clock(), "clock()")

    @property
    def version(self) -> int:
        """A counter that grows with every change written by any process (the journal head)."""
        with self._transaction(write=False) as tx:
            return tx.head()

    # -- loading and refreshing books -----------------------------------------------------------

    def load(self, groups: Iterable[str] | None = None, *, compact: bool = False) -> CodeBook:
        """Build a ``CodeBook`` holding every group (or only *groups*) with codes, uses and locks.

        Rows were validated when written, so they are not validated again. *compact* makes a
        compact book (``CodeBook(compact=True)``: for processes that fork after loading).
        Runtime complexity: O(n) for n codes; about a second per million codes (see
        docs/performance.md).
        """
        wanted = None if groups is None else frozenset(groups)
        with self._transaction(write=False) as tx:
            book, head = sync.load_book(tx, wanted, compact=compact)
        self._synced[book] = sync.Synced(head, wanted)
        return book

    def loaded_at(self, book: CodeBook) -> int:
        """The change journal entry *book* (loaded or refreshed by this store) is synced to.

        With :meth:`adopt`, another store object (in a child process, say) refreshes the book
        from there. Raises ``KeyError`` for a book this store never loaded.
        """
        return self._synced[book].seq

    def adopt(self, book: CodeBook, loaded_at: int) -> None:
        """Refresh *book*, loaded by another store object up to journal entry *loaded_at*, here.

        A process that loaded the policy before it forked hands each child the book and this
        number; the child's own store then reads only the changes written since.
        """
        self._synced[book] = sync.Synced(loaded_at, None)

    def refresh(self, book: CodeBook) -> bool:
        """Bring *book* up to date with the store; return whether anything changed.

        Reads only the changes written since the book was loaded (or last refreshed): the codes,
        settings or locks named in the journal, or whole groups after bulk changes. A book this
        store did not load is filled with every group. Runtime complexity: O(log j) when nothing
        changed, else O(c log n) for c changed codes, plus O(n) for each group reloaded whole.
        """
        synced = self._synced.get(book)
        with self._transaction(write=False) as tx:
            head = sync.refresh_book(tx, book, synced)
        if head is None:
            return False
        if synced is None:
            self._synced[book] = sync.Synced(head, None)
        else:
            synced.seq = head
        return True
