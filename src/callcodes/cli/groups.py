"""The ``group`` and ``users`` commands: a group's settings, its users, whole-group files.

They follow the workflows of the BroadWorks group portal (view and change the group's settings,
manage the mandatory and optional users) on the policy store given to the main command, and
export or import a whole group as JSON or TOML. Every change names its actor in the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import click

from .._errors import InvalidValueError
from ..core.model import CallType, GroupSettings, Mode
from ..core.plain import settings_to_dict, users_to_dict
from ..policyfile import dumps_group, export_group, file_format, import_group, loads_group
from ._common import (
    JSON_OPTION,
    echo_json,
    lock_dict,
    name_list,
    pairs,
    progress,
    read_input,
    state,
    table,
    yes_no,
)

__all__ = ["group", "users"]


def _seconds(value: timedelta | None) -> str:
    if value is None:
        return "until unlocked"
    seconds = value.total_seconds()
    return f"{int(seconds) if seconds.is_integer() else seconds} s"


# -- group ----------------------------------------------------------------------------------------


@click.group()
def group() -> None:
    """View and change a group's settings; export and import whole groups."""


@group.command("list")
@JSON_OPTION
def group_list(as_json: bool) -> None:
    """List the groups in the store."""
    store = state().store()
    names = store.groups()
    if as_json:
        echo_json(names)
        return
    rows = []
    for name in names:
        settings = store.group(name)
        rows.append([name, settings.mode.value, str(settings.code_length), str(store.count(name))])
    table(["GROUP", "MODE", "DIGITS", "CODES"], rows)


@group.command("show")
@click.argument("name", metavar="GROUP")
@JSON_OPTION
def group_show(name: str, as_json: bool) -> None:
    """Show a group's settings, users, code count and locks."""
    store = state().store()
    settings = store.group(name)
    count = store.count(name)
    held = store.locks(name)
    if as_json:
        echo_json(
            {
                "group": name,
                "settings": settings_to_dict(settings),
                "users": users_to_dict(settings),
                "codes": count,
                "locks": [lock_dict(lock) for lock in held],
            }
        )
        return
    lockout = settings.lockout
    levels = ", ".join(f"{t.value} {n}" for t, n in sorted(settings.min_levels.items()))
    pairs(
        [
            ("group", name),
            ("mode", settings.mode.value),
            ("code length", str(settings.code_length)),
            ("local and toll-free exempt", yes_no(settings.allow_local_and_toll_free)),
            ("max attempts", str(settings.max_attempts)),
            (
                "coded call types",
                ", ".join(t.value for t in CallType if t in settings.coded_call_types) or "none",
            ),
            ("minimum levels", levels or "none"),
            ("code prefix", settings.code_prefix),
            (
                "user lockout",
                f"{lockout.user_attempts} bad entries in {_seconds(lockout.user_window)}",
            ),
            (
                "group lockout",
                f"{lockout.group_attempts} bad entries in {_seconds(lockout.group_window)}",
            ),
            ("locks last", _seconds(lockout.lock_for)),
            ("mandatory users", name_list(settings.mandatory_users)),
            ("optional users", name_list(settings.optional_users)),
            ("codes", str(count)),
            ("locks", str(len(held)) if held else "none"),
        ]
    )


def _call_types(value: str) -> frozenset[CallType]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    try:
        return frozenset(CallType(name) for name in names)
    except ValueError:
        raise InvalidValueError(
            "--coded-types", value, f"name call types from: {', '.join(CallType)}"
        ) from None


def _min_levels(values: Sequence[str]) -> dict[str, int]:
    levels: dict[str, int] = {}
    for item in values:
        name, sep, level = item.partition("=")
        if not sep or not level.strip().isascii() or not level.strip().isdigit():
            raise InvalidValueError("--min-level", item, "write TYPE=LEVEL, e.g. international=5")
        levels[name.strip()] = int(level)
    return levels


