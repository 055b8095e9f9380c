"""The administrator's commands: groups, users, codes, locks, one decision, the audit trail.

They follow the workflows of the BroadWorks group portal (view and change the group's settings,
manage the mandatory and optional users, add, bulk edit, delete, import and export codes) on
the policy store given to the main command. Every change names its actor in the audit trail.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import click

from .._errors import InvalidValueError
from ..core.decide import decide
from ..core.model import Call, CallType, CodeEntry, GroupSettings, Lock, Mode
from ..policyfile import (
    dumps_group,
    entry_to_dict,
    export_codes_csv,
    export_group,
    file_format,
    import_codes_csv,
    import_group,
    loads_group,
    settings_to_dict,
)
from ..store.audit import Action, AuditRecord, write_csv, write_json
from . import demo as demo_module
from ._common import echo_json, pairs, parse_time, progress, state, table
from .dialplan import stored_plan

__all__ = ["audit", "check", "codes", "demo", "group", "locks", "users"]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _seconds(value: timedelta | None) -> str:
    if value is None:
        return "until unlocked"
    seconds = value.total_seconds()
    return f"{int(seconds) if seconds.is_integer() else seconds} s"


def _names(values: Sequence[str] | frozenset[str]) -> str:
    return ", ".join(sorted(values)) or "none"


# -- group ----------------------------------------------------------------------------------------


@click.group()
def group() -> None:
    """View and change a group's settings; export and import whole groups."""


@group.command("list")
@_JSON
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
@_JSON
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
                "users": {
                    "mandatory": sorted(settings.mandatory_users),
                    "optional": sorted(settings.optional_users),
                },
                "codes": count,
                "locks": [_lock_dict(lock) for lock in held],
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
            ("local and toll-free exempt", _yes_no(settings.allow_local_and_toll_free)),
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
            ("mandatory users", _names(settings.mandatory_users)),
            ("optional users", _names(settings.optional_users)),
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
        _read(file), "toml" if chosen == "toml" else "json", source=file, group=name
    )
    store = current.store(create=True)
    with progress(len(document.codes), f"importing {file}") as advance:
        import_group(store, document, actor=current.actor, progress=advance)
    click.echo(f"imported group {document.group} with {len(document.codes)} code(s) from {file}")


def _read(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    return Path(file).read_bytes()


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
@_JSON
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
        f"{kind} users of {name}: added {_names(added)}; now {_names(getattr(after, field))}"
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
    click.echo(f"removed from {name}: {_names(sorted(wanted))}")


# -- codes ----------------------------------------------------------------------------------------


@click.group()
def codes() -> None:
    """Add, list, bulk edit, delete, import and export a group's codes."""


def _code_cells(entry: CodeEntry, full: bool) -> list[str]:
    cells = [entry.code, entry.description or ""]
    if full:
        cells += [
            str(entry.level),
            "" if entry.valid_from is None else entry.valid_from.isoformat(),
            "" if entry.valid_until is None else entry.valid_until.isoformat(),
            "" if entry.max_uses is None else str(entry.max_uses),
        ]
    return cells


@codes.command("list")
@click.argument("name", metavar="GROUP")
@click.option("--prefix", default="", help="Only codes starting with these digits.")
@click.option("--limit", default=50, show_default=True, help="Codes per page.")
@click.option("--page", default=1, show_default=True, help="Page number, from 1.")
@click.option("--after", help="Start after this code (instead of --page).")
@_JSON
def codes_list(
    *, name: str, prefix: str, limit: int, page: int, after: str | None, as_json: bool
) -> None:
    """List codes in code order, one page at a time."""
    store = state().store()
    if page < 1:
        raise InvalidValueError("--page", page, "pages are numbered from 1")
    if after is None and page > 1:
        skipped = store.codes(name, prefix, None, limit * (page - 1))
        after = skipped[-1].code if len(skipped) == limit * (page - 1) else None
        if after is None:
            found: list[CodeEntry] = []
        else:
            found = store.codes(name, prefix, after, limit)
    else:
        found = store.codes(name, prefix, after, limit)
    if as_json:
        echo_json([entry_to_dict(entry) for entry in found])
        return
    full = any(entry.level or entry.limited for entry in found)
    header = ["CODE", "DESCRIPTION"]
    if full:
        header += ["LEVEL", "VALID FROM", "VALID UNTIL", "MAX USES"]
    table(header, [_code_cells(entry, full) for entry in found])
    if len(found) == limit:
        click.echo(f"(more: --after {found[-1].code})", err=True)


def _entry_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--description", help="Description, up to 80 characters."),
            click.option("--level", type=int, help="Authorization level, 0 to 255."),
            click.option("--valid-from", help="ISO 8601 time from which the code works."),
            click.option("--valid-until", help="ISO 8601 time from which it no longer works."),
            click.option("--max-uses", help="Calls the code may authorize ('none': no limit)."),
        ]
    ):
        func = option(func)
    return func


