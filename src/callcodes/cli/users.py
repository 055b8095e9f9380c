"""The ``users`` commands: a group's mandatory and optional users, and its user directory.

They follow the BroadWorks Account/Authorization Codes pages: ``list``, ``add`` and ``remove``
manage the two lists; ``directory import/export/list`` keep the group's users (CSV);
``available`` searches the users on neither list, as the Available list's user search does; and
``set`` moves users between the lists at once (``all``, ``none``), in one audited change.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs
import click

from .._errors import InvalidValueError
from ..core.model import GroupSettings
from ..store.directory import ALL, Match, UserDirectory, write_csv
from ._common import (
    GROUP,
    JSON_OPTION,
    USER,
    Whole,
    echo_json,
    name_list,
    read_input,
    state,
    table,
)

__all__ = ["users"]

_EVERY = "all"
_NOBODY = "none"


def _directory(*, create: bool = False) -> UserDirectory:
    return UserDirectory(state().store(create=create))


def _read_users(name: str | None) -> list[Any]:
    """The directory users of *name* (of every group when None), the store opened read-only.

    A store whose directory tables were never created has no directory users: nothing is
    created to say so (the directory creates its tables only when it first writes).
    """
    return UserDirectory(state().store(read_only=True)).users(name)


@click.group()
def users() -> None:
    """Manage a group's mandatory and optional users, and its user directory."""


def _kind_options(func: Any) -> Any:
    func = click.option(
        "--optional", "kind", flag_value="optional", help="The optional users' list."
    )(func)
    return click.option(
        "--mandatory", "kind", flag_value="mandatory", help="The mandatory users' list."
    )(func)


@users.command("list")
@click.argument("name", metavar="GROUP", type=GROUP)
@_kind_options
@JSON_OPTION
def users_list(name: str, kind: str | None, as_json: bool) -> None:
    """List the group's users and the list each is on."""
    settings = state().store(read_only=True).group(name)
    rows = [(user, "mandatory") for user in sorted(settings.mandatory_users)]
    rows += [(user, "optional") for user in sorted(settings.optional_users)]
    rows = [row for row in rows if kind is None or row[1] == kind]
    if as_json:
        echo_json([{"user": user, "list": which} for user, which in rows])
        return
    table(["USER", "LIST"], [list(row) for row in rows])


@users.command("add")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("user_ids", metavar="USER...", nargs=-1, required=True, type=USER)
@_kind_options
@JSON_OPTION
def users_add(name: str, user_ids: tuple[str, ...], kind: str | None, as_json: bool) -> None:
    """Put users on the mandatory or the optional list (from the directory, once it has one)."""
    if kind is None:
        raise click.UsageError("say which list: --mandatory or --optional")
    current = state()
    before, after = _directory().enroll(name, user_ids, kind, actor=current.actor)
    field = f"{kind}_users"
    added = sorted(getattr(after, field) - getattr(before, field))
    if as_json:
        _lists_json(name, after, added=added)
        return
    click.echo(
        f"{kind} users of {name}: added {name_list(added)}; now {name_list(getattr(after, field))}"
    )


@users.command("remove")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("user_ids", metavar="USER...", nargs=-1, required=True, type=USER)
@_kind_options
@JSON_OPTION
def users_remove(name: str, user_ids: tuple[str, ...], kind: str | None, as_json: bool) -> None:
    """Take users off their list (or off the list given): they are no longer prompted."""
    current = state()
    wanted = set(user_ids)

    def remove(settings: GroupSettings) -> GroupSettings:
        kinds = [kind] if kind else ["mandatory", "optional"]
        listed = set().union(*(getattr(settings, f"{k}_users") for k in kinds))
        missing = sorted(wanted - listed)
        if missing:
            where = f"the {kind} list" if kind else "either list"
            raise InvalidValueError("USER", missing, f"not on {where} of group {name!r}")
        return attrs.evolve(
            settings,
            mandatory_users=settings.mandatory_users - wanted
            if kind != "optional"
            else settings.mandatory_users,
            optional_users=settings.optional_users - wanted
            if kind != "mandatory"
            else settings.optional_users,
        )

    after = current.store().modify_group(name, remove, actor=current.actor)
    if as_json:
        _lists_json(name, after, removed=sorted(wanted))
        return
    click.echo(f"removed from {name}: {name_list(sorted(wanted))}")


def _lists_json(name: str, after: GroupSettings, **changed: list[str]) -> None:
    """What a change of the lists left: both lists, and the users it added or removed."""
    echo_json(
        {
            "group": name,
            "mandatory": sorted(after.mandatory_users),
            "optional": sorted(after.optional_users),
            **changed,
        }
    )


# -- set: both lists at once ----------------------------------------------------------------------


def _selection(option: str, values: tuple[str, ...]) -> Any:
    """``all``, ``none`` (an empty list), the users named (commas or repeats), or None."""
    if not values:
        return None
    names = [part.strip() for value in values for part in value.split(",")]
    if any(not n for n in names):
        raise click.UsageError(f"{option}: give user ids separated by commas, 'all' or 'none'")
    keywords = {n.lower() for n in names} & {_EVERY, _NOBODY}
    if keywords and len(names) > 1:
        raise click.UsageError(f"{option}: '{keywords.pop()}' stands alone, without user ids")
    if names[0].lower() == _EVERY:
        return ALL
    if names[0].lower() == _NOBODY:
        return ()
    return names


