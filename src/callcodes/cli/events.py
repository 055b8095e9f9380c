"""The ``events`` command group: read the call event log, page by page, and report on it.

``events list GROUP`` shows one page of a group's events (filters: user, account code, verdict,
reason, time range); ``events report GROUP --by code|user|day`` sums them. Both print a table,
or CSV (``--csv``) or JSON Lines (``--json``) for other tools. The log is the SQLite file given
to the main command (``ctx.obj.db``), or the file or ``postgresql://`` URL given to
``events --log``; a JSON Lines log works too. ``events purge --before DATE`` removes old
events; ``events ship SPOOL`` delivers spooled journals to the log.
Mistakes in values raise :class:`~callcodes.CallcodesError` subclasses, which the main command
reports in one line.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .._errors import InvalidValueError
from .._postgres import is_url, redact
from .._sqlite import is_sqlite_file
from .._timefmt import iso_short
from ..core.model import Reason, Verdict
from ..events.event import Event
from ..events.reports import ReportRow, export_csv, export_jsonl, query_events, report_events
from ..events.retention import purge_events
from ..events.spool import ship_spools
from ._common import GROUP, JSON_OPTION, USER, Text, Whole, echo_json, parse_time

__all__ = ["events"]

_TIME_HELP = "ISO 8601 date or time; without an offset it is UTC"


def _database(ctx: click.Context) -> str | Path:
    """The log named by ``events --log``, else the store file given to the main command."""
    log = ctx.meta.get(_LOG)
    if log is not None:
        return str(log)
    db = getattr(ctx.obj, "db", None)
    if db is None:
        raise click.UsageError("no event log given (the main command passes its --db)")
    return db if isinstance(db, str) else Path(db)


#: Where ``events --log`` leaves its value for the subcommands (``ctx.meta`` is shared).
_LOG = "callcodes.events.log"


def _output_format(as_csv: bool, as_json: bool, as_jsonl: bool) -> str:
    if as_csv + as_json + as_jsonl > 1:
        raise click.UsageError("choose one of --csv, --json and --jsonl")
    return "csv" if as_csv else "json" if as_json else "jsonl" if as_jsonl else "table"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for line in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _event_cells(event: Event) -> list[str]:
    return [
        _when(event.time),
        event.user,
        event.dialed,
        event.call_type.value,
        event.verdict.value,
        event.reason.value,
        str(event.attempt),
        event.code or event.masked or "-",
        event.description or "",
    ]


def _report_cells(row: ReportRow) -> list[str]:
    return [
        "(none)" if row.key is None else row.key,
        str(row.events),
        str(row.calls),
        str(row.allow),
        str(row.block),
        str(row.log_only),
        _when(row.first),
        _when(row.last),
    ]


@click.group("events")
@click.option(
    "--log",
    type=Text(2048),
    envvar="CALLCODES_EVENT_LOG",
    show_envvar=True,
    help="The event log: an SQLite or JSON Lines file, or a postgresql:// URL "
    "(default: the --db file).",
)
@click.pass_context
def events(ctx: click.Context, log: str | None) -> None:
    """Read the call event log: every decision the engine recorded."""
    ctx.meta[_LOG] = log


_output = [
    click.option(
        "--csv", "as_csv", is_flag=True, help="Print CSV (safe to open in a spreadsheet)."
    ),
    click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document (with a next cursor)."
    ),
    click.option("--jsonl", "as_jsonl", is_flag=True, help="Print JSON Lines (the log's format)."),
]


def _with_output(command: Any) -> Any:
    for option in reversed(_output):
        command = option(command)
    return command


@events.command("list")
@click.argument("group", type=GROUP)
@click.option("--user", type=USER, help="Only this user's calls.")
@click.option("--code", help="Only calls with this account code.")
@click.option("--verdict", type=click.Choice([v.value for v in Verdict]), help="Only this verdict.")
@click.option("--reason", type=click.Choice([r.value for r in Reason]), help="Only this reason.")
@click.option("--since", help=f"From this time, inclusive ({_TIME_HELP}).")
@click.option("--until", help=f"Before this time ({_TIME_HELP}).")
@click.option(
    "--limit", type=Whole(0, 1_000_000), default=50, show_default=True, help="Page size; 0: all."
)
@click.option(
    "--after",
    type=Text(60),
    help="Start after this cursor (printed at the end of the last page).",
)
@_with_output
@click.pass_context
def list_events(
    ctx: click.Context,
    *,
    group: str,
    user: str | None,
    code: str | None,
    verdict: str | None,
    reason: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    after: str | None,
    as_csv: bool,
    as_json: bool,
    as_jsonl: bool,
) -> None:
    """Show one page of GROUP's events, oldest first.

    Authorization codes appear masked (****); account codes in clear.
    """
    form = _output_format(as_csv, as_json, as_jsonl)
    page = query_events(
        _database(ctx),
        group,
        user=user,
        code=code,
        verdict=verdict,
        reason=reason,
        since=parse_time("--since", since),
        until=parse_time("--until", until),
        limit=limit or None,
        after=after,
    )
    stdout = sys.stdout
    if form == "json":  # one document: the page and the cursor of the next one
        echo_json({"group": group, "events": [e.to_dict() for e in page.events], "next": page.next})
        return
    if form == "csv":
        export_csv(page.events, stdout, kind="events")
    elif form == "jsonl":
        export_jsonl(page.events, stdout)
    else:
        header = ["TIME (UTC)", "USER", "DIALED", "TYPE", "VERDICT", "REASON", "TRY", "CODE"]
        _table([*header, "DESCRIPTION"], [_event_cells(e) for e in page.events])
    if page.next is not None:
        click.echo(f"more events: add --after {page.next}", err=form != "table")


@events.command("report")
@click.argument("group", type=GROUP)
@click.option(
    "--by",
    type=click.Choice(["code", "user", "day"]),
    required=True,
    help="Sum per account code, per user or per UTC day.",
)
@click.option("--since", help=f"From this time, inclusive ({_TIME_HELP}).")
@click.option("--until", help=f"Before this time ({_TIME_HELP}).")
@_with_output
@click.pass_context
def report(
    ctx: click.Context,
    *,
    group: str,
    by: str,
    since: str | None,
    until: str | None,
    as_csv: bool,
    as_json: bool,
    as_jsonl: bool,
) -> None:
    """Sum GROUP's events per account code, user or day: calls, outcomes, first and last."""
    form = _output_format(as_csv, as_json, as_jsonl)
    rows = report_events(
        _database(ctx),
        group,
        by,  # type: ignore[arg-type]  # click.Choice checked it
        since=parse_time("--since", since),
        until=parse_time("--until", until),
    )
    stdout = sys.stdout
    if form == "csv":
        export_csv(rows, stdout, kind="report")
    elif form == "json":
        echo_json({"group": group, "by": by, "rows": [row.to_dict() for row in rows]})
    elif form == "jsonl":
        export_jsonl(rows, stdout)
    else:
        header = [by.upper(), "EVENTS", "CALLS", "ALLOW", "BLOCK", "LOG_ONLY", "FIRST", "LAST"]
        _table(header, [_report_cells(row) for row in rows])


