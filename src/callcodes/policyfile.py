"""Policy files: a whole group as JSON or TOML, and code lists as CSV, read and written.

A group document holds a group's settings, its mandatory and optional users, its codes and, when
it has one, its dial plan (``callcodes.dialplan``). A code list is CSV with a header:
``code,description`` and optionally ``level``, ``valid_from``, ``valid_until`` and ``max_uses``
(times in ISO 8601 with a UTC offset, e.g. ``2026-01-01T00:00:00Z``). Codes are strings in every
format, so leading zeros are kept.

Reading is strict and all-or-nothing: every bad row is reported at once (CSV rows by their line
number, JSON and TOML codes by their position in the ``codes`` list, from 1), with the same
reasons the core gives, and nothing is imported. A UTF-8 byte order mark, CRLF line ends and
blank lines are accepted; a file that is not UTF-8 is refused with the line of the first bad
byte.

A description that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-`` or
``@``) is written to CSV with a ``'`` in front, which spreadsheets show as text; reading drops
that ``'`` again, so export then import gives back the same description (``_csvsafe``).

Settings and entries become plain values the way ``callcodes.core.plain`` says; this module adds
the files' ways of writing times (``2026-01-01T00:00:00Z``) and the files themselves.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

import attrs
import tomli_w

from ._csvsafe import quote, unquote
from ._errors import BatchError, InvalidValueError, RowError, show
from ._files import read_text
from ._timefmt import iso_short, parse_iso, zone
from .core import plain
from .core._validate import MAX_DIGITS, check_group_id
from .core.book import CodeBook
from .core.model import CodeEntry, GroupSettings, is_code
from .core.plain import as_mapping, check_keys, settings_from_dict, settings_to_dict
from .dialplan.plan import DialPlan

if TYPE_CHECKING:
    from .store.protocol import Store

__all__ = [
    "CSV_COLUMNS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CodeRows",
    "GroupDocument",
    "Progress",
    "dumps_group",
    "entry_from_dict",
    "entry_to_dict",
    "export_codes_csv",
    "export_group",
    "file_format",
    "import_codes_csv",
    "import_group",
    "loads_group",
    "parse_codes_csv",
    "read_text",
    "settings_from_dict",
    "settings_to_dict",
    "write_codes_csv",
]

FORMAT_NAME: Final = "callcodes-group"
FORMAT_VERSION: Final = 1
CSV_COLUMNS: Final = plain.ENTRY_FIELDS
_PROGRESS_STEP: Final = 10_000
_DOCUMENT_KEYS: Final = ("format", "version", "group", "settings", "users", "codes", "dialplan")

#: Called with how many more rows were read or written, for progress bars.
Progress = Callable[[int], None]
Format = Literal["json", "toml", "csv"]


# -- text -----------------------------------------------------------------------------------------


def file_format(path: Path | str, default: Format | None = None) -> Format:
    """The format a file name says: ``.json``, ``.toml`` or ``.csv`` (else *default*)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".json", ".toml", ".csv"):
        return suffix[1:]  # type: ignore[return-value]  # one of the three literals
    if default is not None:
        return default
    raise InvalidValueError(
        "file", str(path), "name a .json, .toml or .csv file, or give the format explicitly"
    )


# -- entries as plain values ---------------------------------------------------------------------


def entry_to_dict(entry: CodeEntry) -> dict[str, Any]:
    """An entry as plain JSON values; fields at their default are left out.

    Times are written the short way, in UTC: ``2026-01-01T00:00:00Z``.
    """
    return plain.entry_to_dict(entry, time=iso_short)


