"""Code routes: list, add, bulk edit, delete, import and export a group's codes.

``/api/v1/groups/{group}/codes...``: what ``callcodes codes list|add|edit|delete|import|export``
do. Every change is all or nothing: a batch with bad rows is refused whole with every bad row
(numbered from 1 in the JSON list, by line in a CSV body) and the store is left as it was.
Deleting every code (``all``) or a prefix, and a CSV replacement that removes most of a group's
codes, need ``"confirm": true`` (or ``?confirm=true``), as ``--yes`` does on the command line.
Authorization codes are shown only here, to the administrators of their group, as the command
line shows them.
"""

from __future__ import annotations

import io
import re
from typing import Any, Final

import attrs
import msgspec
from litestar import Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import Parameter, RawBody

from .._errors import BatchError, InvalidValueError, RowError, show
from .._timefmt import parse_iso
from ..core._validate import MAX_LEVEL, MAX_USES
from ..core.hours import Hours, parse_hours
from ..core.model import CodeEntry, is_code
from ..core.plain import check_keys
from ..policyfile import entry_from_dict, export_codes_csv, import_codes_csv, parse_codes_csv
from ..store.accounts import Account
from .auth import node
from .groups import boolean, confirmed
from .problems import (
    TEXT_CSV,
    Problem,
    csv_body,
    json_object,
    problem_responses,
    request_body,
)

__all__ = [
    "ROUTES",
    "CodeIn",
    "CodePage",
    "CodeView",
    "CodesAdd",
    "CodesAdded",
    "CodesDelete",
    "CodesDeleted",
    "CodesEdit",
    "CodesEdited",
    "CodesImported",
]

_PATH: Final = "/api/v1/groups/{group:str}/codes"
_MAX_PAGE: Final = 10_000
_UNSET: Final = msgspec.UNSET
Unset = msgspec.UnsetType
_WRITE: Final = problem_responses(400, 401, 403, 404, 409, 413, 415, 422)

# -- shapes ---------------------------------------------------------------------------------------


class CodeView(msgspec.Struct):
    """A code with every field; null when absent.

    Times in ISO 8601 (UTC); ``hours``: when the code may authorize (``mon-fri 08:00-18:00``,
    in the group's time zone).
    """

    code: str
    description: str | None
    level: int
    valid_from: str | None
    valid_until: str | None
    max_uses: int | None
    hours: str | None


class CodePage(msgspec.Struct):
    """One page of codes in code order; ``next`` is the ``after`` of the next page (or null)."""

    group: str
    codes: list[CodeView]
    next: str | None


class CodeIn(msgspec.Struct):
    """A code to add: digits only (leading zeros count), with its optional fields."""

    code: str
    description: str | Unset | None = _UNSET
    level: int | Unset = _UNSET
    valid_from: str | Unset | None = _UNSET
    valid_until: str | Unset | None = _UNSET
    max_uses: int | Unset | None = _UNSET
    hours: str | Unset | None = _UNSET


class CodesAdd(msgspec.Struct):
    """Codes to add, all or nothing: entries, or bare code strings."""

    codes: list[CodeIn | str]


class CodesAdded(msgspec.Struct):
    """How many codes were added, and which."""

    group: str
    added: int
    codes: list[str]


class CodeChanges(msgspec.Struct):
    """Fields to set on every code named (null clears a description or lifts a limit)."""

    description: str | Unset | None = _UNSET
    level: int | Unset = _UNSET
    valid_from: str | Unset | None = _UNSET
    valid_until: str | Unset | None = _UNSET
    max_uses: int | Unset | None = _UNSET
    hours: str | Unset | None = _UNSET


class CodesEdit(msgspec.Struct):
    """A bulk edit: ``descriptions`` (code to text, null clears), or ``codes`` with ``set``."""

    descriptions: dict[str, str | None] | Unset = _UNSET
    codes: list[str] | Unset = _UNSET
    set: CodeChanges | Unset = _UNSET


class CodesEdited(msgspec.Struct):
    """How many codes were edited, and which."""

    group: str
    edited: int
    codes: list[str]


class CodesDelete(msgspec.Struct):
    """A selection to delete: ``codes``, or ``all``, or a ``prefix`` (these two: ``confirm``)."""

    codes: list[str] | Unset = _UNSET
    all: bool | Unset = _UNSET
    prefix: str | Unset = _UNSET
    confirm: bool | Unset = _UNSET