def _max_uses(value: str | None) -> int | None:
    if value is None or value.lower() == "none":
        return None
    if not value.isascii() or not value.isdigit():
        raise InvalidValueError("--max-uses", value, "give a whole number, or none")
    return int(value)


def _entry_changes(options: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if options["description"] is not None:
        changes["description"] = options["description"] or None
    if options["level"] is not None:
        changes["level"] = options["level"]
    for field in ("valid_from", "valid_until"):
        if options[field] is not None:
            changes[field] = parse_time(f"--{field.replace('_', '-')}", options[field])
    if options["max_uses"] is not None:
        changes["max_uses"] = _max_uses(options["max_uses"])
    return changes


@codes.command("add")
@click.argument("name", metavar="GROUP")
@click.argument("new_codes", metavar="CODE...", nargs=-1, required=True)
@_entry_options
def codes_add(name: str, new_codes: tuple[str, ...], **options: Any) -> None:
    """Add one or more codes (all or nothing); the options apply to each."""
    current = state()
    changes = _entry_changes(options)
    batch: list[CodeEntry | str] = []
    for code in new_codes:
        try:
            batch.append(CodeEntry(code, **changes))
        except InvalidValueError as exc:
            if exc.field != "code":
                raise
            batch.append(code)  # the batch reports a malformed code with its row
    current.store().add_codes(name, batch, actor=current.actor)
    click.echo(f"added {len(batch)} code(s) to {name}")


@codes.command("edit")
@click.argument("name", metavar="GROUP")
@click.argument("selected", metavar="CODE...", nargs=-1, required=True)
@_entry_options
def codes_edit(name: str, selected: tuple[str, ...], **options: Any) -> None:
    """Change many codes at once (bulk edit): each option given is set on every code."""
    changes = _entry_changes(options)
    if not changes:
        raise click.UsageError("say what to change: --description, --level, --valid-from, ...")
    current = state()
    edited = current.store().modify_codes(
        name, selected, lambda entry: attrs.evolve(entry, **changes), actor=current.actor
    )
    click.echo(f"edited {len(edited)} code(s) of {name}")


@codes.command("delete")
@click.argument("name", metavar="GROUP")
@click.argument("selected", metavar="CODE...", nargs=-1, required=True)
def codes_delete(name: str, selected: tuple[str, ...]) -> None:
    """Delete a selection of codes (all or nothing)."""
    current = state()
    current.store().delete_codes(name, selected, actor=current.actor)
    click.echo(f"deleted {len(set(selected))} code(s) from {name}")


@codes.command("import")
@click.argument("name", metavar="GROUP")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--replace", is_flag=True, help="Replace the group's codes instead of adding.")
def codes_import(name: str, file: str, replace: bool) -> None:
    """Import a CSV code list (code,description[,level,valid_from,valid_until,max_uses])."""
    current = state()
    data = _read(file)
    store = current.store()
    rows = data.count(b"\n")
    with progress(2 * rows, f"importing {file}") as advance:
        count = import_codes_csv(
            store, name, data, actor=current.actor, source=file, replace=replace, progress=advance
        )
    verb = "replaced the codes of" if replace else "imported into"
    click.echo(f"{verb} {name}: {count} code(s) from {file}")


@codes.command("export")
@click.argument("name", metavar="GROUP")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--prefix", default="", help="Only codes starting with these digits.")
def codes_export(name: str, file: str | None, prefix: str) -> None:
    """Export codes as CSV, in code order (default: standard output)."""
    store = state().store()
    total = store.count(name)
    if file is None or file == "-":
        export_codes_csv(store, name, sys.stdout, prefix=prefix, crlf=False)
        return
    # UTF-8 with a byte order mark: spreadsheets then show non-ASCII descriptions right.
    with (
        Path(file).open("w", encoding="utf-8-sig", newline="") as out,
        progress(total, f"exporting {file}") as advance,
    ):
        count = export_codes_csv(store, name, out, prefix=prefix, progress=advance)
    click.echo(f"exported {count} code(s) of {name} to {file}", err=True)


# -- locks ----------------------------------------------------------------------------------------


def _lock_dict(lock: Lock) -> dict[str, Any]:
    return {
        "user": lock.user,
        "since": lock.since.isoformat(),
        "until": None if lock.until is None else lock.until.isoformat(),
    }


@click.group()
def locks() -> None:
    """See and lift toll-fraud locks (or lock a user or group by hand)."""


@locks.command("list")
@click.argument("name", metavar="GROUP")
@click.option("--all", "show_all", is_flag=True, help="Include locks that have run out.")
@_JSON
def locks_list(name: str, show_all: bool, as_json: bool) -> None:
    """List the locks that hold now: the group's and its users'."""
    store = state().store()
    held = store.locks(name, None if show_all else store.now())
    if as_json:
        echo_json([_lock_dict(lock) for lock in held])
        return
    table(
        ["LOCKED", "SINCE", "UNTIL"],
        [
            [
                "whole group" if lock.user is None else lock.user,
                lock.since.isoformat(timespec="seconds"),
                "unlocked by hand" if lock.until is None else lock.until.isoformat("T", "seconds"),
            ]
            for lock in held
        ],
    )


@locks.command("add")
@click.argument("name", metavar="GROUP")
@click.argument("user", required=False)
@click.option(
    "--for", "seconds", type=float, help="Seconds the lock lasts (default: until lifted)."
)
def locks_add(name: str, user: str | None, seconds: float | None) -> None:
    """Lock a user (or, without USER, the whole group) by hand."""
    current = state()
    store = current.store()
    since = store.now()
    until = None if not seconds else since + timedelta(seconds=seconds)
    store.lock(Lock(name, user, since, until), actor=current.actor)
    click.echo(f"locked {'the whole group ' + name if user is None else user + ' in ' + name}")


@locks.command("unlock")
@click.argument("name", metavar="GROUP")
@click.argument("user", required=False)
def locks_unlock(name: str, user: str | None) -> None:
    """Lift the lock on a user (or, without USER, on the whole group)."""
    current = state()
    who = f"the whole group {name}" if user is None else f"{user} in {name}"
    if not current.store().unlock(name, user, actor=current.actor):
        raise InvalidValueError(
            "USER", user, f"{who} is not locked: nothing to lift (see callcodes locks list {name})"
        )
    click.echo(f"unlocked {who}")


# -- one decision ---------------------------------------------------------------------------------


@click.command()
@click.argument("name", metavar="GROUP")
@click.argument("user")
@click.argument("dialed")
@click.option(
    "--type",
    "call_type",
    type=click.Choice([t.value for t in CallType]),
    help="The call type; default: what the group's dial plan makes of DIALED.",
)
@click.option("--code", help="The code entered (none: no code).")
@click.option("--attempt", default=1, show_default=True, help="Which entry on the call this is.")
@_JSON
def check(
    *,
    name: str,
    user: str,
    dialed: str,
    call_type: str | None,
    code: str | None,
    attempt: int,
    as_json: bool,
) -> None:
    """Show the decision for one call, judged against the stored policy now."""
    store = state().store()
    known = name in store
    book = store.load([name]) if known else store.load([])
    classified = None
    if call_type is None:  # only the digits: the group's dial plan says what kind of call it is
        classified = stored_plan(name, ", or give the call type with --type").classify(dialed)
        call_type = classified.call_type
    decision = decide(book, Call(name, user, dialed, call_type), code, attempt, now=store.now())
    entry = decision.entry
    if as_json:
        found = {
            "verdict": decision.verdict.value,
            "reason": decision.reason.value,
            "retry": decision.retry,
            "description": None if entry is None else entry.description,
            "known_group": known,
        }
        if classified is not None:
            found["call_type"] = classified.call_type.value
            found["destination"] = classified.destination
            found["classified_as"] = classified.reason
        echo_json(found)
        return
    lines = []
    if classified is not None:
        lines.append(("call type", f"{classified.call_type.value} ({classified.reason})"))
    lines += [("verdict", decision.verdict.value), ("reason", decision.reason.value)]
    lines.append(("retry", _yes_no(decision.retry)))
    if entry is not None:
        lines.append(("code", f"{entry.code} ({entry.description or 'no description'})"))
    if not known:
        lines.append(("note", f"group {name} is not in the store"))
    pairs(lines)


# -- audit ----------------------------------------------------------------------------------------


def _summary(record: AuditRecord) -> str:
    detail = record.detail
    if "changed" in detail and record.action is Action.GROUP_UPDATE:
        parts = []
        for key, change in detail["changed"].items():
            if "added" in change:
                parts.append(f"{key} +{_names(change['added'])} -{_names(change['removed'])}")
            else:
                parts.append(f"{key} {change['from']} -> {change['to']}")
        return "; ".join(parts)
    if "count" in detail:
        shown = []
        for item in detail.get("codes", [])[:3]:
            text = item["code"]
            if item.get("description"):
                text += f" ({item['description']})"
            shown.append(text)
        more = ", ..." if detail["count"] > len(shown) else ""
        return f"{detail['count']} code(s): {', '.join(shown)}{more}"
    if record.action in (Action.LOCK, Action.UNLOCK):
        return "whole group" if detail.get("user") is None else f"user {detail['user']}"
    if record.action is Action.GROUP_CREATE:
        settings = detail.get("settings", {})
        return f"{settings.get('mode')}, {settings.get('code_length')} digits"
    if "removed_count" in detail:
        return f"{detail['removed_count']} code(s) removed"
    return ""


@click.command()
@click.argument("name", metavar="[GROUP]", required=False)
@click.option("--actor", help="Only changes by this actor.")
@click.option("--action", type=click.Choice([a.value for a in Action]), help="Only this kind.")
@click.option("--since", help="From this time (ISO 8601; without offset, UTC).")
@click.option("--until", help="Before this time.")
@click.option("--limit", default=50, show_default=True, help="Show the latest N changes.")
@click.option("--all", "show_all", is_flag=True, help="Show every matching change.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@_JSON
def audit(
    *,
    name: str | None,
    actor: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    show_all: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Show the audit trail: who changed what, when (authorization codes masked)."""
    if as_csv and as_json:
        raise click.UsageError("choose one of --csv and --json")
    records = (
        state()
        .store()
        .audit(
            name,
            actor=actor,
            action=action,
            since=parse_time("--since", since),
            until=parse_time("--until", until),
            latest=None if show_all else limit,
        )
    )
    out = sys.stdout
    if as_csv:
        write_csv(records, out)
    elif as_json:
        write_json(records, out)
    else:
        table(
            ["ID", "TIME", "ACTOR", "GROUP", "ACTION", "WHAT"],
            [
                [
                    str(r.id),
                    r.at.isoformat(timespec="seconds"),
                    r.actor,
                    r.group,
                    r.action.value,
                    _summary(r),
                ]
                for r in records
            ],
        )


# -- demo -----------------------------------------------------------------------------------------


@click.command()
def demo() -> None:
    """Decide a handful of calls for a sample group (nothing is stored)."""
    demo_module.run(click.echo)
