"""What a policy store offers, whatever keeps it: the :class:`Store` protocol.

The command line, the engine (through ``LockStore``, a part of this) and the Kamailio router use
a store only through these methods, so any store that has them will do: the SQLite
``PolicyStore`` today, another database tomorrow. A new backend gets them all, checked and
audited the same way, by subclassing :class:`~callcodes.store.writes.BaseStore` and writing its
queries (:class:`~callcodes.store.backend.Transaction`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Protocol, Self

from .._errors import RowError
from ..core.book import CodeBook
from ..core.model import CodeEntry, GroupSettings, Lock
from ..dialplan.plan import DialPlan
from .audit import Action, AuditRecord

__all__ = ["Store"]


class Store(Protocol):
    """A policy store: groups, settings, users, codes, locks, dial plans, providers, audit.

    Every write is all-or-nothing, checked as ``CodeBook`` checks it, and writes an audit record
    naming *actor*. See ``PolicyStore`` for each method's full description.
    """

    # -- the store itself -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the store; it cannot be used afterwards."""
        ...  # pragma: no cover

    def __enter__(self) -> Self: ...  # pragma: no cover

    def __exit__(self, *_exc: object) -> None: ...  # pragma: no cover

    @property
    def schema_version(self) -> int:
        """The policy schema version of the database."""
        ...  # pragma: no cover

    @property
    def version(self) -> int:
        """A counter that grows with every change written by any process."""
        ...  # pragma: no cover

    def now(self) -> datetime:
        """The store's clock: the time its audit records carry (aware UTC)."""
        ...  # pragma: no cover

    # -- reading --------------------------------------------------------------------------------

    def groups(self) -> list[str]:
        """The names of all groups, sorted."""
        ...  # pragma: no cover

    def __contains__(self, group: object) -> bool: ...  # pragma: no cover

    def group(self, group: str) -> GroupSettings:
        """The settings of *group* (users included); ``UnknownGroupError`` if none."""
        ...  # pragma: no cover

    def provider(self, group: str) -> str | None:
        """The service provider *group* belongs to, or None; ``UnknownGroupError`` if no group."""
        ...  # pragma: no cover

    def providers(self) -> dict[str, str | None]:
        """Every group's service provider (None: none) by group name."""
        ...  # pragma: no cover

    def count(self, group: str) -> int:
        """How many codes *group* holds."""
        ...  # pragma: no cover

    def get(self, group: str, code: str) -> CodeEntry | None:
        """The entry for *code* in *group*, or None."""
        ...  # pragma: no cover

    def uses(self, group: str, code: str) -> int:
        """How many calls *code* has authorized (use-limited codes only)."""
        ...  # pragma: no cover

    def codes(
        self, group: str, prefix: str = "", after: str | None = None, limit: int | None = 50
    ) -> list[CodeEntry]:
        """One page of codes in code order, as ``CodeBook.codes``."""
        ...  # pragma: no cover

    def iter_codes(self, group: str, prefix: str = "") -> Iterator[CodeEntry]:
        """Every code of *group* (starting with *prefix*) in code order."""
        ...  # pragma: no cover

    def locks(self, group: str, now: datetime | None = None) -> list[Lock]:
        """The group's locks that hold at *now* (all when None), group lock first."""
        ...  # pragma: no cover

    def suspended(self, group: str) -> dict[str, datetime]:
        """The group's codes suspended for a use limit, and since when, in code order."""
        ...  # pragma: no cover

    def dialplan(self, group: str) -> DialPlan | None:
        """The dial plan of *group*, or None."""
        ...  # pragma: no cover

    def dialplans(self) -> dict[str, DialPlan]:
        """Every stored dial plan by group name."""
        ...  # pragma: no cover

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

        *code* keeps the records that named that code, found by its keyed fingerprint.
        """
        ...  # pragma: no cover

    # -- loaded books ---------------------------------------------------------------------------

    def load(self, groups: Iterable[str] | None = None, *, compact: bool = False) -> CodeBook:
        """A ``CodeBook`` holding every group (or only *groups*) with codes, uses and locks."""
        ...  # pragma: no cover

    def refresh(self, book: CodeBook) -> bool:
        """Bring *book* up to date with the store; whether anything changed."""
        ...  # pragma: no cover

    # -- writing --------------------------------------------------------------------------------

    def set_group(self, group: str, settings: GroupSettings, *, actor: str) -> None:
        """Create *group* or change its settings (users included); its codes are kept."""
        ...  # pragma: no cover

    def modify_group(
        self,
        group: str,
        change: Callable[[GroupSettings], GroupSettings],
        *,
        actor: str,
        create: bool = False,
    ) -> GroupSettings:
        """Read the settings of *group*, apply *change*, write the result: one transaction."""
        ...  # pragma: no cover

    def create_group(
        self, group: str, settings: GroupSettings, *, provider: str | None = None, actor: str
    ) -> None:
        """Create *group* in *provider*: one transaction; ``ConflictError`` if it exists."""
        ...  # pragma: no cover

    def replace_group(
        self,
        group: str,
        settings: GroupSettings,
        codes: Iterable[CodeEntry | str] = (),
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
        dialplan: DialPlan | None = None,
    ) -> None:
        """Create or replace *group* whole: settings, users, codes (and a dial plan, if given)."""
        ...  # pragma: no cover

    def remove_group(self, group: str, *, actor: str) -> None:
        """Delete *group* with its users, codes, use counts, locks, provider and directory."""
        ...  # pragma: no cover

    def set_provider(self, group: str, provider: str | None, *, actor: str) -> None:
        """Put *group* in the service provider *provider* (None: in none), audited."""
        ...  # pragma: no cover

    def check_codes(
        self, group: str, codes: Iterable[CodeEntry | str], *, replace: bool = False
    ) -> list[RowError]:
        """The rows ``add_codes`` (``replace_codes`` with *replace*) would refuse."""
        ...  # pragma: no cover

    def add_codes(
        self,
        group: str,
        codes: Iterable[CodeEntry | str],
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Add codes to *group* in one all-or-nothing batch."""
        ...  # pragma: no cover

    def replace_codes(
        self,
        group: str,
        codes: Iterable[CodeEntry | str],
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Replace the codes of *group* whole, keeping its settings."""
        ...  # pragma: no cover

    def edit_codes(self, group: str, descriptions: Mapping[str, str | None], *, actor: str) -> None:
        """Set the descriptions of many codes at once (``None`` clears one)."""
        ...  # pragma: no cover

    def update_codes(self, group: str, entries: Iterable[CodeEntry], *, actor: str) -> None:
        """Replace existing codes' entries wholly; use counts are kept."""
        ...  # pragma: no cover

    def modify_codes(
        self,
        group: str,
        codes: Iterable[str],
        change: Callable[[CodeEntry], CodeEntry],
        *,
        actor: str,
    ) -> list[CodeEntry]:
        """Apply *change* to the entries of *codes* and write them back: one transaction."""
        ...  # pragma: no cover

    def delete_codes(self, group: str, codes: Iterable[str], *, actor: str) -> None:
        """Delete a selection of codes in one all-or-nothing batch."""
        ...  # pragma: no cover

    def consume(self, group: str, code: str) -> bool:
        """Count one use of a use-limited code, atomically; False when none is left."""
        ...  # pragma: no cover

    def lock(self, lock: Lock, *, actor: str) -> None:
        """Put a user or group lock in place (replacing an earlier one)."""
        ...  # pragma: no cover

    def unlock(self, group: str, user: str | None = None, *, actor: str) -> bool:
        """Lift the lock on *user* (None: the whole group's); whether one was lifted."""
        ...  # pragma: no cover

    def suspend(self, group: str, code: str, since: datetime, *, actor: str) -> bool:
        """Suspend a listed code until restored; False when it is not listed."""
        ...  # pragma: no cover

    def restore(self, group: str, code: str, *, actor: str) -> bool:
        """Lift the suspension of *code*; whether it was suspended."""
        ...  # pragma: no cover

    def set_dialplan(self, group: str, plan: DialPlan | None, *, actor: str) -> None:
        """Give *group* a dial plan, or remove its plan with None."""
        ...  # pragma: no cover