class CodesDeleted(msgspec.Struct):
    """How many codes were deleted, and which."""

    group: str
    deleted: int
    codes: list[str]


class CodesImported(msgspec.Struct):
    """How many codes a CSV import brought, and whether it replaced the group's list."""

    group: str
    imported: int
    replaced: bool


# -- helpers --------------------------------------------------------------------------------------


def _view(entry: CodeEntry) -> CodeView:
    return CodeView(
        entry.code,
        entry.description,
        entry.level,
        None if entry.valid_from is None else entry.valid_from.isoformat(),
        None if entry.valid_until is None else entry.valid_until.isoformat(),
        entry.max_uses,
        None if entry.hours is None else str(entry.hours),
    )


def _hours(where: str, value: object) -> Hours:
    """Allowed hours from their text, refused naming *where*."""
    try:
        return parse_hours(value)
    except InvalidValueError as exc:
        raise InvalidValueError(where, value, exc.problem) from None


def _file_name(group: str) -> str:
    """*group* as a file name in a header: other characters than these are replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", group)


def _digits(where: str, value: str) -> str:
    if value and not is_code(value):
        raise InvalidValueError(where, value, "digits 0-9 only")
    return value


def _shown(value: object) -> str:
    """A row's code as a bad row names it: the text given, or how a non-text value looks."""
    return value if isinstance(value, str) else show(value)


def _code_list(where: str, value: object) -> list[str]:
    """A JSON list of code strings; every item that is not text is a bad row (from 1)."""
    if not isinstance(value, list):
        raise InvalidValueError(where, value, "must be a list of codes (strings of digits)")
    bad = [
        RowError(row, _shown(item), 'a code is a string of digits, like "0042"')
        for row, item in enumerate(value, start=1)
        if not isinstance(item, str)
    ]
    if bad:
        raise BatchError(f"{where} (numbered from 1)", bad)
    return value


def _rows(items: list[Any]) -> tuple[list[CodeEntry | str], list[RowError], list[int]]:
    """The batch to check (entries, or bare codes), the rows refused already, their positions."""
    batch: list[CodeEntry | str] = []
    positions: list[int] = []
    bad: list[RowError] = []
    for row, item in enumerate(items, start=1):
        if isinstance(item, str):
            batch.append(item)  # the store reports a malformed code with its reason
            positions.append(row)
            continue
        if not isinstance(item, dict):
            bad.append(RowError(row, _shown(item), "a row is a code or an object with a code"))
            continue
        code = item.get("code")
        try:
            batch.append(entry_from_dict(item))
            positions.append(row)
        except InvalidValueError as exc:
            if exc.field == "code" and isinstance(code, str):
                batch.append(code)
                positions.append(row)
                continue
            bad.append(RowError(row, _shown(code), f"{exc.field}: {exc.problem}"))
            if isinstance(code, str) and is_code(code):
                batch.append(code)  # checked too: a duplicate is reported on this row as well
                positions.append(row)
    return batch, bad, positions


# -- routes ---------------------------------------------------------------------------------------


@get(_PATH, sync_to_thread=True, responses=problem_responses(400, 401, 403, 404, 422))
def list_codes(
    request: Request[Any, Any, Any],
    managed: NamedDependency[str],
    prefix: str = Parameter(default="", description="only codes starting with these digits"),
    after: str | None = Parameter(default=None, description="start after this code (next)"),
    limit: int = Parameter(default=50, ge=1, le=_MAX_PAGE, description="codes per page"),
) -> CodePage:
    """One page of the group's codes, in code order, with the cursor of the next page."""
    _digits("prefix", prefix)
    if after is not None:
        _digits("after", after)
    found = node(request).store.codes(managed, prefix, after, limit + 1)
    more = len(found) > limit
    page = found[:limit]
    return CodePage(managed, [_view(e) for e in page], page[-1].code if more else None)