def _time(where: str, value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return parse_iso(where, value)
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(
            where, value, "must be a time with a UTC offset, like 2026-01-01T00:00:00Z"
        )
    return value


def entry_from_dict(data: Mapping[str, Any]) -> CodeEntry:
    """Build an entry from plain values; times may be ISO 8601 strings or aware datetimes.

    Refused with :class:`InvalidValueError` naming the field, as the model refuses it.
    """
    return plain.entry_from_dict(data, time=_time)


# -- group documents ------------------------------------------------------------------------------


def _scratch_check(group: str, settings: GroupSettings, codes: Sequence[CodeEntry]) -> None:
    CodeBook().replace_group(group, settings, codes)


def _entries_tuple(codes: Iterable[CodeEntry]) -> tuple[CodeEntry, ...]:
    return tuple(codes)


@attrs.frozen
class GroupDocument:
    """A whole group: its name, settings (users included), codes and dial plan (or None).

    Validated as a book validates a group, so a document that exists can be imported.
    """

    group: str
    settings: GroupSettings
    codes: tuple[CodeEntry, ...] = attrs.field(default=(), converter=_entries_tuple)
    dialplan: DialPlan | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(DialPlan))
    )

    def __attrs_post_init__(self) -> None:
        _scratch_check(self.group, self.settings, self.codes)

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON values, the layout of the JSON and TOML files."""
        data = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "group": self.group,
            "settings": settings_to_dict(self.settings),
            "users": plain.users_to_dict(self.settings),
            "codes": [entry_to_dict(entry) for entry in self.codes],
        }
        if self.dialplan is not None:
            data["dialplan"] = self.dialplan.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, group: str | None = None) -> GroupDocument:
        """Build a document from plain values; *group* overrides the name it holds.

        Bad settings raise :class:`InvalidValueError`; bad codes raise one
        :class:`BatchError` listing every bad code by its position (from 1).
        """
        data = as_mapping("document", data)
        check_keys("document", data, _DOCUMENT_KEYS)
        if data.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise InvalidValueError(
                "format", data["format"], f"this is not a {FORMAT_NAME} document"
            )
        version = data.get("version", FORMAT_VERSION)
        if type(version) is not int or version > FORMAT_VERSION:
            raise InvalidValueError(
                "version", version, f"this callcodes reads versions up to {FORMAT_VERSION}"
            )
        name = data.get("group") if group is None else group
        if not isinstance(name, str):
            raise InvalidValueError("group", name, "name the group (a string)")
        check_group_id("group", name)
        settings = settings_from_dict(
            as_mapping("settings", data.get("settings", {})),
            as_mapping("users", data.get("users", {})),
            zone=zone,
        )
        dialplan = _dialplan_from_dict(data.get("dialplan"))
        items = data.get("codes", [])
        if not isinstance(items, list):
            raise InvalidValueError("codes", items, "must be a list of code entries")
        entries: list[CodeEntry] = []
        positions: list[int] = []
        bad: list[RowError] = []
        for position, item in enumerate(items, start=1):
            try:
                entries.append(entry_from_dict(as_mapping("code", item)))
                positions.append(position)
            except InvalidValueError as exc:
                code = item.get("code") if isinstance(item, Mapping) else item
                bad.append(RowError(position, str(code), f"{exc.field}: {exc.problem}"))
        try:
            _scratch_check(name, settings, entries)
        except BatchError as exc:
            bad += [attrs.evolve(row, row=positions[row.row - 1]) for row in exc.rows]
        if bad:
            raise BatchError(
                f"codes of group {name!r} (numbered from 1 in the codes list)",
                sorted(bad, key=lambda row: row.row),
            )
        return cls(name, settings, entries, dialplan)


def _dialplan_from_dict(value: object) -> DialPlan | None:
    if value is None:
        return None
    try:
        return DialPlan.from_dict(as_mapping("dialplan", value))
    except InvalidValueError as exc:
        raise InvalidValueError(f"dialplan.{exc.field}", exc.value, exc.problem) from None


def _toml_ready(value: Any) -> Any:
    """TOML has no null (leave such keys out) and native times (use them)."""
    if isinstance(value, dict):
        return {k: _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_ready(v) for v in value]
    return value


def dumps_group(document: GroupDocument, fmt: Literal["json", "toml"]) -> str:
    """The document as JSON or TOML text. Runtime complexity: O(size)."""
    data = document.to_dict()
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    for entry in data["codes"]:
        for key in ("valid_from", "valid_until"):
            if key in entry:
                entry[key] = datetime.fromisoformat(entry[key])
    return tomli_w.dumps(_toml_ready(data))


def loads_group(
    data: bytes,
    fmt: Literal["json", "toml"],
    *,
    source: str = "<document>",
    group: str | None = None,
) -> GroupDocument:
    """Read a JSON or TOML group document (see :meth:`GroupDocument.from_dict`).

    Text that is not UTF-8 or not valid JSON/TOML is refused with :class:`InvalidValueError`
    saying where. Runtime complexity: O(size).
    """
    text = read_text(data, source)
    try:
        parsed = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValueError(
            "file", source, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError("file", source, f"is not valid TOML ({show(str(exc))})") from None
    except RecursionError:
        raise InvalidValueError("file", source, "is nested too deeply to be a group") from None
    except ValueError:  # what is left: a number longer than Python reads (4300 digits)
        raise InvalidValueError("file", source, "holds a number too long to be a setting") from None
    return GroupDocument.from_dict(parsed, group=group)


def export_group(store: Store, group: str) -> GroupDocument:
    """The whole of *group* as the store holds it. Runtime complexity: O(n) for n codes.

    The group's service provider is not part of a group file: it says where the group sits in
    the platform, not what the group is, and is set with ``Store.set_provider``.
    """
    return GroupDocument(
        group, store.group(group), tuple(store.iter_codes(group)), store.dialplan(group)
    )


def import_group(
    store: Store,
    document: GroupDocument,
    *,
    actor: str,
    progress: Progress | None = None,
) -> None:
    """Create or replace the document's group in *store*, in one transaction.

    Use counts of codes that stay, and locks, are kept (see ``PolicyStore.replace_group``), and
    so is the stored dial plan when the document has none, and the group's service provider.
    """
    store.replace_group(
        document.group,
        document.settings,
        document.codes,
        actor=actor,
        progress=progress,
        dialplan=document.dialplan,
    )


# -- CSV code lists -------------------------------------------------------------------------------


@attrs.frozen
class CodeRows:
    """What a CSV code list holds: the good rows with their lines, and the bad ones."""

    entries: tuple[CodeEntry, ...]
    lines: tuple[int, ...]
    errors: tuple[RowError, ...]


def _whole(where: str, cell: str) -> int | None:
    if cell == "":
        return None
    if not is_code(cell):  # ASCII digits: int() would also take spaces, signs and "٣"
        raise InvalidValueError(where, cell, "must be a whole number written with digits 0-9")
    if len(cell.lstrip("0")) > MAX_DIGITS:  # refused before int() reads thousands of digits
        raise InvalidValueError(where, cell, f"is too large: at most {MAX_DIGITS} digits")
    return int(cell)


def _header(cells: list[str], source: str) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    hint = ""
    if len(names) == 1 and ";" in names[0]:
        hint = " (separate columns with commas, not semicolons)"
    unknown = [name for name in names if name not in CSV_COLUMNS]
    if unknown or "code" not in names or len(set(names)) != len(names):
        raise InvalidValueError(
            "file",
            source,
            f"line 1 must be a header naming the columns: code, and any of "
            f"{', '.join(CSV_COLUMNS[1:])}, each once; found {show(', '.join(cells))}{hint}",
        )
    return names


def _row_entry(header: list[str], cells: list[str]) -> CodeEntry:
    if len(cells) > len(header):
        raise InvalidValueError(
            "row", len(cells), f"has more cells than the header's {len(header)} columns"
        )
    values = dict(zip(header, cells, strict=False))
    level = _whole("level", values.get("level", ""))
    description = values.get("description", "")
    return CodeEntry(
        values.get("code", ""),
        unquote(description) if description else None,
        level=0 if level is None else level,
        valid_from=_time("valid_from", values.get("valid_from")),
        valid_until=_time("valid_until", values.get("valid_until")),
        max_uses=_whole("max_uses", values.get("max_uses", "")),
        hours=values.get("hours") or None,
    )


def parse_codes_csv(
    data: bytes, *, source: str = "<csv>", progress: Progress | None = None
) -> CodeRows:
    """Read a CSV code list: every row becomes an entry or a :class:`RowError` with its line.

    The first non-blank line is the header. Blank lines are skipped. File-level problems (not
    UTF-8, no header, an unknown column) raise :class:`InvalidValueError`.
    Runtime complexity: O(size).
    """
    reader = csv.reader(io.StringIO(read_text(data, source), newline=""), strict=True)
    read_pair = plain.pair_reader()
    header: list[str] | None = None
    simple = False
    entries: list[CodeEntry] = []
    lines: list[int] = []
    errors: list[RowError] = []
    consumed = 0  # physical lines read before the current row
    done = 0
    try:
        for cells in reader:
            start, consumed = consumed + 1, reader.line_num
            if not cells:
                continue
            if header is None:
                header = _header(cells, source)
                simple = header == ["code", "description"]
                continue
            try:
                if simple and len(cells) == 2:  # the common layout, read without detours
                    code, description = cells
                    if description[:1] == "'":
                        description = unquote(description)
                    entries.append(read_pair(code, description))
                else:
                    entries.append(_row_entry(header, cells))
                lines.append(start)
            except InvalidValueError as exc:
                code = cells[header.index("code")] if len(cells) > header.index("code") else ""
                errors.append(RowError(start, code, f"{exc.field}: {exc.problem}"))
            done += 1
            if progress is not None and done % _PROGRESS_STEP == 0:
                progress(_PROGRESS_STEP)
    except csv.Error as exc:
        raise InvalidValueError(
            "file", source, f"is not valid CSV (line {reader.line_num}: {exc})"
        ) from None
    if header is None:
        raise InvalidValueError(
            "file", source, "is empty: line 1 must be the header, e.g. code,description"
        )
    if progress is not None and done % _PROGRESS_STEP:
        progress(done % _PROGRESS_STEP)
    return CodeRows(tuple(entries), tuple(lines), tuple(errors))


def _in_line_order(rows: CodeRows) -> tuple[list[CodeEntry], list[int]]:
    """The good entries plus, for bad rows whose code is fine, the bare code: in line order.

    Checking those codes too reports a duplicate even on a row that is bad for another reason.
    """
    found = dict(zip(rows.lines, rows.entries, strict=True))
    for error in rows.errors:
        try:
            found[error.row] = CodeEntry(error.code)
        except InvalidValueError:
            continue
    lines = sorted(found)
    return [found[line] for line in lines], lines


def import_codes_csv(
    store: Store,
    group: str,
    data: bytes,
    *,
    actor: str,
    source: str = "<csv>",
    replace: bool = False,
    progress: Progress | None = None,
) -> int:
    """Add the codes of a CSV list to *group* (or, with *replace*, put them in place of its codes).

    All-or-nothing: every bad row (malformed, wrong length, duplicate in the file or of a stored
    code, bad description, level, time or use limit) is reported in one :class:`BatchError`
    with its line number, and the store is unchanged. Returns how many codes were imported.
    *progress* gets the rows read, then the rows written. Runtime complexity: O(n log n).
    """
    rows = parse_codes_csv(data, source=source, progress=progress)
    what = f"import {source} into group {group!r} (rows are numbered by line)"
    if rows.errors:
        # Check the rest against the group too, so that one run reports every bad row.
        checked, lines = _in_line_order(rows)
        bad = list(rows.errors)
        bad += [
            attrs.evolve(row, row=lines[row.row - 1])
            for row in store.check_codes(group, checked, replace=replace)
        ]
        raise BatchError(what, sorted(bad, key=lambda row: row.row))
    try:
        if replace:
            store.replace_codes(group, rows.entries, actor=actor, progress=progress)
        else:
            store.add_codes(group, rows.entries, actor=actor, progress=progress)
    except BatchError as exc:
        raise BatchError(
            what, [attrs.evolve(row, row=rows.lines[row.row - 1]) for row in exc.rows]
        ) from None
    return len(rows.entries)


def write_codes_csv(
    entries: Sequence[CodeEntry],
    out: TextIO,
    *,
    crlf: bool = True,
    progress: Progress | None = None,
) -> int:
    """Write *entries* as a CSV code list with a header; returns how many were written.

    The columns are ``code,description``, plus the level, validity, use-limit and hours columns
    when any entry has one. Lines end with CRLF (RFC 4180) unless *crlf* is false.
    Runtime complexity: O(n).
    """
    full = any(e.level or e.limited for e in entries)
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(CSV_COLUMNS if full else CSV_COLUMNS[:2])
    for start in range(0, len(entries), _PROGRESS_STEP):
        chunk = entries[start : start + _PROGRESS_STEP]
        if full:
            writer.writerows(
                (
                    e.code,
                    "" if e.description is None else quote(e.description),
                    e.level,
                    "" if e.valid_from is None else iso_short(e.valid_from),
                    "" if e.valid_until is None else iso_short(e.valid_until),
                    "" if e.max_uses is None else e.max_uses,
                    "" if e.hours is None else str(e.hours),
                )
                for e in chunk
            )
        else:
            writer.writerows(
                (e.code, "" if e.description is None else quote(e.description)) for e in chunk
            )
        if progress is not None:
            progress(len(chunk))
    return len(entries)


def export_codes_csv(
    store: Store,
    group: str,
    out: TextIO,
    *,
    prefix: str = "",
    crlf: bool = True,
    progress: Progress | None = None,
) -> int:
    """Write the codes of *group* (starting with *prefix*) as a CSV code list, in code order.

    Runtime complexity: O(n) for n codes.
    """
    return write_codes_csv(list(store.iter_codes(group, prefix)), out, crlf=crlf, progress=progress)
