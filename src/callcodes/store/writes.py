"""The writing side of every policy store: each change checked as a book checks it, then written.

:class:`BaseStore` is the policy store without its database. Each change is one write
transaction that also writes its journal entries and its audit record, so a refused change
leaves the database untouched. A change is checked by the core itself (``checks``): applied to a
scratch book holding the stored rows it touches, it is refused exactly as a ``CodeBook`` would
refuse it, with the same errors. A backend subclasses :class:`BaseStore` and writes only the
row operations (:class:`~callcodes.store.backend.Transaction`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from .._errors import BatchError, ConflictError, InvalidValueError, RowError, UnknownGroupError
from ..core._validate import check_provider_id
from ..core.book import CodeBook, no_gc, validated_new_codes
from ..core.model import CodeEntry, GroupSettings, Lock, Mode
from ..dialplan.plan import DialPlan
from . import sync
from .audit import Action, code_fingerprint, code_for_audit, mask_detail_codes, settings_action
from .backend import Transaction
from .checks import (
    changed_entries,
    check_actor,
    check_enrolled,
    check_group_name,
    check_plan,
    check_time,
    codes_of,
    in_code_order,
    scratch_book,
)
from .details import (
    codes_detail,
    edits_detail,
    lock_detail,
    plan_diff,
    provider_diff,
    settings_detail,
    settings_diff,
)
from .reads import ReadingStore

__all__ = ["BaseStore", "Recorder"]


class Recorder(Protocol):
    """Adds an audit record to the change being written: group, action, detail.

    *codes* are every code the change names (also those a big batch's detail only counts): the
    record is found by the keyed fingerprint of any of them (``audit(code=...)``), which the
    backend keeps beside the record, never in its detail.
    """

    def __call__(
        self, group: str, action: Action, detail: Mapping[str, Any], codes: Sequence[str] = ()
    ) -> None:
        """Add the record."""
        ...  # pragma: no cover


class BaseStore(ReadingStore):
    """A policy store for any backend: every read and write of ``Store``, checked and audited.

    The write methods mirror ``CodeBook``'s and validate the same way, plus an ``actor`` for the
    audit trail; the time of each record comes from the clock.
    """

    def writing(self, actor: str) -> AbstractContextManager[tuple[Transaction, Recorder]]:
        """A write transaction and its audit recorder, for components kept beside the policy.

        The directory and the accounts write their own rows in it, so a change to them and
        its audit record commit together with *actor* as the record's actor.
        """
        check_actor(actor)
        return self._write(actor)

    @contextlib.contextmanager
    def _write(self, actor: str) -> Iterator[tuple[Transaction, Recorder]]:
        """A write transaction with a recorder that adds audit records to it."""
        with self._transaction(write=True) as tx:
            at = check_time(self._clock(), "clock()")

            def record(
                group: str, action: Action, detail: Mapping[str, Any], codes: Sequence[str] = ()
            ) -> None:
                if not codes:
                    tx.record(at, actor, group, action, detail)
                    return
                secret = tx.secret()
                if secret is None:  # pragma: no cover - every opened store has its secret
                    raise ConflictError("the store has no secret: open it for writing first")
                fps = sorted({code_fingerprint(secret, code) for code in codes})
                tx.record(at, actor, group, action, detail, fps=fps)

            yield tx, record
            sync.trim_journal(tx)

    # -- groups ---------------------------------------------------------------------------------

    def set_group(self, group: str, settings: GroupSettings, *, actor: str) -> None:
        """Create *group* or change its settings (users included); its codes are kept.

        Refused with :class:`ConflictError` when the group holds codes of another length, as
        ``CodeBook.set_group``. Runtime complexity: O(u) for u users, plus O(n) to count codes
        when the length changes.
        """
        self.modify_group(group, lambda _old: settings, actor=actor, create=True)

    def modify_group(
        self,
        group: str,
        change: Callable[[GroupSettings], GroupSettings],
        *,
        actor: str,
        create: bool = False,
    ) -> GroupSettings:
        """Read the settings of *group*, apply *change*, write the result: one transaction.

        With *create*, a missing group starts from the default settings; without it, a missing
        group is an :class:`UnknownGroupError`. Returns the new settings.
        Runtime complexity: as :meth:`set_group`.
        """
        check_actor(actor)
        check_group_name(group)
        with self._write(actor) as (tx, record):
            gid = tx.find_group(group)
            if gid is None and not create:
                raise UnknownGroupError(group)
            old = None if gid is None else tx.settings(gid)
            settings = change(GroupSettings() if old is None else old)
            scratch_book(group, settings)  # the book's checks of the name and the settings
            if gid is not None and old is not None and old.code_length != settings.code_length:
                held = tx.count(gid)
                if held:
                    raise ConflictError(
                        f"group {group!r} holds {held} code(s) of {old.code_length} digits; "
                        f"delete them before changing code_length to {settings.code_length}"
                    )
            if old == settings:
                return settings
            if old is None:
                _create(tx, record, group, settings)
                return settings
            _check_directory(tx, group, old, settings)
            tx.put_settings(group, gid, settings)
            if old.mode is Mode.ACCOUNT and settings.mode is not Mode.ACCOUNT:
                _hide_account_codes(tx, group)
            tx.journal(group, "settings")
            diff = settings_diff(old, settings)
            record(group, settings_action(diff), diff)
            return settings

    def create_group(
        self, group: str, settings: GroupSettings, *, provider: str | None = None, actor: str
    ) -> None:
        """Create *group* with *settings*, in the service provider *provider*: one transaction.

        Refused with :class:`ConflictError` when a group of that name exists, whoever's it is,
        so a tenant creating a group never changes another's. Runtime complexity: O(u) for u
        users.
        """
        check_actor(actor)
        check_group_name(group)
        if provider is not None:
            check_provider_id("provider", provider)
        scratch_book(group, settings)
        with self._write(actor) as (tx, record):
            if tx.find_group(group) is not None:
                raise ConflictError(f"a group named {group!r} exists already: choose another name")
            gid = _create(tx, record, group, settings)
            if provider is not None:
                _put_provider(tx, record, group, gid, old=None, new=provider)

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
        """Create or replace *group* whole: settings, users and codes, in one transaction.

        All-or-nothing, validated as ``CodeBook.replace_group``. Use counts of codes that stay
        are kept, and so are locks: replacing the policy does not reset toll-fraud state.
        *progress* is called with the number of codes written after each chunk. A *dialplan*
        is stored with the group in the same transaction; without one, the group keeps its plan.
        Runtime complexity: O(n log n) for n codes.
        """
        check_actor(actor)
        check_group_name(group)
        scratch_book(group, settings)  # the book's checks of the name and the settings
        with no_gc():
            entries = in_code_order(validated_new_codes(group, settings, (), codes))
        with self._write(actor) as (tx, record):
            found = tx.find_group(group)
            old = None if found is None else tx.settings(found)
            if old is None:  # a new group starts without the directory of a removed namesake
                tx.remove_directory(group)
            _check_directory(tx, group, old, settings)
            gid = tx.put_settings(group, found, settings)
            if old is not None and old.mode is Mode.ACCOUNT and settings.mode is not Mode.ACCOUNT:
                _hide_account_codes(tx, group)
            removed = tx.replace_codes(gid, entries, progress)
            tx.forget_journal_codes(group)  # removed codes stay nowhere outside the table
            tx.journal(group, "group")
            detail: dict[str, Any] = {"settings": settings_detail(settings)}
            if old is not None:
                detail["changed"] = settings_diff(old, settings)["changed"]
            detail.update(codes_detail(entries, settings.mode, "codes"))
            detail["removed_count"] = removed
            if dialplan is not None:
                tx.put_dialplan(gid, check_plan(dialplan))
                tx.journal(group, "dialplan")
                detail["dialplan"] = dialplan.to_dict()
            record(group, Action.GROUP_REPLACE, detail, [e.code for e in entries])

    def remove_group(self, group: str, *, actor: str) -> None:
        """Delete *group* with everything it holds, in one transaction.

        Its users, codes, use counts, locks, dial plan, provider and user directory go with it,
        and its group administrators' accounts with their tokens (named in the audit record).

        Runtime complexity: O(n) for n codes.
        """
        check_actor(actor)
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            settings = tx.settings(gid)
            removed = tx.remove_group(gid)
            tx.remove_directory(group)  # its user directory goes with it, in this transaction
            # Its administrators too: a later group of the same name must not be theirs.
            accounts = tx.remove_group_accounts(group)
            tx.forget_journal_codes(group)
            tx.journal(group, "group")
            detail: dict[str, Any] = {
                "settings": settings_detail(settings),
                "removed_count": removed,
            }
            if accounts:
                detail["accounts_removed"] = accounts
            record(group, Action.GROUP_REMOVE, detail)

    def set_provider(self, group: str, provider: str | None, *, actor: str) -> None:
        """Put *group* in the service provider *provider*, or in none with None.

        A provider id is printable, 1 to 30 characters, without spaces at either end. Audited
        as ``group.provider`` with ``{"from": old, "to": new}``; nothing is written when the
        group is already there. Raises :class:`UnknownGroupError` for a group that does not
        exist. Runtime complexity: O(1).
        """
        check_actor(actor)
        check_group_name(group)
        if provider is not None:
            check_provider_id("provider", provider)
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            old = tx.provider(gid)
            if old != provider:
                _put_provider(tx, record, group, gid, old=old, new=provider)

    # -- codes ----------------------------------------------------------------------------------

    def replace_codes(
        self,
        group: str,
        codes: Iterable[CodeEntry | str],
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Replace the codes of *group* whole, keeping its settings (as :meth:`replace_group`).

        Runtime complexity: O(n log n) for n codes.
        """
        check_actor(actor)
        check_group_name(group)
        batch = list(codes)
        with self._write(actor) as (tx, record), no_gc():
            gid = self._group_id(tx, group)
            settings = tx.settings(gid)
            entries = in_code_order(validated_new_codes(group, settings, (), batch))
            removed = tx.replace_codes(gid, entries, progress)
            tx.forget_journal_codes(group)  # removed codes stay nowhere outside the table
            tx.journal(group, "group")
            detail = codes_detail(entries, settings.mode, "codes")
            detail["removed_count"] = removed
            record(group, Action.CODES_REPLACE, detail, [e.code for e in entries])

    def check_codes(
        self, group: str, codes: Iterable[CodeEntry | str], *, replace: bool = False
    ) -> list[RowError]:
        """The rows ``add_codes`` (``replace_codes`` with *replace*) would refuse; writes nothing.

        Rows are numbered from 0 in batch order, as in :class:`BatchError`.
        Runtime complexity: O(k log k) for k codes, plus a lookup of each in the group.
        """
        batch = list(codes)
        with self._transaction(write=False) as tx, no_gc():
            gid = self._group_id(tx, group)
            settings = tx.settings(gid)
            stored = [] if replace else tx.existing(gid, codes_of(batch))
            try:
                validated_new_codes(group, settings, set(stored), batch)
            except BatchError as exc:
                return list(exc.rows)
        return []

    def add_codes(
        self,
        group: str,
        codes: Iterable[CodeEntry | str],
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Add codes to *group* in one all-or-nothing batch, refused as ``CodeBook.add_codes``.

        *progress* is called with the number of codes written after each chunk.
        Runtime complexity: O(k log k) for k codes, plus a lookup of each in the group.
        """
        check_actor(actor)
        check_group_name(group)
        batch = list(codes)
        with self._write(actor) as (tx, record), no_gc():
            gid = self._group_id(tx, group)
            settings = tx.settings(gid)
            stored = tx.existing(gid, codes_of(batch))
            added = in_code_order(validated_new_codes(group, settings, set(stored), batch))
            if not added:
                return
            tx.insert_codes(gid, added, {}, progress)
            sync.journal_codes(tx, group, [e.code for e in added])
            record(
                group, Action.CODES_ADD, codes_detail(added, settings.mode), [e.code for e in added]
            )

    def edit_codes(self, group: str, descriptions: Mapping[str, str | None], *, actor: str) -> None:
        """Set the descriptions of many codes at once (``None`` clears one), as the book does.

        Runtime complexity: O(k log n) for k codes.
        """
        check_actor(actor)
        check_group_name(group)
        self._change_codes(
            group,
            list(descriptions),
            lambda scratch: scratch.edit_codes(group, descriptions),
            actor=actor,
            action=Action.CODES_EDIT,
        )

    def update_codes(self, group: str, entries: Iterable[CodeEntry], *, actor: str) -> None:
        """Replace existing codes' entries wholly, as ``CodeBook.update_codes``; uses are kept.

        Runtime complexity: O(k log n) for k codes.
        """
        check_actor(actor)
        check_group_name(group)
        batch = list(entries)
        self._change_codes(
            group,
            [e.code for e in batch if isinstance(e, CodeEntry)],
            lambda scratch: scratch.update_codes(group, batch),
            actor=actor,
            action=Action.CODES_UPDATE,
        )

    def modify_codes(
        self,
        group: str,
        codes: Iterable[str],
        change: Callable[[CodeEntry], CodeEntry],
        *,
        actor: str,
    ) -> list[CodeEntry]:
        """Apply *change* to the entries of *codes* and write them back: one transaction.

        Every code must be on the list (each one that is not is reported, as ``edit_codes``
        reports it); *change* returns the new entry for the same code. Returns the new entries.
        Runtime complexity: O(k log n) for k codes.
        """
        check_actor(actor)
        check_group_name(group)
        wanted = list(dict.fromkeys(codes))
        changed: list[CodeEntry] = []

        def apply(scratch: CodeBook) -> None:
            before = {code: scratch.get(group, code) for code in wanted}
            # Editing each known code's description to itself reports unknown codes exactly as
            # a bulk edit does, and changes nothing else.
            scratch.edit_codes(
                group, {code: e.description if e else None for code, e in before.items()}
            )
            changed.extend(change(entry) for entry in before.values() if entry is not None)
            for old_code, new in zip(before, changed, strict=True):
                if not isinstance(new, CodeEntry) or new.code != old_code:
                    raise InvalidValueError(
                        "change", new, f"must return the entry of code {old_code!r}, changed"
                    )
            scratch.update_codes(group, changed)

        self._change_codes(group, wanted, apply, actor=actor, action=Action.CODES_EDIT)
        return changed

    def _change_codes(
        self,
        group: str,
        codes: Sequence[object],
        apply: Callable[[CodeBook], None],
        *,
        actor: str,
        action: Action,
    ) -> None:
        """Apply a change to a scratch book of the stored *codes*, then write what it changed."""
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            settings = tx.settings(gid)
            scratch = scratch_book(group, settings, tx.entries(gid, codes_of(codes)).values())
            before = {code: scratch.get(group, code) for code in codes_of(codes)}
            apply(scratch)
            edits = changed_entries(scratch, group, before)
            if not edits:
                return
            tx.update_codes(gid, [new for _old, new in edits])
            sync.journal_codes(tx, group, [new.code for _old, new in edits])
            record(
                group, action, edits_detail(edits, settings.mode), [new.code for _old, new in edits]
            )

    def delete_codes(self, group: str, codes: Iterable[str], *, actor: str) -> None:
        """Delete a selection of codes in one all-or-nothing batch, as ``CodeBook.delete_codes``.

        Runtime complexity: O(k log n) for k codes.
        """
        check_actor(actor)
        check_group_name(group)
        batch = list(codes)
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            settings = tx.settings(gid)
            scratch = scratch_book(group, settings, tx.entries(gid, codes_of(batch)).values())
            gone = [scratch.get(group, code) for code in dict.fromkeys(batch)]
            scratch.delete_codes(group, batch)
            deleted = [entry for entry in gone if entry is not None]
            if not deleted:
                return
            tx.delete_codes(gid, [entry.code for entry in deleted])
            if settings.mode is Mode.ACCOUNT:
                sync.journal_codes(tx, group, [entry.code for entry in deleted])
            else:  # a deleted secret stays nowhere: the group is reloaded whole instead
                tx.forget_journal_codes(group)
                tx.journal(group, "group")
            record(
                group,
                Action.CODES_DELETE,
                codes_detail(deleted, settings.mode),
                [e.code for e in deleted],
            )

    # -- use counts, locks and dial plans -------------------------------------------------------

    def consume(self, group: str, code: str) -> bool:
        """Count one use of a use-limited code; False when it has none left (or is not listed).

        Atomic across threads and processes: two callers racing for the last use cannot both
        win. Codes without ``max_uses`` are not counted and always succeed, as in the book.
        Runtime complexity: O(log n).
        """
        with self._transaction(write=True) as tx:
            gid = self._group_id(tx, group)
            if tx.count_use(gid, code):
                tx.journal(group, "code", code)
                return True
            return tx.unlimited(gid, code)

    def lock(self, lock: Lock, *, actor: str) -> None:
        """Put a user or group lock in place (replacing an earlier one), as ``CodeBook.lock``.

        Runtime complexity: O(log u).
        """
        check_actor(actor)
        with self._write(actor) as (tx, record):
            if not isinstance(lock, Lock):
                raise InvalidValueError("lock", lock, "must be a Lock")
            gid = self._group_id(tx, lock.group)
            scratch_book(lock.group, GroupSettings()).lock(lock)
            tx.put_lock(gid, lock)
            tx.journal(lock.group, "locks")
            record(lock.group, Action.LOCK, lock_detail(lock))

    def unlock(self, group: str, user: str | None = None, *, actor: str) -> bool:
        """Lift the lock on *user*, or on the whole group when *user* is None.

        Returns whether a lock was lifted (only then is an audit record written).
        Runtime complexity: O(log u).
        """
        check_actor(actor)
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            held = [lock for lock in tx.locks(gid, group) if lock.user == user]
            if not held:
                return False
            tx.delete_lock(gid, user)
            tx.journal(group, "locks")
            record(group, Action.UNLOCK, lock_detail(held[0]))
            return True

    def suspend(self, group: str, code: str, since: datetime, *, actor: str) -> bool:
        """Suspend a listed *code* from *since* until :meth:`restore`, as ``CodeBook.suspend``.

        Returns False (and records nothing) when the code is not on the group's list. Audited
        as ``code.suspend`` with the code masked (found by it, as any audited code). Runtime
        complexity: O(1).
        """
        check_actor(actor)
        since = check_time(since, "since")
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            if not tx.put_suspended(gid, code, since):
                return False
            tx.journal(group, "group")
            detail = {"code": code_for_audit(code, Mode.AUTHORIZATION), "since": since.isoformat()}
            record(group, Action.CODE_SUSPEND, detail, [code])
            return True

    def restore(self, group: str, code: str, *, actor: str) -> bool:
        """Lift the suspension of *code*; whether it was suspended (only then is it audited).

        Runtime complexity: O(s) for s suspended codes of the group.
        """
        check_actor(actor)
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            since = tx.suspended(gid).get(code)
            if since is None:
                return False
            tx.put_suspended(gid, code, None)
            tx.journal(group, "group")
            detail = {"code": code_for_audit(code, Mode.AUTHORIZATION), "since": since.isoformat()}
            record(group, Action.CODE_RESTORE, detail, [code])
            return True

    def set_dialplan(self, group: str, plan: DialPlan | None, *, actor: str) -> None:
        """Give *group* a dial plan, or remove its plan with None (audited as ``dialplan.update``).

        Raises :class:`UnknownGroupError` for a group that does not exist. Runtime complexity:
        O(1).
        """
        check_actor(actor)
        check_group_name(group)
        if plan is not None:
            check_plan(plan)
        with self._write(actor) as (tx, record):
            gid = self._group_id(tx, group)
            old = tx.dialplan(gid)
            if old == plan:
                return
            tx.put_dialplan(gid, plan)
            tx.journal(group, "dialplan")
            record(group, Action.DIALPLAN_UPDATE, plan_diff(old, plan))


def _check_directory(
    tx: Transaction, group: str, old: GroupSettings | None, new: GroupSettings
) -> None:
    """Refuse users the change newly enrolls who are not in the group's user directory."""
    before = frozenset() if old is None else old.mandatory_users | old.optional_users
    if (new.mandatory_users | new.optional_users) - before:  # only then is the directory read
        check_enrolled(group, old, new, tx.directory_ids(group))


def _hide_account_codes(tx: Transaction, group: str) -> None:
    """The group's account codes become secrets: mask them in its audit records and journal.

    Its records made in account mode held them in clear (as they should then); from now on the
    same codes authorize calls, so no record and no journal entry may name one.
    """
    tx.rewrite_audit(group, mask_detail_codes)
    tx.forget_journal_codes(group)


def _create(tx: Transaction, record: Recorder, group: str, settings: GroupSettings) -> int:
    """Write a new group's settings and its creation record; its id."""
    tx.remove_directory(group)  # a new group starts without the directory of a removed namesake
    _check_directory(tx, group, None, settings)
    gid = tx.put_settings(group, None, settings)
    tx.journal(group, "group")
    record(group, Action.GROUP_CREATE, {"settings": settings_detail(settings)})
    return gid


def _put_provider(
    tx: Transaction, record: Recorder, group: str, gid: int, *, old: str | None, new: str | None
) -> None:
    """Move a group from provider *old* to *new*: the row, the journal, the audit record."""
    tx.put_provider(gid, new)
    tx.journal(group, "provider")
    record(group, Action.GROUP_PROVIDER, provider_diff(old, new))
