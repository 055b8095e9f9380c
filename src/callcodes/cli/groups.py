"""The ``group`` commands: a group's settings and whole-group files.

They follow the workflows of the BroadWorks group portal (view and change the group's settings)
on the policy store given to the main command, and export or import a whole group as JSON or
TOML (the ``users`` commands are in ``cli.users``). Every change names its actor in the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import attrs
import click

from .._errors import InvalidValueError
from .._files import CODE_FILE_MODE, atomic_write
from .._timefmt import zone
from ..core._validate import MAX_LEVEL, MAX_USES, whole_number
from ..core.hours import zone_name
from ..core.limits import LIMIT_FIELDS, Limits, Redirect
from ..core.model import CallType, CodeEntry, GroupSettings, Mode
from ..core.plain import settings_to_dict, users_to_dict
from ..policyfile import dumps_group, export_group, file_format, import_group, loads_group
from ..store.protocol import Store
from ._common import (
    GROUP,
    JSON_OPTION,
    PROVIDER,
    SECONDS,
    Seconds,
    Whole,
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

__all__ = ["group"]


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
    store = state().store(read_only=True)
    providers = store.providers()
    listed = []
    for name, provider in providers.items():
        settings = store.group(name)
        listed.append(
            {
                "group": name,
                "mode": settings.mode.value,
                "code_length": settings.code_length,
                "codes": store.count(name),
                "provider": provider,
            }
        )
    if as_json:
        echo_json(listed)
        return
    rows = [
        [
            str(item["group"]),
            str(item["mode"]),
            str(item["code_length"]),
            str(item["codes"]),
            "-" if item["provider"] is None else str(item["provider"]),
        ]
        for item in listed
    ]
    table(["GROUP", "MODE", "DIGITS", "CODES", "PROVIDER"], rows)


@group.command("show")
@click.argument("name", metavar="GROUP", type=GROUP)
@JSON_OPTION
def group_show(name: str, as_json: bool) -> None:
    """Show a group's settings, users, code count and locks."""
    store = state().store(read_only=True)
    settings = store.group(name)
    count = store.count(name)
    held = store.locks(name)
    provider = store.provider(name)
    if as_json:
        echo_json(
            {
                "group": name,
                "provider": provider,
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
            ("provider", "none" if provider is None else provider),
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
            ("allowed hours", _hours_text(settings)),
            ("time zone", zone_name(settings.time_zone)),
            ("use limits", _limits_text(settings.limits)),
            ("redirected calls", settings.redirect.value),
            ("mandatory users", name_list(settings.mandatory_users)),
            ("optional users", name_list(settings.optional_users)),
            ("codes", str(count)),
            ("locks", str(len(held)) if held else "none"),
        ]
    )


def _hours_text(settings: GroupSettings) -> str:
    hours = settings.hours
    return "; ".join(f"{t.value} {hours[t]}" for t in CallType if t in hours) or "any time"


def _limits_text(limits: Limits) -> str:
    on = [
        f"{name.replace('_', ' ')} {getattr(limits, name)}"
        for name in LIMIT_FIELDS
        if getattr(limits, name) is not None
    ]
    if not on:
        return "none"
    suspend = ", code suspended when reached" if limits.suspend else ""
    return f"{', '.join(on)} in {_seconds(limits.window)}{suspend}"


def _hours(values: Sequence[str]) -> dict[str, str]:
    hours: dict[str, str] = {}
    for item in values:
        name, sep, spans = item.partition("=")
        if not sep or not spans.strip():
            raise InvalidValueError(
                "--hours", item, "write TYPE=SPANS, e.g. 'international=mon-fri 08:00-18:00'"
            )
        hours[name.strip()] = spans.strip()
    return hours


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
        levels[name.strip()] = whole_number("--min-level", level, 0, MAX_LEVEL)
    return levels