@group.command("set")
@click.argument("name", metavar="GROUP")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), help="Which feature is on.")
@click.option("--digits", type=int, help="Code length, 2 to 14 digits.")
@click.option(
    "--local-toll-free/--no-local-toll-free",
    "exempt",
    default=None,
    help="Let local and toll-free calls through without a code.",
)
@click.option("--attempts", type=int, help="Entries allowed per call, 1 to 10.")
@click.option("--coded-types", help="Comma-separated call types that need a code.")
@click.option(
    "--min-level", multiple=True, metavar="TYPE=LEVEL", help="Lowest code level for a call type."
)
@click.option("--no-min-levels", is_flag=True, help="Clear every minimum level.")
@click.option("--code-prefix", help="Feature access code for inline entry, e.g. *71.")
@click.option("--lockout-user-attempts", type=int, help="Bad entries that lock a user.")
@click.option("--lockout-user-window", type=float, help="Seconds in which they count.")
@click.option("--lockout-group-attempts", type=int, help="Bad entries that lock the group.")
@click.option("--lockout-group-window", type=float, help="Seconds in which they count.")
@click.option("--lock-for", type=float, help="Seconds a lock lasts; 0: until unlocked.")
def group_set(name: str, **options: Any) -> None:
    """Create a group or change its settings; what is not given stays as it is."""
    current = state()
    store = current.store(create=True)
    existed = name in store
    before = store.group(name) if existed else None
    after = store.modify_group(
        name,
        lambda settings: _changed(settings, options),
        actor=current.actor,
        create=True,
    )
    if before is None:
        click.echo(f"created group {name} ({after.mode.value}, {after.code_length} digits)")
        return
    old, new = settings_to_dict(before), settings_to_dict(after)
    changes = [f"{key} {old[key]} -> {new[key]}" for key in new if old[key] != new[key]]
    click.echo(f"updated group {name}: {'; '.join(changes)}" if changes else f"{name}: unchanged")


def _changed(settings: GroupSettings, options: dict[str, Any]) -> GroupSettings:
    """The settings with the options given on the command line applied."""
    changes: dict[str, Any] = {}
    simple = {
        "mode": "mode",
        "digits": "code_length",
        "exempt": "allow_local_and_toll_free",
        "attempts": "max_attempts",
        "code_prefix": "code_prefix",
    }
    for option, field in simple.items():
        if options[option] is not None:
            changes[field] = options[option]
    if options["coded_types"] is not None:
        changes["coded_call_types"] = _call_types(options["coded_types"])
    if options["no_min_levels"] or options["min_level"]:
        levels: dict[Any, int] = {} if options["no_min_levels"] else dict(settings.min_levels)
        levels.update(_min_levels(options["min_level"]))
        changes["min_levels"] = levels
    lockout: dict[str, Any] = {}
    for option in ("user_attempts", "group_attempts"):
        if options[f"lockout_{option}"] is not None:
            lockout[option] = options[f"lockout_{option}"]
    for option in ("user_window", "group_window"):
        if options[f"lockout_{option}"] is not None:
            lockout[option] = timedelta(seconds=options[f"lockout_{option}"])
    if options["lock_for"] is not None:
        lockout["lock_for"] = timedelta(seconds=options["lock_for"]) or None
    if lockout:
        changes["lockout"] = attrs.evolve(settings.lockout, **lockout)
    return attrs.evolve(settings, **changes) if changes else settings


@group.command("remove")
@click.argument("name", metavar="GROUP")
@click.option("--yes", is_flag=True, help="Confirm: the group's codes are deleted too.")
def group_remove(name: str, yes: bool) -> None:
    """Delete a group with its users, codes and locks."""
    current = state()
    store = current.store()
    count = store.count(name)
    if not yes:
        raise InvalidValueError(
            "--yes", False, f"removing group {name!r} deletes its {count} code(s); add --yes"
        )
    store.remove_group(name, actor=current.actor)
    click.echo(f"removed group {name} and its {count} code(s)")