@users.command("set")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.option("--mandatory", multiple=True, metavar="USERS", help="Ids, 'all' or 'none'.")
@click.option("--optional", multiple=True, metavar="USERS", help="Ids, 'all' or 'none'.")
@JSON_OPTION
def users_set(
    name: str, mandatory: tuple[str, ...], optional: tuple[str, ...], as_json: bool
) -> None:
    """Set the mandatory and optional lists at once: one change, one audit record.

    USERS are user ids separated by commas (or the option repeated); 'all' is every directory
    user not on the other list; 'none' empties the list. Users named move from the other list.
    """
    wanted_m = _selection("--mandatory", mandatory)
    wanted_o = _selection("--optional", optional)
    if wanted_m is None and wanted_o is None:
        raise click.UsageError("give --mandatory, --optional or both")
    if wanted_m is ALL and wanted_o is ALL:
        raise click.UsageError("--mandatory all and --optional all contradict: choose one")
    if isinstance(wanted_m, list) and isinstance(wanted_o, list):
        both = sorted(set(wanted_m) & set(wanted_o))
        if both:
            raise click.UsageError(f"on both lists: {', '.join(both)}; name each user once")
    current = state()
    after = _directory().set_users(name, mandatory=wanted_m, optional=wanted_o, actor=current.actor)
    if as_json:
        _lists_json(name, after)
        return
    click.echo(f"mandatory users of {name}: {name_list(after.mandatory_users)}")
    click.echo(f"optional users of {name}: {name_list(after.optional_users)}")


# -- the available users --------------------------------------------------------------------------


@users.command("available")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.option("--last-name", help="Search by last name.")
@click.option("--first-name", help="Search by first name.")
@click.option("--department", help="Search by department.")
@click.option("--user-id", help="Search by user id.")
@click.option("--phone-number", help="Search by phone number.")
@click.option("--extension", help="Search by extension.")
@click.option(
    "--match",
    type=click.Choice([m.value for m in Match]),
    default=Match.STARTS.value,
    show_default=True,
    help="How every criterion matches (ignoring case).",
)
@click.option("--limit", type=Whole(1, 1_000_000), help="Show at most N users.")
@click.option(
    "--after", type=USER, help="Start after this user id (the last of the previous page)."
)
@JSON_OPTION
def users_available(
    name: str, match: str, limit: int | None, after: str | None, as_json: bool, **search: Any
) -> None:
    """The directory users on neither list, matching every criterion given.

    With --limit, one page; the next starts after the last user shown (JSON: ``next``).
    """
    directory = UserDirectory(state().store(read_only=True))
    found = directory.available(
        name, match=match, limit=None if limit is None else limit + 1, after=after, **search
    )
    more = limit is not None and len(found) > limit
    found = found[:limit] if more else found
    if as_json:
        echo_json(
            {
                "group": name,
                "users": [_user_json(user) for user in found],
                "next": found[-1].user_id if more else None,
            }
        )
        return
    _user_table(found, with_group=False)
    if more:
        click.echo(f"(more: --after {found[-1].user_id})", err=True)


def _user_json(user: Any) -> dict[str, str | None]:
    """A directory user for scripts: a field the directory does not have is null, not ""."""
    return {key: value or None for key, value in user.to_dict().items()}


def _user_table(found: list[Any], *, with_group: bool) -> None:
    header = ["USER", "LAST NAME", "FIRST NAME", "DEPARTMENT", "PHONE", "EXTENSION"]
    rows = [
        [u.user_id, u.last_name, u.first_name, u.department, u.phone_number, u.extension]
        for u in found
    ]
    if with_group:
        header = ["GROUP", *header]
        rows = [[u.group, *row] for u, row in zip(found, rows, strict=True)]
    table(header, rows)


# -- the directory --------------------------------------------------------------------------------


@users.group("directory")
def directory() -> None:
    """The groups' user directories: import, export and list them (CSV)."""


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@JSON_OPTION
def directory_import(file: str, as_json: bool) -> None:
    """Make FILE the directory of each group it names (all or nothing).

    Columns: group, user_id, first_name, last_name and any of department, phone_number,
    extension. Groups the file does not name keep their directory.
    """
    current = state()
    counts = _directory().import_csv(read_input(file), actor=current.actor, source=file)
    if as_json:
        echo_json({"file": file, "imported": dict(counts)})
        return
    shown = ", ".join(f"{group} {count}" for group, count in counts.items()) or "none"
    click.echo(f"imported the user directory from {file}: {shown} user(s)")


@directory.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--group", "name", type=GROUP, help="Only this group's directory.")
@JSON_OPTION
def directory_export(file: str | None, name: str | None, as_json: bool) -> None:
    """Write the user directory as CSV (default: stdout); a file is replaced whole or not at all."""
    found = _read_users(name)
    if as_json and (file is None or file == "-"):
        echo_json({"group": name, "users": [_user_json(user) for user in found]})
        return
    if file is None or file == "-":
        write_csv(found, sys.stdout)
        return
    target = Path(file)
    handle, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            count = write_csv(found, out)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if as_json:
        echo_json({"group": name, "file": file, "exported": count})
        return
    click.echo(f"exported {count} directory user(s) to {file}", err=True)


@directory.command("list")
@click.argument("name", metavar="[GROUP]", required=False, type=GROUP)
@JSON_OPTION
def directory_list(name: str | None, as_json: bool) -> None:
    """List the directory users of GROUP (of every group without one)."""
    found = _read_users(name)
    if as_json:
        echo_json([_user_json(user) for user in found])
        return
    _user_table(found, with_group=name is None)