@group.command("set")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.option("--mode", type=click.Choice([m.value for m in Mode]), help="Which feature is on.")
@click.option("--digits", type=Whole(2, 14), help="Code length, 2 to 14 digits.")
@click.option(
    "--local-toll-free/--no-local-toll-free",
    "exempt",
    default=None,
    help="Let local and toll-free calls through without a code.",
)
@click.option("--attempts", type=Whole(1, 10), help="Entries allowed per call, 1 to 10.")
@click.option("--coded-types", help="Comma-separated call types that need a code.")
@click.option(
    "--min-level", multiple=True, metavar="TYPE=LEVEL", help="Lowest code level for a call type."
)
@click.option("--no-min-levels", is_flag=True, help="Clear every minimum level.")
@click.option("--code-prefix", help="Feature access code for inline entry, e.g. *71.")
@click.option("--lockout-user-attempts", type=Whole(1, 1000), help="Bad entries that lock a user.")
@click.option("--lockout-user-window", type=SECONDS, help="Seconds in which they count.")
@click.option(
    "--lockout-group-attempts", type=Whole(1, 100_000), help="Bad entries that lock the group."
)
@click.option("--lockout-group-window", type=SECONDS, help="Seconds in which they count.")
@click.option(
    "--lock-for", type=Seconds(zero=True), help="Seconds a lock lasts; 0: until unlocked."
)
@click.option(
    "--hours",
    multiple=True,
    metavar="TYPE=SPANS",
    help="When codes may authorize a call type, e.g. 'international=mon-fri 08:00-18:00'.",
)
@click.option("--no-hours", is_flag=True, help="Clear every call type's allowed hours.")
@click.option("--time-zone", help="IANA time zone the hours are read in, e.g. Europe/Paris.")
@click.option("--limit-window", type=SECONDS, help="Seconds of the use limits' sliding window.")
@click.option("--calls-per-code", type=Whole(0, MAX_USES), help="Calls per code; 0: off.")
@click.option("--users-per-code", type=Whole(0, 100_000), help="Distinct users per code; 0: off.")
@click.option(
    "--costly-per-code",
    type=Whole(0, MAX_USES),
    help="International/premium calls per code; 0: off.",
)
@click.option(
    "--costly-per-user",
    type=Whole(0, MAX_USES),
    help="International/premium calls per user; 0: off.",
)
@click.option(
    "--concurrent-per-code",
    type=Whole(0, 100_000),
    help="Calls of one code at once (needs call ends from the softswitch); 0: off.",
)
@click.option(
    "--suspend/--no-suspend",
    "suspend",
    default=None,
    help="Suspend a code that reaches one of its limits until restored.",
)
@click.option(
    "--redirect",
    type=click.Choice([r.value for r in Redirect]),
    help="What redirected legs get when a code would be needed.",
)
@click.option("--yes", is_flag=True, help="Confirm turning account codes into authorization codes.")
@JSON_OPTION
def group_set(name: str, yes: bool, as_json: bool, **options: Any) -> None:
    """Create a group or change its settings; what is not given stays as it is."""
    current = state()
    store = current.store(create=True)
    existed = name in store
    before = store.group(name) if existed else None
    if before is not None and before.mode is Mode.ACCOUNT and options["mode"] == "authorization":
        count = store.count(name)
        if count and not yes:
            raise InvalidValueError(
                "--yes",
                False,
                f"the {count} code(s) of {name!r} were recorded in clear as account codes (in "
                "the audit trail); as authorization codes they authorize calls: add --yes",
            )
    after = store.modify_group(
        name,
        lambda settings: _changed(settings, options),
        actor=current.actor,
        create=True,
    )
    if as_json:
        old = {} if before is None else settings_to_dict(before)
        new = settings_to_dict(after)
        changed = [key for key in new if key not in old or old[key] != new[key]]
        echo_json({"group": name, "created": before is None, "changed": changed})
        return
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
            lockout[option] = options[f"lockout_{option}"]  # a timedelta (SECONDS)
    if options["lock_for"] is not None:
        lockout["lock_for"] = options["lock_for"] or None  # 0: until unlocked
    if lockout:
        changes["lockout"] = attrs.evolve(settings.lockout, **lockout)
    changes.update(_fraud_changes(settings, options))
    return attrs.evolve(settings, **changes) if changes else settings


def _fraud_changes(settings: GroupSettings, options: dict[str, Any]) -> dict[str, Any]:
    """The allowed hours, zone, use limits and redirect setting given on the command line."""
    changes: dict[str, Any] = {}
    if options["no_hours"] or options["hours"]:
        hours: dict[Any, Any] = {} if options["no_hours"] else dict(settings.hours)
        hours.update(_hours(options["hours"]))
        changes["hours"] = hours
    if options["time_zone"] is not None:
        changes["time_zone"] = zone(options["time_zone"])
    if options["redirect"] is not None:
        changes["redirect"] = options["redirect"]
    limits: dict[str, Any] = {
        name: options[name] or None for name in LIMIT_FIELDS if options[name] is not None
    }
    if options["limit_window"] is not None:
        limits["window"] = options["limit_window"]
    if options["suspend"] is not None:
        limits["suspend"] = options["suspend"]
    if limits:
        changes["limits"] = attrs.evolve(settings.limits, **limits)
    return changes