@events.command("purge")
@click.option("--before", required=True, help=f"Remove the events older than this ({_TIME_HELP}).")
@click.option("--yes", is_flag=True, help="Confirm: without it nothing is removed.")
@JSON_OPTION
@click.pass_context
def purge(ctx: click.Context, *, before: str, yes: bool, as_json: bool) -> None:
    """Remove every event older than --before from the log (retention).

    On PostgreSQL whole months are dropped as partitions; the month the date falls in is
    trimmed. A JSON Lines log is rotated instead, not edited.
    """
    cut = parse_time("--before", before)
    if cut is None:
        raise click.BadParameter("give a date or time", param_hint="--before")
    source = _database(ctx)
    shown = redact(source) if isinstance(source, str) else str(source)
    if not yes:
        raise InvalidValueError(
            "--yes",
            False,
            f"this removes every event before {iso_short(cut)} from {shown}; add --yes to confirm",
        )
    removed = purge_events(source, cut)
    if as_json:
        echo_json({"log": shown, "before": iso_short(cut), "removed": removed})
        return
    click.echo(f"removed {removed} event(s) before {iso_short(cut)} from {shown}")


@events.command("ship")
@click.argument("spool", type=click.Path(file_okay=False, path_type=Path))
@JSON_OPTION
@click.pass_context
def ship(ctx: click.Context, spool: Path, *, as_json: bool) -> None:
    """Deliver the journals under SPOOL to the event log (--log: a URL or an SQLite file).

    Each folder under SPOOL is one writer's journal, named by its node (a Kamailio node's
    workers: SPOOL is its configuration's spool). Runs until SIGTERM or Ctrl-C, then delivers
    what is left, and says how many events it delivered; while the log is unreachable it
    retries, losing nothing.
    """
    source = _database(ctx)
    if not is_url(source):
        log = Path(source)
        if log.exists() and not is_sqlite_file(log):
            raise click.UsageError(
                f"events ship delivers to an SQLite event log or a postgresql:// URL; {log} is "
                "neither"
            )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    spool.mkdir(parents=True, exist_ok=True)
    delivered = ship_spools(spool, str(source), stop=stop)
    if as_json:
        echo_json({"spool": str(spool), "log": redact(str(source)), "delivered": delivered})
        return
    click.echo(f"delivered {delivered} event(s) from {spool} to {redact(str(source))}")