@group.command("export")
@click.argument("name", metavar="GROUP")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["json", "toml"]), help="Default: by name.")
def group_export(name: str, file: str | None, fmt: str | None) -> None:
    """Write a whole group (settings, users, codes) as JSON or TOML (default: stdout, JSON)."""
    document = export_group(state().store(), name)
    chosen = fmt or (file_format(file, "json") if file and file != "-" else "json")
    if chosen == "csv":
        raise InvalidValueError("FILE", file, "a whole group is JSON or TOML; for CSV use codes")
    text = dumps_group(document, "toml" if chosen == "toml" else "json")
    if file is None or file == "-":
        click.echo(text, nl=False)
        return
    Path(file).write_text(text, encoding="utf-8")
    click.echo(f"exported group {name} ({len(document.codes)} code(s)) to {file}", err=True)


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--group", "name", help="Import under this name instead of the file's.")
@click.option("--format", "fmt", type=click.Choice(["json", "toml"]), help="Default: by name.")
def group_import(file: str, name: str | None, fmt: str | None) -> None:
    """Create or replace a whole group from a JSON or TOML file (all or nothing)."""
    current = state()
    chosen = fmt or (file_format(file) if file != "-" else "json")
    if chosen == "csv":
        raise InvalidValueError("FILE", file, "a whole group is JSON or TOML; for CSV use codes")
    document = loads_group(
        read_input(file), "toml" if chosen == "toml" else "json", source=file, group=name
    )
    store = current.store(create=True)
    with progress(len(document.codes), f"importing {file}") as advance:
        import_group(store, document, actor=current.actor, progress=advance)
    click.echo(f"imported group {document.group} with {len(document.codes)} code(s) from {file}")


# -- users ----------------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Manage a group's mandatory and optional users."""


def _kind_options(func: Any) -> Any:
    func = click.option(
        "--optional", "kind", flag_value="optional", help="The optional users' list."
    )(func)
    return click.option(
        "--mandatory", "kind", flag_value="mandatory", help="The mandatory users' list."
    )(func)


@users.command("list")
@click.argument("name", metavar="GROUP")
@_kind_options
@JSON_OPTION
def users_list(name: str, kind: str | None, as_json: bool) -> None:
    """List the group's users and the list each is on."""
    settings = state().store().group(name)
    rows = [(user, "mandatory") for user in sorted(settings.mandatory_users)]
    rows += [(user, "optional") for user in sorted(settings.optional_users)]
    rows = [row for row in rows if kind is None or row[1] == kind]
    if as_json:
        echo_json([{"user": user, "list": which} for user, which in rows])
        return
    table(["USER", "LIST"], [list(row) for row in rows])


@users.command("add")
@click.argument("name", metavar="GROUP")
@click.argument("user_ids", metavar="USER...", nargs=-1, required=True)
@_kind_options
def users_add(name: str, user_ids: tuple[str, ...], kind: str | None) -> None:
    """Put users on the mandatory or the optional list."""
    if kind is None:
        raise click.UsageError("say which list: --mandatory or --optional")
    current = state()
    field = f"{kind}_users"
    before = getattr(current.store().group(name), field)

    def add(settings: GroupSettings) -> GroupSettings:
        return attrs.evolve(settings, **{field: getattr(settings, field) | set(user_ids)})

    after = current.store().modify_group(name, add, actor=current.actor)
    added = sorted(getattr(after, field) - before)
    click.echo(
        f"{kind} users of {name}: added {name_list(added)}; now {name_list(getattr(after, field))}"
    )


@users.command("remove")
@click.argument("name", metavar="GROUP")
@click.argument("user_ids", metavar="USER...", nargs=-1, required=True)
@_kind_options
def users_remove(name: str, user_ids: tuple[str, ...], kind: str | None) -> None:
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

    current.store().modify_group(name, remove, actor=current.actor)
    click.echo(f"removed from {name}: {name_list(sorted(wanted))}")