@group.command("provider")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("provider", metavar="PROVIDER", required=False, type=PROVIDER)
@click.option("--none", "clear", is_flag=True, help="The group belongs to no service provider.")
@JSON_OPTION
def group_provider(name: str, provider: str | None, clear: bool, as_json: bool) -> None:
    """Put a group in a service provider (BroadWorks), or in none with --none."""
    if (provider is None) == (not clear):
        raise click.UsageError("give a PROVIDER id, or --none (not both)")
    current = state()
    store = current.store()
    before = store.provider(name)
    store.set_provider(name, provider, actor=current.actor)
    if as_json:
        echo_json(
            {"group": name, "provider": provider, "from": before, "changed": before != provider}
        )
        return
    if before == provider:
        click.echo(f"{name}: unchanged (provider {provider or 'none'})")
        return
    click.echo(f"group {name}: provider {before or 'none'} -> {provider or 'none'}")


@group.command("remove")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.option("--yes", is_flag=True, help="Confirm: the group's codes are deleted too.")
@JSON_OPTION
def group_remove(name: str, yes: bool, as_json: bool) -> None:
    """Delete a group with its users, codes, locks, provider and user directory."""
    current = state()
    store = current.store()
    count = store.count(name)
    if not yes:
        raise InvalidValueError(
            "--yes", False, f"removing group {name!r} deletes its {count} code(s); add --yes"
        )
    store.remove_group(name, actor=current.actor)
    if as_json:
        echo_json({"group": name, "removed": True, "codes_deleted": count})
        return
    click.echo(f"removed group {name} and its {count} code(s)")


@group.command("export")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["json", "toml"]), help="Default: by name.")
@JSON_OPTION
def group_export(name: str, file: str | None, fmt: str | None, as_json: bool) -> None:
    """Write a whole group (settings, users, codes) as JSON or TOML (default: stdout, JSON)."""
    document = export_group(state().store(read_only=True), name)
    chosen = fmt or (file_format(file, "json") if file and file != "-" else "json")
    if chosen == "csv":
        raise InvalidValueError("FILE", file, "a whole group is JSON or TOML; for CSV use codes")
    if as_json and (file is None or file == "-"):
        chosen = "json"  # the document itself is the JSON
    text = dumps_group(document, "toml" if chosen == "toml" else "json")
    if file is None or file == "-":
        click.echo(text, nl=False)
        return
    with atomic_write(file, mode=CODE_FILE_MODE) as out:  # codes: readable by the owner only
        out.write(text)
    if as_json:
        echo_json({"group": name, "file": file, "format": chosen, "codes": len(document.codes)})
        return
    click.echo(f"exported group {name} ({len(document.codes)} code(s)) to {file}", err=True)


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--group", "name", type=GROUP, help="Import under this name instead of the file's.")
@click.option("--format", "fmt", type=click.Choice(["json", "toml"]), help="Default: by name.")
@click.option(
    "--yes", is_flag=True, help="Confirm removing most codes, or promoting account codes."
)
@JSON_OPTION
def group_import(file: str, name: str | None, fmt: str | None, yes: bool, as_json: bool) -> None:
    """Create or replace a whole group from a JSON or TOML file (all or nothing)."""
    current = state()
    chosen = fmt or (file_format(file) if file != "-" else "json")
    if chosen == "csv":
        raise InvalidValueError("FILE", file, "a whole group is JSON or TOML; for CSV use codes")
    document = loads_group(
        read_input(file), "toml" if chosen == "toml" else "json", source=file, group=name
    )
    store = current.store(create=True)
    if not yes and document.group in store:
        _confirm_import(store, document.group, document.settings.mode, document.codes)
    with progress(len(document.codes), f"importing {file}") as advance:
        import_group(store, document, actor=current.actor, progress=advance)
    if as_json:
        echo_json({"group": document.group, "file": file, "imported": len(document.codes)})
        return
    click.echo(f"imported group {document.group} with {len(document.codes)} code(s) from {file}")


def _confirm_import(store: Store, name: str, mode: Mode, codes: Sequence[CodeEntry]) -> None:
    """Refuse (without --yes) replacing a group in a way that needs a second thought.

    Removing all of its codes or more than half of them (a cut-off or wrong file), or turning
    its account codes, recorded in clear, into authorization codes.
    """
    stored = store.count(name)
    if not stored:
        return
    if store.group(name).mode is Mode.ACCOUNT and mode is Mode.AUTHORIZATION:
        raise InvalidValueError(
            "--yes",
            False,
            f"the {stored} code(s) of {name!r} were recorded in clear as account codes (in the "
            "audit trail); as authorization codes they authorize calls: add --yes",
        )
    new = {entry.code for entry in codes}
    removed = sum(1 for entry in store.iter_codes(name) if entry.code not in new)
    if 2 * removed > stored:  # all of them, or more than half
        raise InvalidValueError(
            "--yes",
            False,
            f"importing group {name!r} removes {removed} of its {stored} code(s); check the "
            "file, or add --yes",
        )
