"""The ``codes`` command: add, list, bulk edit, delete, import and export a group's codes.

Changes are all or nothing, as the store makes them, and name their actor in the audit trail.
Code lists are CSV files (``callcodes.policyfile``); listing pages through the codes in code
order.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs
import click

from .._errors import InvalidValueError
from .._files import CODE_FILE_MODE, atomic_write
from ..core._validate import MAX_CODE_LENGTH, MAX_USES, is_code, whole_number
from ..core.hours import parse_hours
from ..core.model import CodeEntry
from ..policyfile import export_codes_csv, import_codes_csv, parse_codes_csv
from ..store.protocol import Store
from ._common import (
    GROUP,
    JSON_OPTION,
    Whole,
    echo_json,
    parse_time,
    progress,
    read_input,
    state,
    table,
)

__all__ = ["codes"]


# -- codes ----------------------------------------------------------------------------------------


@click.group()
def codes() -> None:
    """Add, list, bulk edit, delete, import and export a group's codes."""


def _entry_json(entry: CodeEntry) -> dict[str, Any]:
    """An entry for scripts: every field, null when absent."""
    return {
        "code": entry.code,
        "description": entry.description,
        "level": entry.level,
        "valid_from": None if entry.valid_from is None else entry.valid_from.isoformat(),
        "valid_until": None if entry.valid_until is None else entry.valid_until.isoformat(),
        "max_uses": entry.max_uses,
        "hours": None if entry.hours is None else str(entry.hours),
    }


def _code_cells(entry: CodeEntry, full: bool, hours: bool) -> list[str]:
    cells = [entry.code, entry.description or ""]
    if full:
        cells += [
            str(entry.level),
            "" if entry.valid_from is None else entry.valid_from.isoformat(),
            "" if entry.valid_until is None else entry.valid_until.isoformat(),
            "" if entry.max_uses is None else str(entry.max_uses),
        ]
    if hours:
        cells.append("" if entry.hours is None else str(entry.hours))
    return cells


@codes.command("list")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.option("--prefix", default="", help="Only codes starting with these digits.")
@click.option(
    "--limit", type=Whole(1, 100_000), default=50, show_default=True, help="Codes per page."
)
@click.option(
    "--page", type=Whole(1, 1_000_000), default=1, show_default=True, help="Page number, from 1."
)
@click.option("--after", help="Start after this code (instead of --page).")
@JSON_OPTION
def codes_list(
    *, name: str, prefix: str, limit: int, page: int, after: str | None, as_json: bool
) -> None:
    """List codes in code order, one page at a time."""
    store = state().store(read_only=True)
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
        more = bool(found) and len(found) == limit and store.codes(name, prefix, found[-1].code, 1)
        echo_json(
            {
                "group": name,
                "codes": [_entry_json(entry) for entry in found],
                "next": found[-1].code if more else None,
            }
        )
        return
    full = any(entry.level or entry.limited for entry in found)
    hours = any(entry.hours is not None for entry in found)
    header = ["CODE", "DESCRIPTION"]
    if full:
        header += ["LEVEL", "VALID FROM", "VALID UNTIL", "MAX USES"]
    if hours:
        header.append("HOURS")
    table(header, [_code_cells(entry, full, hours) for entry in found])
    if len(found) == limit:
        click.echo(f"(more: --after {found[-1].code})", err=True)


def _entry_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--description", help="Description, up to 80 characters."),
            click.option("--level", type=Whole(0, 255), help="Authorization level, 0 to 255."),
            click.option("--valid-from", help="ISO 8601 time from which the code works."),
            click.option("--valid-until", help="ISO 8601 time from which it no longer works."),
            click.option("--max-uses", help="Calls the code may authorize ('none': no limit)."),
            click.option(
                "--hours",
                help="When the code works, e.g. 'mon-fri 08:00-18:00' ('' : any time).",
            ),
        ]
    ):
        func = option(func)
    return func


