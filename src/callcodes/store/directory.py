"""A group's user directory: who may be enrolled, searched as BroadWorks' Available list is.

BroadWorks' Account/Authorization Codes pages pick users from the group's *Available* list (every
user of the group on neither list) into the Mandatory or Optional table. :class:`UserDirectory`
keeps those users for each group of a policy store (user id, first and last name, department,
phone number, extension), imports and exports them as CSV, searches the available ones like
``GroupAccountAuthorizationCodesGetAvailableUserListRequest`` (starts with, contains, equal to;
case-insensitive; a response size limit) and moves users between the lists.

Once a group has directory entries, a user who is not in them cannot be enrolled (a group
without entries keeps enrolling any user id): one rule (``checks.check_enrolled``) that the
store's own writes follow too. Every change is one transaction of the policy
store with one audit record per group it changes (``users.directory`` or ``users.update``), so
nothing is ever half written. What a backend provides is only :class:`DirectoryRows`; the checks
and the search are here, the same for every database (``directory_sql`` for SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, TextIO

import attrs

from .._csvsafe import cell, unquote
from .._errors import BatchError, ConflictError, InvalidValueError, RowError
from .._files import read_text
from ..core._validate import description_problem
from ..core.model import GroupSettings
from .audit import MAX_DETAIL_CODES, Action, settings_action
from .backend import Transaction
from .checks import check_actor, check_enrolled
from .details import settings_diff
from .writes import BaseStore

__all__ = [
    "ALL",
    "FIELDS",
    "DirectoryRows",
    "DirectoryUser",
    "Match",
    "UserDirectory",
    "parse_csv",
    "write_csv",
]

#: The CSV columns, in order; the first four are required in every row.
FIELDS: Final = (
    "group",
    "user_id",
    "first_name",
    "last_name",
    "department",
    "phone_number",
    "extension",
)
_REQUIRED: Final = FIELDS[:4]
_PHONE_CHARS: Final = frozenset("0123456789+")
_MAX_ID: Final = 161  # BroadWorks' longest user id (user@domain)


class Match(enum.StrEnum):
    """How a search criterion matches a field (case-insensitive), as BroadWorks' search modes."""

    STARTS = "starts"
    CONTAINS = "contains"
    EQUAL = "equal"


class _All:
    """Every directory user not on the other list (``ALL``)."""

    def __repr__(self) -> str:
        return "ALL"


#: For :meth:`UserDirectory.set_users`: every directory user of the group not on the other list.
ALL: Final = _All()


