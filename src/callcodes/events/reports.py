"""Reading the event log: queries page by page, reports per code, user or day, and exports.

A *source* is a sink (:class:`MemorySink`, :class:`JsonlSink`, :class:`SqliteSink`,
:class:`PostgresSink`), the path of a log file or a ``postgresql://`` URL; a path is read as
SQLite when the file starts with SQLite's header, else as JSON Lines. SQLite logs are queried in
SQL with their indexes; the others are read whole and filtered in memory (O(n) per page).

Pages are keyset pages: events come in time order (ties in the order they were stored) and
each page ends with a cursor, ``EventPage.next``, that the next query takes as ``after``.
Unlike an offset, a cursor stays right while events are being added.

CSV exports neutralise every text cell that a spreadsheet would run as a formula (OWASP: a
leading ``=``, ``+``, ``-``, ``@``, tab or carriage return) by prefixing a single quote, as every
export of callcodes does (``callcodes._csvsafe``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Literal

import attrs

from .. import _sqlite
from .._csvsafe import cell
from .._errors import InvalidValueError, SinkError
from .._postgres import is_url
from .._timefmt import from_micros, iso, micros
from ..core._validate import is_code, member
from ..core.model import Reason, Verdict
from .event import EVENT_FIELDS, Event, Row, row_of, row_to_event
from .jsonl import JsonlSink, read_jsonl
from .postgres import PostgresSink, read_postgres
from .sinks import MemorySink
from .sqlite import COLUMNS, SqliteSink, checked_event, open_reader, read_sqlite

__all__ = [
    "EventPage",
    "EventSource",
    "ReportRow",
    "export_csv",
    "export_jsonl",
    "query_events",
    "read_events",
    "report_events",
]

#: Where events can be read from: a sink, or the path of an SQLite or JSON Lines log.
EventSource = MemorySink | JsonlSink | SqliteSink | PostgresSink | str | os.PathLike[str]
ReportBy = Literal["code", "user", "day"]
_REPORT_KEYS: Final = ("code", "user", "day")
_CURSOR: Final = re.compile(r"[0-9]+:[0-9]+")


@attrs.frozen
class EventPage:
    """One page of a query: its events in time order, and the cursor of the next page.

    ``next`` is ``None`` on the last page; otherwise pass it as ``after`` to get the next.
    """

    events: tuple[Event, ...]
    next: str | None


@attrs.frozen
class ReportRow:
    """One line of a report: the events under one key, their outcomes, first and last time.

    ``key`` is the account code (``None``: events with no account code), the user, or the UTC
    day (``YYYY-MM-DD``). ``events`` counts decisions; ``calls`` counts distinct call ids (an
    event without a call id counts as one call). ``allow``, ``block`` and ``log_only`` count the
    events of each verdict.
    """

    key: str | None
    events: int
    calls: int
    allow: int
    block: int
    log_only: int
    first: datetime
    last: datetime

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON values (the times in ISO 8601 with their UTC offset)."""
        values = attrs.asdict(self)
        values["first"] = iso(self.first)
        values["last"] = iso(self.last)
        return values