@post(
    _PATH,
    status_code=201,
    sync_to_thread=True,
    operation_class=request_body(CodesAdd),
    responses=_WRITE,
)
def add_codes(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    body: RawBody,
) -> CodesAdded:
    """Add codes, all or nothing: a batch with bad rows is refused with every bad row."""
    sent = json_object(request, body)
    check_keys("body", sent, ("codes",))
    items = sent.get("codes")
    if not isinstance(items, list) or not items:
        raise InvalidValueError("codes", items, "give a non-empty list of codes")
    store = node(request).store
    batch, bad, positions = _rows(items)
    what = f"add codes to group {managed!r} (rows numbered from 1)"
    if bad:
        bad += [
            attrs.evolve(row, row=positions[row.row - 1])
            for row in store.check_codes(managed, batch)
        ]
        raise BatchError(what, sorted(bad, key=lambda row: row.row))
    try:
        store.add_codes(managed, batch, actor=staff.name)
    except BatchError as exc:
        raise BatchError(what, exc.rows) from None
    node(request).changed()
    codes = [entry if isinstance(entry, str) else entry.code for entry in batch]
    return CodesAdded(managed, len(codes), codes)


def _changes(value: object) -> dict[str, Any]:
    """The fields of a bulk edit's ``set``, as the entries take them."""
    if not isinstance(value, dict) or not value:
        raise InvalidValueError("set", value, 'give the fields to set, e.g. {"level": 2}')
    check_keys(
        "set", value, ("description", "level", "valid_from", "valid_until", "max_uses", "hours")
    )
    changes: dict[str, Any] = {}
    for key, given in value.items():
        if key in ("valid_from", "valid_until"):
            if given is not None and not isinstance(given, str):
                raise InvalidValueError(f"set.{key}", given, "a time in ISO 8601, or null")
            changes[key] = None if given is None else parse_iso(f"set.{key}", given)
        elif key == "level" and (type(given) is not int or not 0 <= given <= MAX_LEVEL):
            raise InvalidValueError("set.level", given, f"a whole number from 0 to {MAX_LEVEL}")
        elif (
            key == "max_uses"
            and given is not None
            and (type(given) is not int or not 1 <= given <= MAX_USES)
        ):
            raise InvalidValueError("set.max_uses", given, f"from 1 to {MAX_USES}, or null")
        elif key == "description" and given is not None and not isinstance(given, str):
            raise InvalidValueError("set.description", given, "text, or null to clear it")
        elif key == "hours":
            changes[key] = None if given in (None, "") else _hours("set.hours", given)
        else:
            changes[key] = (given or None) if key == "description" else given
    return changes


@patch(_PATH, sync_to_thread=True, operation_class=request_body(CodesEdit), responses=_WRITE)
def edit_codes(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    body: RawBody,
) -> CodesEdited:
    """Bulk edit: new descriptions by code, or the same fields set on every code named."""
    sent = json_object(request, body)
    check_keys("body", sent, ("descriptions", "codes", "set"))
    store = node(request).store
    if "descriptions" in sent:
        if "codes" in sent or "set" in sent:
            raise InvalidValueError("body", sorted(sent), "give descriptions, or codes and set")
        given = sent["descriptions"]
        if not isinstance(given, dict) or not given:
            raise InvalidValueError("descriptions", given, "map codes to text (null clears)")
        bad = [
            RowError(row, code, "a description is text, or null to clear it")
            for row, (code, text) in enumerate(given.items(), start=1)
            if text is not None and not isinstance(text, str)
        ]
        if bad:
            raise BatchError(f"edit codes of group {managed!r} (numbered from 1)", bad)
        store.edit_codes(managed, {c: t or None for c, t in given.items()}, actor=staff.name)
        edited = sorted(given)
    else:
        if "codes" not in sent or "set" not in sent:
            raise InvalidValueError("body", sorted(sent), "give descriptions, or codes and set")
        selected = _code_list("codes", sent["codes"])
        changes = _changes(sent["set"])
        done = store.modify_codes(
            managed, selected, lambda entry: attrs.evolve(entry, **changes), actor=staff.name
        )
        edited = [entry.code for entry in done]
    node(request).changed()
    return CodesEdited(managed, len(edited), edited)