def _field_problem(name: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"{name} must be a string"
    if value != value.strip():
        return f"{name} may not start or end with spaces"
    if name in _REQUIRED and not value:
        return f"{name} is required"
    if name in ("phone_number", "extension"):
        if not _PHONE_CHARS.issuperset(value) or "+" in value[1:] or value == "+":
            return f"{name} holds digits only (a phone number may start with +), not {value!r}"
        return None if len(value) <= 30 else f"{name} has at most 30 digits"
    if name in ("group", "user_id"):
        if len(value) > _MAX_ID or not value.isprintable():
            return f"{name} is at most {_MAX_ID} printable characters"
        return None
    return description_problem(value)


@attrs.frozen
class DirectoryUser:
    """One user of a group's directory: ids, names, department, phone number and extension."""

    group: str
    user_id: str
    first_name: str
    last_name: str
    department: str = ""
    phone_number: str = ""
    extension: str = ""

    def __attrs_post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            problem = _field_problem(name, value)
            if problem is not None:
                raise InvalidValueError(name, value, problem)

    def to_dict(self) -> dict[str, str]:
        """The user as plain JSON values, keyed as the CSV columns."""
        return {name: getattr(self, name) for name in FIELDS}


class DirectoryRows(Protocol):
    """What a backend does for the directory inside one of the store's transactions."""

    def rows(self, group: str | None) -> Sequence[tuple[str, ...]]:
        """The rows (fields in ``FIELDS`` order) of *group*, or of every group when None."""
        ...  # pragma: no cover

    def replace(self, group: str, rows: Sequence[tuple[str, str, str, str, str, str, str]]) -> None:
        """Make *rows* the whole directory of *group*."""
        ...  # pragma: no cover


def _rows_for(store: BaseStore) -> Callable[[Transaction], DirectoryRows]:
    from .directory_sql import directory_rows  # noqa: PLC0415  # the rows in SQL

    return directory_rows(store)


class UserDirectory:
    """The user directories of the groups in a policy *store*.

    ``UserDirectory(store)`` for either SQL store, the SQLite ``PolicyStore`` or the
    ``PostgresPolicyStore`` (its tables are created by its first write, in that write's
    transaction); another backend passes *rows*, which gives the :class:`DirectoryRows` of one
    of its transactions. Writes name an *actor* for the audit trail, like the store's own.
    """

    def __init__(
        self, store: BaseStore, rows: Callable[[Transaction], DirectoryRows] | None = None
    ) -> None:
        self._store = store
        self._rows = _rows_for(store) if rows is None else rows

    # -- reading ---------------------------------------------------------------------------------

    def users(self, group: str | None = None) -> list[DirectoryUser]:
        """The directory of *group* (of every group when None), by group then user id.

        Runtime complexity: O(d) for d directory users.
        """
        with self._store.reading() as tx:
            if group is not None:
                self._store.group_id(tx, group)
            return [DirectoryUser(*row) for row in self._rows(tx).rows(group)]

    def available(
        self,
        group: str,
        *,
        user_id: str | None = None,
        last_name: str | None = None,
        first_name: str | None = None,
        department: str | None = None,
        phone_number: str | None = None,
        extension: str | None = None,
        match: Match | str = Match.STARTS,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[DirectoryUser]:
        """The group's directory users on neither list that match every criterion given.

        Each criterion is compared with its field as *match* says, ignoring case; users come
        in last name, first name, user id order, at most *limit* of them. *after* is the user
        id of the last user of the previous page (a user of the group's directory): the page
        starts after that user in this order.
        Runtime complexity: O(d log d) for d directory users.
        """
        how = _match(match)
        if limit is not None and (type(limit) is not int or limit < 1):
            raise InvalidValueError("limit", limit, "a response size limit is at least 1")
        given = {
            "user_id": user_id,
            "last_name": last_name,
            "first_name": first_name,
            "department": department,
            "phone_number": phone_number,
            "extension": extension,
        }
        criteria = {name: text.casefold() for name, text in given.items() if text is not None}
        for name, text in criteria.items():
            if not text:
                raise InvalidValueError(name, text, "a search criterion is not empty")
        with self._store.reading() as tx:
            settings = tx.settings(self._store.group_id(tx, group))
            rows = self._rows(tx).rows(group)
        listed = settings.mandatory_users | settings.optional_users
        everyone = list(map(_user, rows))
        found = [
            user
            for user in everyone
            if user.user_id not in listed and _matches(user, criteria, how)
        ]
        found.sort(key=_order)
        if after is not None:
            last = next((user for user in everyone if user.user_id == after), None)
            if last is None:
                raise InvalidValueError(
                    "after",
                    after,
                    f"not a user of group {group!r}'s directory: give the 'next' of the "
                    "previous page",
                )
            found = [user for user in found if _order(user) > _order(last)]
        return found if limit is None else found[:limit]

    def missing(self, group: str, users: Iterable[str]) -> list[str]:
        """Which of *users* the group may not enroll: not in its directory, when it has one."""
        with self._store.reading() as tx:
            self._store.group_id(tx, group)
            known = {row[1] for row in self._rows(tx).rows(group)}
        return sorted(set(users) - known) if known else []

    # -- writing ---------------------------------------------------------------------------------

    def put(self, users: Iterable[DirectoryUser], *, actor: str) -> dict[str, int]:
        """Make *users* the whole directory of each group they name; other groups keep theirs.

        All-or-nothing. Refused when a group does not exist, a user appears twice, or a user
        enrolled in the group is left out (take them off the lists first). Writes one audit
        record per group whose directory changed. Returns each named group's user count.
        """
        batch = list(users)
        for index, user in enumerate(batch, start=1):
            if not isinstance(user, DirectoryUser):
                raise BatchError(
                    "directory", [RowError(index, str(user), "must be a DirectoryUser")]
                )
        return self._replace(batch, list(range(1, len(batch) + 1)), [], "directory", actor=actor)

    def import_csv(self, data: bytes, *, actor: str, source: str = "file") -> dict[str, int]:
        """Read a CSV directory (see :func:`parse_csv`) and :meth:`put` it, all or nothing.

        Every bad row is reported at once with its line number (the header is line 1),
        including rows naming groups the store does not hold.
        """
        users, lines, errors = parse_csv(data, source)
        what = f"import {source} into the user directory (rows are numbered by line)"
        return self._replace(users, lines, errors, what, actor=actor)

    def _replace(
        self,
        users: list[DirectoryUser],
        lines: list[int],
        errors: list[RowError],
        what: str,
        *,
        actor: str,
    ) -> dict[str, int]:
        check_actor(actor)
        seen: dict[tuple[str, str], int] = {}
        errors = list(errors)
        for user, line in zip(users, lines, strict=True):
            key = (user.group, user.user_id)
            if key in seen:
                errors.append(
                    RowError(
                        line, user.user_id, f"in group {user.group!r} already (row {seen[key]})"
                    )
                )
            else:
                seen[key] = line
        by_group: dict[str, list[DirectoryUser]] = {}
        for user in users:
            by_group.setdefault(user.group, []).append(user)
        store = self._store
        with store.writing(actor) as (tx, record):
            gids = {group: tx.find_group(group) for group in by_group}
            for user, line in zip(users, lines, strict=True):
                if gids[user.group] is None:
                    errors.append(
                        RowError(line, user.user_id, f"group {user.group!r} is not in the store")
                    )
            if errors:
                raise BatchError(what, sorted(errors, key=lambda e: e.row))
            rows = self._rows(tx)
            counts = {}
            for group, members in sorted(by_group.items()):
                gid = gids[group]
                assert gid is not None
                ids = {u.user_id for u in members}
                settings = tx.settings(gid)
                left_out = (settings.mandatory_users | settings.optional_users) - ids
                if left_out:
                    raise ConflictError(
                        f"group {group!r} enrolls user(s) the new directory leaves out: "
                        f"{', '.join(sorted(left_out))}; take them off the lists first "
                        f"(callcodes users remove {group} ...) or keep them in the directory"
                    )
                before = {row[1]: tuple(row) for row in rows.rows(group)}
                after = {u.user_id: _row(u) for u in members}
                counts[group] = len(after)
                if before == after:
                    continue
                rows.replace(group, sorted(after.values(), key=lambda r: r[1]))
                record(group, Action.DIRECTORY_UPDATE, _directory_detail(before, after))
        return counts

    def set_users(
        self,
        group: str,
        *,
        mandatory: Iterable[str] | _All | None = None,
        optional: Iterable[str] | _All | None = None,
        actor: str,
    ) -> GroupSettings:
        """Set the group's mandatory and optional lists in one transaction and one audit record.

        A list given as users becomes exactly those users, who leave the other list; ``()``
        empties it; :data:`ALL` makes it every directory user not on the other list; None
        leaves it (less the users moving to the other). Refused when a user is named for both
        lists, both are ``ALL``, ``ALL`` is asked of a group without a directory, or a user
        not in the group's directory (once it has one) would be enrolled. Returns the settings.
        """
        check_actor(actor)
        if mandatory is None and optional is None:
            raise InvalidValueError("lists", None, "say which list to set: mandatory or optional")
        if isinstance(mandatory, _All) and isinstance(optional, _All):
            raise InvalidValueError(
                "lists", "all", "only one list can take every available user; give the other"
            )
        wanted_m = _named("mandatory", mandatory)
        wanted_o = _named("optional", optional)
        both = (wanted_m or set()) & (wanted_o or set())
        if both:
            raise InvalidValueError(
                "lists", sorted(both), "a user is on one list only: name each once"
            )
        uses_all = isinstance(mandatory, _All) or isinstance(optional, _All)

        def change(old: GroupSettings, directory: frozenset[str]) -> GroupSettings:
            if uses_all and not directory:
                raise ConflictError(
                    f"group {group!r} has no user directory, so 'all' has no users to take: "
                    "import one first (callcodes users directory import FILE)"
                )
            new_m, new_o = old.mandatory_users, old.optional_users
            if wanted_m is not None:
                new_m = frozenset(wanted_m)
                new_o = new_o - new_m
            if wanted_o is not None:
                new_o = frozenset(wanted_o)
                new_m = new_m - new_o if wanted_m is None else new_m
            if isinstance(mandatory, _All):
                new_m = directory - new_o
            if isinstance(optional, _All):
                new_o = directory - new_m
            return attrs.evolve(old, mandatory_users=new_m, optional_users=new_o)

        return self.modify_lists(group, change, actor=actor)[1]

    def enroll(
        self, group: str, users: Iterable[str], which: str, *, actor: str
    ) -> tuple[GroupSettings, GroupSettings]:
        """Put *users* on the ``mandatory`` or ``optional`` list (*which*), as ``users add``.

        Refused for users not in the group's directory once it has one, and (by the settings'
        own check) for users already on the other list. Returns the settings before and after.
        """
        if which not in ("mandatory", "optional"):
            raise InvalidValueError("which", which, "say which list: mandatory or optional")
        named = _named(which, users) or set()
        field = f"{which}_users"

        def add(old: GroupSettings, _directory: frozenset[str]) -> GroupSettings:
            return attrs.evolve(old, **{field: getattr(old, field) | named})

        return self.modify_lists(group, add, actor=actor)

    def modify_lists(
        self,
        group: str,
        change: Callable[[GroupSettings, frozenset[str]], GroupSettings],
        *,
        actor: str,
    ) -> tuple[GroupSettings, GroupSettings]:
        """Apply *change* to the group's settings and write them: one transaction, one record.

        *change* gets the settings and the user ids of the group's directory. Users it newly
        enrolls must be in that directory, when the group has one. Returns the settings before
        and after. Runtime complexity: O(u + d) for u enrolled and d directory users.
        """
        check_actor(actor)
        store = self._store
        with store.writing(actor) as (tx, record):
            gid = store.group_id(tx, group)
            old = tx.settings(gid)
            directory = frozenset(row[1] for row in self._rows(tx).rows(group))
            new = change(old, directory)
            if not isinstance(new, GroupSettings):
                raise InvalidValueError("change", new, "must return the group's GroupSettings")
            if (
                attrs.evolve(
                    old, mandatory_users=new.mandatory_users, optional_users=new.optional_users
                )
                != new
            ):
                raise InvalidValueError("change", new, "may change the users' lists only")
            added = (new.mandatory_users | new.optional_users) - (
                old.mandatory_users | old.optional_users
            )
            if added:
                check_enrolled(group, old, new, directory)  # the store's own rule
            if new != old:
                tx.put_settings(group, gid, new)
                tx.journal(group, "settings")
                diff = settings_diff(old, new)
                record(group, settings_action(diff), diff)
            return old, new


def _named(which: str, value: Iterable[str] | _All | None) -> set[str] | None:
    if value is None or isinstance(value, _All):
        return None
    if isinstance(value, str):
        raise InvalidValueError(which, value, "give a list of user ids (or ALL), not one string")
    users = set(value)
    for user in users:
        if not isinstance(user, str) or not user or user != user.strip():
            raise InvalidValueError(
                which, user, "a user id is a non-empty string without surrounding spaces"
            )
    return users


def _match(value: Match | str) -> Match:
    try:
        return Match(value)
    except ValueError:
        raise InvalidValueError(
            "match", value, f"must be one of {', '.join(m.value for m in Match)}"
        ) from None


def _matches(user: DirectoryUser, criteria: Mapping[str, str], how: Match) -> bool:
    for name, text in criteria.items():
        value = getattr(user, name).casefold()
        if how is Match.STARTS:
            hit = value.startswith(text)
        elif how is Match.CONTAINS:
            hit = text in value
        else:
            hit = value == text
        if not hit:
            return False
    return True


def _order(user: DirectoryUser) -> tuple[str, str, str]:
    """Where a user comes in the available list: last name, first name, user id."""
    return (user.last_name.casefold(), user.first_name.casefold(), user.user_id)


def _user(row: Sequence[str]) -> DirectoryUser:
    return DirectoryUser(*row)


def _row(user: DirectoryUser) -> tuple[str, str, str, str, str, str, str]:
    return (
        user.group,
        user.user_id,
        user.first_name,
        user.last_name,
        user.department,
        user.phone_number,
        user.extension,
    )


def _directory_detail(
    before: Mapping[str, tuple[str, ...]], after: Mapping[str, tuple[str, ...]]
) -> dict[str, Any]:
    """A directory change as an audit record shows it: user ids added, removed and updated."""
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    updated = sorted(k for k in after.keys() & before.keys() if after[k] != before[k])
    return {
        "changed": {
            "directory": {
                "added": added[:MAX_DETAIL_CODES],
                "removed": removed[:MAX_DETAIL_CODES],
                "updated": updated[:MAX_DETAIL_CODES],
                "counts": {"added": len(added), "removed": len(removed), "updated": len(updated)},
                "users": len(after),
            }
        }
    }


# -- CSV ------------------------------------------------------------------------------------------


def parse_csv(
    data: bytes, source: str = "file"
) -> tuple[list[DirectoryUser], list[int], list[RowError]]:
    """Read a CSV directory: the good users with their lines, and every bad row with its line.

    The first line is the header: ``group,user_id,first_name,last_name`` and any of
    ``department,phone_number,extension``, in any order. Lines are numbered from 1 (the header);
    blank lines are skipped; a UTF-8 byte order mark and CRLF line ends are accepted; a cell
    written behind a ``'`` by an export (a spreadsheet-safe cell) is read without it. A file
    that is not UTF-8 CSV with such a header raises :class:`InvalidValueError`.
    """
    reader = csv.reader(io.StringIO(read_text(data, source), newline=""), strict=True)
    users: list[DirectoryUser] = []
    lines: list[int] = []
    errors: list[RowError] = []
    header: list[str] | None = None
    consumed = 0
    try:
        for cells in reader:
            start, consumed = consumed + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                _check_header(header, source)
                continue
            if len(cells) != len(header):
                errors.append(
                    RowError(
                        start,
                        cells[1] if len(cells) > 1 else "",
                        f"has {len(cells)} cell(s), the header names {len(header)}",
                    )
                )
                continue
            values = {name: unquote(value) for name, value in zip(header, cells, strict=True)}
            try:
                users.append(DirectoryUser(**values))
            except InvalidValueError as exc:
                errors.append(RowError(start, values.get("user_id", ""), exc.problem))
            else:
                lines.append(start)
    except csv.Error as exc:
        raise InvalidValueError(
            "file", source, f"is not valid CSV (line {reader.line_num}: {exc})"
        ) from None
    if header is None:
        raise InvalidValueError(
            "file", source, f"is empty: line 1 must be the header, e.g. {','.join(FIELDS)}"
        )
    return users, lines, errors


def _check_header(header: list[str], source: str) -> None:
    unknown = [name for name in header if name not in FIELDS]
    missing = [name for name in _REQUIRED if name not in header]
    twice = sorted({name for name in header if header.count(name) > 1})
    if unknown or missing or twice:
        problems = []
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if twice:
            problems.append(f"repeated column(s) {', '.join(twice)}")
        raise InvalidValueError(
            "file",
            source,
            f"line 1 must be a header naming {', '.join(_REQUIRED)} and any of "
            f"{', '.join(FIELDS[4:])}: {'; '.join(problems)}",
        )


def write_csv(users: Iterable[DirectoryUser], out: TextIO) -> int:
    """Write *users* as CSV with the header ``FIELDS``, spreadsheet-safe; returns the row count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    count = 0
    for user in users:
        writer.writerow([cell(getattr(user, name)) for name in FIELDS])
        count += 1
    return count