@attrs.frozen
class _Filter:
    group: str
    user: str | None = None
    code: str | None = None
    verdict: Verdict | None = None
    reason: Reason | None = None
    since: int | None = None  # microseconds, inclusive
    until: int | None = None  # microseconds, exclusive

    def matches(self, row: Row, time_us: int) -> bool:
        return (
            row[1] == self.group
            and (self.user is None or row[2] == self.user)
            and (self.code is None or row[11] == self.code)
            and (self.verdict is None or row[6] == self.verdict)
            and (self.reason is None or row[7] == self.reason)
            and (self.since is None or time_us >= self.since)
            and (self.until is None or time_us < self.until)
        )

    def sql(self) -> tuple[str, list[Any]]:
        clauses = ["group_id = ?"]
        params: list[Any] = [self.group]
        for column, value in (
            ("user_id", self.user),
            ("code", self.code),
            ("verdict", None if self.verdict is None else self.verdict.value),
            ("reason", None if self.reason is None else self.reason.value),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("time_us >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("time_us < ?")
            params.append(self.until)
        return " AND ".join(clauses), params


def _time_bound(name: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(name, value, "must be a timezone-aware datetime (UTC), or None")
    return micros(value.astimezone(UTC))


def _filter(
    *,
    group: object,
    user: object,
    code: object,
    verdict: object,
    reason: object,
    since: object,
    until: object,
) -> _Filter:
    if not isinstance(group, str) or not group:
        raise InvalidValueError("group", group, "name the group whose events to read")
    if user is not None and not isinstance(user, str):
        raise InvalidValueError("user", user, "must be a user id, or None")
    if code is not None and not is_code(code):
        raise InvalidValueError("code", code, "an account code is ASCII digits 0-9, or None")
    return _Filter(
        group,
        user,
        code,  # type: ignore[arg-type]  # checked above
        None if verdict is None else member(Verdict, "verdict", verdict),
        None if reason is None else member(Reason, "reason", reason),
        _time_bound("since", since),
        _time_bound("until", until),
    )


def _cursor(time_us: int, seq: int) -> str:
    return f"{time_us}:{seq}"


def _parse_cursor(after: object) -> tuple[int, int] | None:
    if after is None:
        return None
    if isinstance(after, str) and _CURSOR.fullmatch(after):
        time_us, seq = after.split(":")
        return int(time_us), int(seq)
    raise InvalidValueError(
        "after", after, "a cursor is the 'next' value of the previous page (like '1718000000:42')"
    )


def _check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if type(limit) is not int or limit < 1:
        raise InvalidValueError("limit", limit, "a page holds at least 1 event (or None for all)")
    return limit


# -- sources ------------------------------------------------------------------------------------


def _postgres_url(source: EventSource) -> str | None:
    """The PostgreSQL database behind *source*, or None."""
    if isinstance(source, PostgresSink):
        return source.url
    return source if is_url(source) else None  # type: ignore[return-value]


def _sqlite_path(source: EventSource) -> Path | None:
    """The SQLite file behind *source*, or None when it is read in memory."""
    if isinstance(source, SqliteSink):
        return source.path
    if isinstance(source, MemorySink | JsonlSink | PostgresSink) or is_url(source):
        return None
    path = Path(source)
    return path if _sqlite.is_sqlite_file(path) else None


def _memory_rows(source: EventSource) -> list[tuple[int, int, Row]]:
    """(time in microseconds, sequence, row) of every event of an in-memory-read source."""
    if isinstance(source, MemorySink):
        base, rows = source._snapshot()
        return [(micros(row[0]), base + i, row) for i, row in enumerate(rows)]
    url = _postgres_url(source)
    if url is not None:
        return [(micros(e.time), i, row_of(e)) for i, e in enumerate(read_postgres(url))]
    path = source.path if isinstance(source, JsonlSink) else Path(source)  # type: ignore[arg-type]
    if not path.is_file():
        raise InvalidValueError("event log", str(path), "no such file: record events first")
    return [(micros(e.time), i, row_of(e)) for i, e in enumerate(read_jsonl(path))]


def read_events(source: EventSource) -> Iterator[Event]:
    """Every event of *source*, in the order it was stored.

    Runtime complexity: O(n); SQLite logs are streamed, the others read whole.
    """
    path = _sqlite_path(source)
    if path is not None:
        yield from read_sqlite(path)
        return
    if isinstance(source, MemorySink):
        yield from source.events()
        return
    url = _postgres_url(source)
    if url is not None:
        yield from read_postgres(url)
        return
    for item in _memory_rows(source):
        yield row_to_event(item[2])


def query_events(
    source: EventSource,
    group: str,
    *,
    user: str | None = None,
    code: str | None = None,
    verdict: Verdict | str | None = None,
    reason: Reason | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 100,
    after: str | None = None,
) -> EventPage:
    """One page of *group*'s events that match every filter given, in time order.

    *code* is an account code (codes in clear); *since* is inclusive and *until* exclusive;
    *after* is the previous page's ``next``; ``limit=None`` returns every match at once.
    Runtime complexity: SQLite, O(log n + k) for a page of k events on the group's time index
    (more when *user*, *verdict* or *reason* skip many events); other sources O(n log n).
    """
    flt = _filter(
        group=group,
        user=user,
        code=code,
        verdict=verdict,
        reason=reason,
        since=since,
        until=until,
    )
    size = _check_limit(limit)
    start = _parse_cursor(after)
    path = _sqlite_path(source)
    if path is not None:
        return _query_sqlite(path, flt, size, start)
    found = [item for item in _memory_rows(source) if flt.matches(item[2], item[0])]
    found.sort(key=lambda item: (item[0], item[1]))
    if start is not None:
        found = [item for item in found if (item[0], item[1]) > start]
    page = found if size is None else found[:size]
    more = size is not None and len(found) > size
    return EventPage(
        tuple(row_to_event(item[2]) for item in page),
        _cursor(page[-1][0], page[-1][1]) if more else None,
    )


def _query_sqlite(
    path: Path, flt: _Filter, size: int | None, start: tuple[int, int] | None
) -> EventPage:
    where, params = flt.sql()
    if start is not None:
        where += " AND (time_us, id) > (?, ?)"
        params.extend(start)
    sql = f"SELECT id, {COLUMNS} FROM events WHERE {where} ORDER BY time_us, id"  # noqa: S608
    if size is not None:
        sql += " LIMIT ?"
        params.append(size + 1)
    rows = _fetch(path, sql, params)
    more = size is not None and len(rows) > size
    if more:
        rows = rows[:size]
    events = tuple(checked_event(path, row) for row in rows)
    return EventPage(events, _cursor(rows[-1][1], rows[-1][0]) if more else None)


# -- reports ------------------------------------------------------------------------------------


def report_events(
    source: EventSource,
    group: str,
    by: ReportBy,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ReportRow]:
    """Events of *group* summed per account code, per user or per UTC day, in key order.

    With ``by="code"``, events that carry no account code (authorization groups, entries that
    were missing or malformed) come last, under the key ``None``. Runtime complexity: O(n) over
    the group's events in the time range.
    """
    if by not in _REPORT_KEYS:
        raise InvalidValueError("by", by, f"must be one of: {', '.join(_REPORT_KEYS)}")
    flt = _filter(
        group=group, user=None, code=None, verdict=None, reason=None, since=since, until=until
    )
    path = _sqlite_path(source)
    if path is not None:
        return _report_sqlite(path, flt, by)
    index = {"code": 11, "user": 2}.get(by)
    sums: dict[str | None, list[Any]] = {}
    for time_us, _seq, row in _memory_rows(source):
        if not flt.matches(row, time_us):
            continue
        key = row[0].date().isoformat() if index is None else row[index]
        entry = sums.get(key)
        if entry is None:
            entry = sums[key] = [0, set(), 0, {}, time_us, time_us]
        entry[0] += 1
        if row[10] is None:
            entry[2] += 1
        else:
            entry[1].add(row[10])
        verdict = Verdict(row[6])
        entry[3][verdict] = entry[3].get(verdict, 0) + 1
        entry[4] = min(entry[4], time_us)
        entry[5] = max(entry[5], time_us)
    return [
        ReportRow(
            key,
            count,
            len(ids) + anonymous,
            verdicts.get(Verdict.ALLOW, 0),
            verdicts.get(Verdict.BLOCK, 0),
            verdicts.get(Verdict.LOG_ONLY, 0),
            from_micros(first),
            from_micros(last),
        )
        for key, (count, ids, anonymous, verdicts, first, last) in sorted(
            sums.items(), key=lambda item: (item[0] is None, item[0] or "")
        )
    ]


def _fetch(path: Path, sql: str, params: list[Any]) -> list[Any]:
    """All rows of one query on the event log at *path*; SinkError if it cannot be read."""
    conn = open_reader(path)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise SinkError(f"cannot read event log: {_sqlite.problem(path, exc)}") from exc
    finally:
        conn.close()


def _report_sqlite(path: Path, flt: _Filter, by: ReportBy) -> list[ReportRow]:
    key = {
        "code": "code",
        "user": "user_id",
        "day": "date(time_us / 1000000, 'unixepoch')",
    }[by]
    where, params = flt.sql()
    sql = (
        f"SELECT {key} AS k, COUNT(*), COUNT(DISTINCT call_id) + SUM(call_id IS NULL), "  # noqa: S608
        "SUM(verdict = 'allow'), SUM(verdict = 'block'), SUM(verdict = 'log_only'), "
        f"MIN(time_us), MAX(time_us) FROM events WHERE {where} "
        "GROUP BY k ORDER BY k IS NULL, k"
    )
    rows = _fetch(path, sql, params)
    return [
        ReportRow(k, n, calls, allow, block, log_only, from_micros(first), from_micros(last))
        for k, n, calls, allow, block, log_only, first, last in rows
    ]


# -- exports ------------------------------------------------------------------------------------

_REPORT_FIELDS: Final = tuple(field.name for field in attrs.fields(ReportRow))


def _plain(item: Event | ReportRow) -> dict[str, Any]:
    """The JSON form of an event or a report row."""
    if isinstance(item, Event | ReportRow):
        return item.to_dict()
    raise InvalidValueError("item", item, "export takes Events or ReportRows")


def export_csv(
    items: Iterable[Event] | Iterable[ReportRow],
    file: IO[str],
    *,
    kind: Literal["events", "report"] | None = None,
) -> int:
    """Write events or report rows as CSV with a header; returns the number of rows.

    Text cells that a spreadsheet would run as a formula are prefixed with ``'``. *kind* sets
    the header when *items* may be empty (default: from the first item, else events). Open
    *file* with ``newline=""``. Runtime complexity: O(n), streaming.
    """
    iterator = iter(items)
    first = next(iterator, None)
    if kind is None:
        kind = "report" if isinstance(first, ReportRow) else "events"
    header: Sequence[str] = _REPORT_FIELDS if kind == "report" else EVENT_FIELDS
    writer = csv.writer(file)
    writer.writerow(header)
    if first is None:
        return 0
    count = 0
    for item in _chain(first, iterator):
        values = _plain(item)
        if set(values) != set(header):
            raise InvalidValueError("item", item, f"does not fit a {kind} export")
        writer.writerow([cell(values[name]) for name in header])
        count += 1
    return count


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def export_jsonl(items: Iterable[Event] | Iterable[ReportRow], file: IO[str]) -> int:
    """Write events (in the JSON Lines log format) or report rows, one per line.

    Returns the number of lines. Runtime complexity: O(n), streaming.
    """
    count = 0
    for item in items:
        if isinstance(item, Event):
            file.write(item.to_json() + "\n")
        else:
            file.write(_json_line(_plain(item)) + "\n")
        count += 1
    return count


def _json_line(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=True, separators=(",", ":"))
