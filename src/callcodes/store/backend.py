"""What a database must do for a policy store: the row operations, one transaction at a time.

:class:`~callcodes.store.writes.BaseStore` holds everything a store decides (what to check, what
to journal, what each audit record says, how a loaded book catches up); a backend subclasses it
and gives it a :class:`Transaction` for each read or write. A transaction only moves rows: it
checks nothing and decides nothing, so a new database is a new set of queries, and the rules
stay in one place.

Groups are named by the caller and keyed by an integer id in the database. Codes handed to a
transaction are strings; entries and settings were validated before they are handed over, and
rows read back are trusted (they were validated when written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs

from ..core.loader import GroupLoader
from ..core.model import CodeEntry, GroupSettings, Lock
from ..dialplan.plan import DialPlan
from .audit import Action, AuditRecord

__all__ = ["AuditQuery", "Change", "Transaction"]

#: One journal entry: the group, the kind of change, and the code for a ``code`` change.
Change = tuple[str, str, str | None]


@attrs.frozen
class AuditQuery:
    """Which audit records to read: every filter already checked; None means any.

    ``since`` is inclusive and ``until`` exclusive; records come after ``after_id``, at most
    ``limit`` of them, in the order they were written, the last ones when ``latest``.
    """

    group: str | None
    actor: str | None
    action: Action | None
    since: datetime | None
    until: datetime | None
    after_id: int
    limit: int | None
    latest: bool
    #: Only records naming the code with this fingerprint (``audit.code_fingerprint``).
    fp: str | None = None


class Transaction(Protocol):
    """The row operations of one transaction on a policy store's database."""

    # -- groups and settings ----------------------------------------------------------------------

    def find_group(self, name: str) -> int | None:
        """The id of the group named *name*, or None."""
        ...  # pragma: no cover

    def names(self) -> dict[str, int]:
        """Every group's id by its name, in name order."""
        ...  # pragma: no cover

    def settings(self, gid: int) -> GroupSettings:
        """The settings of the group, its users included."""
        ...  # pragma: no cover

    def put_settings(self, name: str, gid: int | None, settings: GroupSettings) -> int:
        """Write the settings and users of a group (a new one when *gid* is None); its id."""
        ...  # pragma: no cover

    def remove_group(self, gid: int) -> int:
        """Delete the group with its users, codes, locks, dial plan and provider.

        Returns how many codes it had.
        """
        ...  # pragma: no cover

    def provider(self, gid: int) -> str | None:
        """The service provider the group belongs to, or None."""
        ...  # pragma: no cover

    def providers(self) -> dict[str, str | None]:
        """Every group's service provider (None: none) by group name, in name order."""
        ...  # pragma: no cover

    def put_provider(self, gid: int, provider: str | None) -> None:
        """Write the group's service provider, or clear it with None."""
        ...  # pragma: no cover

    # -- the user directory kept beside the policy ------------------------------------------------

    def directory_ids(self, group: str) -> frozenset[str]:
        """The user ids in the user directory of *group*: empty when it has none.

        A backend that keeps no user directory answers an empty set.
        """
        ...  # pragma: no cover

    def remove_directory(self, group: str) -> None:
        """Delete the user directory of *group* (nothing when it has none)."""
        ...  # pragma: no cover

    def remove_group_accounts(self, group: str) -> list[str]:
        """Delete the group accounts of *group* with their tokens; their names, sorted."""
        ...  # pragma: no cover

    # -- codes ------------------------------------------------------------------------------------

    def count(self, gid: int) -> int:
        """How many codes the group holds."""
        ...  # pragma: no cover

    def entries(self, gid: int, codes: Sequence[str]) -> dict[str, CodeEntry]:
        """The stored entries among *codes* (which may repeat), by code."""
        ...  # pragma: no cover

    def existing(self, gid: int, codes: list[str]) -> list[str]:
        """Which of *codes* the group holds."""
        ...  # pragma: no cover

    def page(self, gid: int, prefix: str, after: str | None, limit: int | None) -> list[CodeEntry]:
        """Entries in code order: codes starting with *prefix*, after *after*, at most *limit*."""
        ...  # pragma: no cover

    def read_codes(self, gid: int, loader: GroupLoader) -> None:
        """Give every code row of the group, with its use count, to *loader*."""
        ...  # pragma: no cover

    def insert_codes(
        self,
        gid: int,
        entries: Sequence[CodeEntry],
        uses: Mapping[str, int],
        progress: Callable[[int], None] | None,
    ) -> None:
        """Add new codes in code order, with the use counts in *uses* (else 0).

        *progress* is called with the number of codes written after each chunk.
        """
        ...  # pragma: no cover

    def replace_codes(
        self, gid: int, entries: Sequence[CodeEntry], progress: Callable[[int], None] | None
    ) -> int:
        """Put *entries* in place of the group's codes, keeping the use counts of codes that stay.

        Returns how many codes were removed (before the new ones went in).
        """
        ...  # pragma: no cover

    def update_codes(self, gid: int, entries: Sequence[CodeEntry]) -> None:
        """Write new entries for stored codes; their use counts stay."""
        ...  # pragma: no cover

    def delete_codes(self, gid: int, codes: Sequence[str]) -> None:
        """Delete stored codes with their use counts."""
        ...  # pragma: no cover

    # -- use counts and locks ---------------------------------------------------------------------

    def use_count(self, gid: int, code: str) -> int:
        """How many uses the code has had (0 when it is not stored)."""
        ...  # pragma: no cover

    def use_counts(self, gid: int, codes: Sequence[str]) -> dict[str, int]:
        """The use counts a book holds for *codes*: use-limited codes only, capped at the limit."""
        ...  # pragma: no cover

    def count_use(self, gid: int, code: str) -> bool:
        """Count one use of a use-limited code that has uses left, atomically; whether it did."""
        ...  # pragma: no cover

    def unlimited(self, gid: int, code: str) -> bool:
        """Whether the code is stored without a use limit."""
        ...  # pragma: no cover

    def locks(self, gid: int, name: str) -> list[Lock]:
        """The group's locks (named *name*), group lock first, then users in order."""
        ...  # pragma: no cover

    def put_lock(self, gid: int, lock: Lock) -> None:
        """Write a lock, replacing one on the same user (or the group's)."""
        ...  # pragma: no cover

    def delete_lock(self, gid: int, user: str | None) -> None:
        """Delete the lock on *user* (None: the group's lock)."""
        ...  # pragma: no cover

    def suspended(self, gid: int) -> dict[str, datetime]:
        """The group's suspended codes and since when, in code order."""
        ...  # pragma: no cover

    def put_suspended(self, gid: int, code: str, since: datetime | None) -> bool:
        """Suspend *code* from *since* (None: restore it); False when it is not stored."""
        ...  # pragma: no cover

    # -- dial plans -------------------------------------------------------------------------------

    def dialplan(self, gid: int) -> DialPlan | None:
        """The group's dial plan, or None."""
        ...  # pragma: no cover

    def dialplans(self) -> dict[str, DialPlan]:
        """Every stored dial plan by group name, in name order."""
        ...  # pragma: no cover

    def put_dialplan(self, gid: int, plan: DialPlan | None) -> None:
        """Write the group's dial plan, or delete it with None."""
        ...  # pragma: no cover

    # -- the change journal and the audit trail ---------------------------------------------------

    def head(self) -> int:
        """The number of the last journal entry (0 when there is none yet)."""
        ...  # pragma: no cover

    def oldest(self) -> int | None:
        """The number of the oldest journal entry kept, or None when none is."""
        ...  # pragma: no cover

    def changes(self, after: int) -> Iterable[Change]:
        """The journal entries after number *after*, in order."""
        ...  # pragma: no cover

    def journal(self, group: str, kind: str, code: str | None = None) -> None:
        """Add one journal entry."""
        ...  # pragma: no cover

    def journal_codes(self, group: str, codes: Sequence[str]) -> None:
        """Add one ``code`` journal entry per code."""
        ...  # pragma: no cover

    def trim_journal(self, keep: int) -> None:
        """Delete all but the last *keep* journal entries."""
        ...  # pragma: no cover

    def rewrite_audit(self, group: str, rewrite: Callable[[Any], Any]) -> None:
        """Put ``rewrite(detail)`` in place of the detail of each of *group*'s audit records."""
        ...  # pragma: no cover

    def forget_journal_codes(self, group: str) -> None:
        """Turn *group*'s ``code`` entries into ``group`` entries: none names a code any more."""
        ...  # pragma: no cover

    def record(
        self,
        at: datetime,
        actor: str,
        group: str,
        action: Action,
        detail: Mapping[str, Any],
        *,
        fps: Sequence[str] = (),
    ) -> None:
        """Add one audit record, found later by any of the code fingerprints *fps*."""
        ...  # pragma: no cover

    def secret(self) -> bytes | None:
        """The store's secret (32 bytes) that keys code fingerprints; None if it has none yet."""
        ...  # pragma: no cover

    def audit(self, query: AuditQuery) -> list[AuditRecord]:
        """The audit records *query* asks for, in the order they were written."""
        ...  # pragma: no cover