@post(
    f"{_PATH}/delete",
    status_code=200,
    sync_to_thread=True,
    operation_class=request_body(CodesDelete),
    responses=_WRITE,
)
def delete_codes(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    body: RawBody,
    confirm: bool = Parameter(default=False, description="confirm deleting all or a prefix"),
) -> CodesDeleted:
    """Delete a selection (all or nothing), or every code, or those with a prefix."""
    sent = json_object(request, body)
    check_keys("body", sent, ("codes", "all", "prefix", "confirm"))
    ways = [key for key in ("codes", "all", "prefix") if key in sent]
    if len(ways) != 1:
        raise InvalidValueError("body", ways, "give exactly one of codes, all or prefix")
    store = node(request).store
    if "codes" in sent:
        selected = _code_list("codes", sent["codes"])
        if not selected:
            raise InvalidValueError("codes", selected, "name at least one code")
        store.delete_codes(managed, selected, actor=staff.name)
        node(request).changed()
        return CodesDeleted(managed, len(set(selected)), sorted(set(selected)))
    if "all" in sent:
        if not boolean("all", sent["all"]):
            raise InvalidValueError("all", False, "send true to delete every code")
        prefix, which = "", "every code"
    else:
        prefix = sent["prefix"]
        if not isinstance(prefix, str) or not prefix:
            raise InvalidValueError("prefix", prefix, "give the first digits of the codes")
        _digits("prefix", prefix)
        which = f"every code starting with {prefix}"
    chosen = [entry.code for entry in store.iter_codes(managed, prefix)]
    if chosen and not confirmed(confirm, sent):
        raise Problem(
            409,
            f"this deletes {which} of {managed!r} ({len(chosen)} code(s)); send "
            '"confirm": true to confirm',
        )
    if chosen:
        store.delete_codes(managed, chosen, actor=staff.name)
        node(request).changed()
    return CodesDeleted(managed, len(chosen), chosen)


def _check_replacement(request: Request[Any, Any, Any], group: str, text: bytes) -> None:
    """Refuse (409) a replacement that removes all, or more than half, of the group's codes."""
    store = node(request).store
    stored = store.count(group)
    rows = parse_codes_csv(text, source="the request body")
    if stored == 0 or rows.errors:
        return  # bad rows are the import's to report, every one
    new = {entry.code for entry in rows.entries}
    removed = sum(1 for entry in store.iter_codes(group) if entry.code not in new)
    if 2 * removed > stored:  # all of them, or more than half
        raise Problem(
            409,
            f"replacing the codes of {group!r} removes {removed} of its {stored} code(s); "
            "check the list, or add ?confirm=true",
        )


@post(
    f"{_PATH}/import",
    status_code=200,
    sync_to_thread=True,
    operation_class=request_body(csv=True, description="a CSV code list, as codes import reads"),
    responses=_WRITE,
)
def import_codes(
    *,
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    body: RawBody,
    replace: bool = Parameter(default=False, description="replace the group's codes"),
    confirm: bool = Parameter(default=False, description="confirm removing most codes"),
) -> CodesImported:
    """Import a CSV code list (``code,description[,level,valid_from,valid_until,max_uses]``)."""
    text = csv_body(request, body)
    if replace and not confirm:
        _check_replacement(request, managed, text)
    count = import_codes_csv(
        node(request).store,
        managed,
        text,
        actor=staff.name,
        source="the request body",
        replace=replace,
    )
    node(request).changed()
    return CodesImported(managed, count, replace)


@get(
    f"{_PATH}/export",
    sync_to_thread=True,
    media_type=f"{TEXT_CSV}; charset=utf-8",
    responses=problem_responses(400, 401, 403, 404, 422),
)
def export_codes(
    request: Request[Any, Any, Any],
    managed: NamedDependency[str],
    prefix: str = Parameter(default="", description="only codes starting with these digits"),
) -> Response[str]:
    """The codes as a CSV code list, spreadsheet-safe (UTF-8 with a byte order mark, CRLF)."""
    _digits("prefix", prefix)
    out = io.StringIO(newline="")
    out.write("\ufeff")  # a byte order mark: spreadsheets then read non-ASCII text right
    export_codes_csv(node(request).store, managed, out, prefix=prefix)
    return Response(
        out.getvalue(),
        media_type=f"{TEXT_CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_file_name(managed)}-codes.csv"'},
    )


ROUTES: Final = [list_codes, add_codes, edit_codes, delete_codes, import_codes, export_codes]