def _max_uses(value: str | None) -> int | None:
    if value is None or value.lower() == "none":
        return None
    if not value.isascii() or not value.isdigit():
        raise InvalidValueError("--max-uses", value, "give a whole number, or none")
    return whole_number("--max-uses", value, 1, MAX_USES)


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
    if options["hours"] is not None:
        changes["hours"] = parse_hours(options["hours"]) if options["hours"] else None
    return changes


@codes.command("add")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("new_codes", metavar="CODE...", nargs=-1, required=True)
@_entry_options
@JSON_OPTION
def codes_add(name: str, new_codes: tuple[str, ...], as_json: bool, **options: Any) -> None:
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
    if as_json:
        added = [entry if isinstance(entry, str) else entry.code for entry in batch]
        echo_json({"group": name, "added": len(batch), "codes": added})
        return
    click.echo(f"added {len(batch)} code(s) to {name}")


@codes.command("edit")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("selected", metavar="CODE...", nargs=-1, required=True)
@_entry_options
@JSON_OPTION
def codes_edit(name: str, selected: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """Change many codes at once (bulk edit): each option given is set on every code."""
    changes = _entry_changes(options)
    if not changes:
        raise click.UsageError("say what to change: --description, --level, --valid-from, ...")
    current = state()
    edited = current.store().modify_codes(
        name, selected, lambda entry: attrs.evolve(entry, **changes), actor=current.actor
    )
    if as_json:
        echo_json({"group": name, "edited": len(edited), "codes": [_entry_json(e) for e in edited]})
        return
    click.echo(f"edited {len(edited)} code(s) of {name}")


@codes.command("delete")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("selected", metavar="[CODE]...", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Delete every code of the group.")
@click.option("--prefix", help="Delete every code that starts with these digits.")
@click.option("--yes", is_flag=True, help="Confirm deleting with --all or --prefix.")
@JSON_OPTION
def codes_delete(
    *,
    name: str,
    selected: tuple[str, ...],
    every: bool,
    prefix: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete a selection of codes, or all of them, or those with a prefix (all or nothing)."""
    ways = sum((bool(selected), every, prefix is not None))
    if ways != 1:
        raise click.UsageError("name the codes to delete, or give --all, or give --prefix")
    current = state()
    store = current.store()
    if selected:
        store.delete_codes(name, selected, actor=current.actor)
        _deleted(name, sorted(set(selected)), as_json)
        return
    chosen = [entry.code for entry in store.iter_codes(name, prefix or "")]
    which = "every code" if every else f"every code starting with {prefix}"
    if not chosen:
        if as_json:
            _deleted(name, [], as_json)
            return
        click.echo(f"deleted 0 code(s) from {name}: no code to delete")
        return
    if not yes:
        raise InvalidValueError(
            "--yes",
            False,
            f"this deletes {which} of {name!r} ({len(chosen)} code(s)); add --yes to confirm",
        )
    store.delete_codes(name, chosen, actor=current.actor)
    _deleted(name, chosen, as_json)


@codes.command("suspended")
@click.argument("name", metavar="GROUP", type=GROUP)
@JSON_OPTION
def codes_suspended(name: str, as_json: bool) -> None:
    """List the codes suspended for reaching a use limit, and since when."""
    held = state().store(read_only=True).suspended(name)
    if as_json:
        echo_json(
            {
                "group": name,
                "suspended": [{"code": c, "since": t.isoformat()} for c, t in held.items()],
            }
        )
        return
    if not held:
        click.echo(f"{name}: no code is suspended")
        return
    table(["CODE", "SUSPENDED SINCE"], [[code, since.isoformat()] for code, since in held.items()])


def _code_argument(code: str) -> str:
    if not is_code(code) or len(code) > MAX_CODE_LENGTH:
        raise InvalidValueError("CODE", code, f"a code has 2 to {MAX_CODE_LENGTH} ASCII digits")
    return code


@codes.command("suspend")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("code", metavar="CODE")
@JSON_OPTION
def codes_suspend(name: str, code: str, as_json: bool) -> None:
    """Suspend a code by hand, as a reached use limit would, until it is restored (audited)."""
    current = state()
    store = current.store()
    done = store.suspend(name, _code_argument(code), store.now(), actor=current.actor)
    if not done:
        raise InvalidValueError("CODE", code, f"is not on the list of group {name!r}")
    if as_json:
        echo_json({"group": name, "suspended": True})
        return
    click.echo(f"suspended a code of {name}")


@codes.command("restore")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("code", metavar="CODE")
@JSON_OPTION
def codes_restore(name: str, code: str, as_json: bool) -> None:
    """Lift the suspension of a code that reached a use limit (audited)."""
    _code_argument(code)
    current = state()
    restored = current.store().restore(name, code, actor=current.actor)
    if as_json:
        echo_json({"group": name, "restored": restored})
        return
    click.echo(f"restored a code of {name}" if restored else f"{name}: that code is not suspended")


def _deleted(name: str, deleted: list[str], as_json: bool) -> None:
    if as_json:
        echo_json({"group": name, "deleted": len(deleted), "codes": deleted})
    else:
        click.echo(f"deleted {len(deleted)} code(s) from {name}")


@codes.command("import")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--replace", is_flag=True, help="Replace the group's codes instead of adding.")
@click.option("--yes", is_flag=True, help="Confirm a replacement that removes most codes.")
@JSON_OPTION
def codes_import(name: str, file: str, replace: bool, yes: bool, as_json: bool) -> None:
    """Import a CSV code list (code,description[,level,valid_from,valid_until,max_uses])."""
    current = state()
    data = read_input(file)
    store = current.store()
    if replace and not yes:
        _confirm_replacement(store, name, file, data)
    rows = data.count(b"\n")
    with progress(2 * rows, f"importing {file}") as advance:
        count = import_codes_csv(
            store, name, data, actor=current.actor, source=file, replace=replace, progress=advance
        )
    if as_json:
        echo_json({"group": name, "imported": count, "replaced": replace, "file": file})
        return
    verb = "replaced the codes of" if replace else "imported into"
    click.echo(f"{verb} {name}: {count} code(s) from {file}")


def _confirm_replacement(store: Store, name: str, file: str, data: bytes) -> None:
    """Refuse (without --yes) a replacement that removes all, or more than half, of the codes.

    A cut-off or wrong file then cannot empty a group by accident. A file with bad rows is
    left to the import, which reports them all.
    """
    if name not in store:
        return
    stored = store.count(name)
    rows = parse_codes_csv(data, source=file)
    if stored == 0 or rows.errors:
        return
    new = {entry.code for entry in rows.entries}
    removed = sum(1 for entry in store.iter_codes(name) if entry.code not in new)
    if 2 * removed > stored:  # all of them, or more than half
        raise InvalidValueError(
            "--yes",
            False,
            f"replacing the codes of {name!r} with {file} removes {removed} of its {stored} "
            "code(s); check the file, or add --yes",
        )


@codes.command("export")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--prefix", default="", help="Only codes starting with these digits.")
@JSON_OPTION
def codes_export(name: str, file: str | None, prefix: str, as_json: bool) -> None:
    """Export codes as CSV, in code order (default: standard output)."""
    store = state().store(read_only=True)
    total = store.count(name)
    if as_json and (file is None or file == "-"):
        found = [_entry_json(entry) for entry in store.iter_codes(name, prefix)]
        echo_json({"group": name, "codes": found})
        return
    if file is None or file == "-":
        export_codes_csv(store, name, sys.stdout, prefix=prefix, crlf=False)
        return
    # UTF-8 with a byte order mark: spreadsheets then show non-ASCII descriptions right.
    # Written atomically and readable by its owner only: codes are secrets, or may become so.
    with (
        atomic_write(file, mode=CODE_FILE_MODE, encoding="utf-8-sig", newline="") as out,
        progress(total, f"exporting {file}") as advance,
    ):
        count = export_codes_csv(store, name, out, prefix=prefix, progress=advance)
    if as_json:
        echo_json({"group": name, "file": file, "exported": count})
        return
    click.echo(f"exported {count} code(s) of {name} to {file}", err=True)
