"""What every ``callcodes`` command shares: the store handle, output helpers, error reporting.

``State`` is ``ctx.obj``: the store path (``db``) and the actor named in audit records, and the
store itself, opened on first use and closed when the command ends. ``MainGroup`` turns every
``CallcodesError`` (and a file or database failure) into one ``Error:`` line and exit status 1;
usage errors keep click's exit status 2.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs
import click

from .._errors import BatchError, CallcodesError, InvalidValueError, UnknownGroupError, show
from .._timefmt import parse_iso
from ..core._validate import (
    MAX_GROUP_ID_LENGTH,
    check_actor,
    check_group_id,
    check_provider_id,
    check_user_id,
    name_problem,
    seconds,
    whole_number,
)
from ..core.model import Lock
from ..store import open_store
from ..store.sqlite import PolicyStore
from ..store.writes import BaseStore

__all__ = [
    "ACTOR",
    "GROUP",
    "JSON_OPTION",
    "PROGRESS_MIN",
    "PROVIDER",
    "SECONDS",
    "USER",
    "MainGroup",
    "Name",
    "Seconds",
    "State",
    "Text",
    "Whole",
    "default_actor",
    "echo_json",
    "exclusive",
    "lock_dict",
    "name_list",
    "pairs",
    "parse_time",
    "progress",
    "read_input",
    "state",
    "table",
    "yes_no",
]

#: Files with at least this many rows get a progress bar (on standard error).
PROGRESS_MIN: Final = 10_000
#: A refused batch lists at most this many bad rows on the terminal.
MAX_SHOWN_ROWS: Final = 50
#: The ``--json`` flag of the commands that can print JSON for scripts.
JSON_OPTION: Final = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def default_actor() -> str:
    """Who is making changes, for the audit trail: the login name, else ``admin``."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password database
        return "admin"


@attrs.define
class State:
    """``ctx.obj`` of every command: the store's path or URL, the actor, the store once opened."""

    db: Path | str
    actor: str = attrs.field(validator=lambda _s, a, v: check_actor(f"--{a.name}", v))
    _store: BaseStore | None = None

    def store(self, *, create: bool = False, read_only: bool = False) -> BaseStore:
        """The policy store at ``db``, opened on first use (created only when *create*).

        A command that only reads passes *read_only*: the file is then never created or
        changed, and a file that is not a store is refused untouched. A ``postgresql://`` URL
        opens the PostgreSQL store (same methods, same rules).
        """
        if self._store is None and isinstance(self.db, str):
            opened = open_store(self.db, read_only=read_only)
            click.get_current_context().call_on_close(opened.close)
            self._store = opened
        if self._store is None:
            assert isinstance(self.db, Path)
            if not create and not self.db.exists():
                raise InvalidValueError(
                    "--db",
                    str(self.db),
                    "no store there yet: create a group first (callcodes group set GROUP), or "
                    "give the store's path with --db or CALLCODES_DB",
                )
            self._store = PolicyStore(self.db, read_only=read_only)
            click.get_current_context().call_on_close(self._store.close)
        return self._store


def state() -> State:
    """The current command's :class:`State`."""
    found = click.get_current_context().find_object(State)
    assert found is not None, "the main command sets ctx.obj"
    return found


#: A line of an error message is cut to this many characters, whatever value it echoes.
MAX_LINE: Final = 300


def _cut(text: str) -> str:
    """*text* with every line longer than :data:`MAX_LINE` cut with an ellipsis."""
    return "\n".join(
        line if len(line) <= MAX_LINE else f"{line[: MAX_LINE - 30]}... ({len(line)} characters)"
        for line in text.split("\n")
    )


def _message(exc: Exception) -> str:
    return _cut(_full_message(exc))


def _full_message(exc: Exception) -> str:
    if isinstance(exc, UnknownGroupError):
        return (
            f"unknown group {show(exc.group)}: create it with 'callcodes group set "
            f"{'GROUP' if name_problem(exc.group, '', MAX_GROUP_ID_LENGTH) else exc.group}', "
            "or see 'callcodes group list'"
        )
    if isinstance(exc, BatchError):
        shown = [f"  {row}" for row in exc.rows[:MAX_SHOWN_ROWS]]
        if len(exc.rows) > MAX_SHOWN_ROWS:
            shown.append(f"  ... and {len(exc.rows) - MAX_SHOWN_ROWS} more")
        return (
            f"{exc.what}: {len(exc.rows)} bad row(s), nothing was changed; fix them and retry:\n"
            + "\n".join(shown)
        )
    return str(exc)


def _contradictions(command: click.Command, args: Sequence[str]) -> list[str]:
    """The flags in *args* that set one option of the command they reach to different values.

    ``--mandatory --optional`` (two flags of one option) or ``--local-toll-free
    --no-local-toll-free``: click would silently keep the last one.
    """
    words = list(args)
    while isinstance(command, click.Group) and words:
        word = words.pop(0)
        if word in command.commands:
            command = command.commands[word]
    given = set(words[: words.index("--")] if "--" in words else words)
    by_dest: dict[str | None, set[str]] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.is_flag:
            for opts, side in ((param.opts, "on"), (param.secondary_opts, "off")):
                for opt in given.intersection(opts):
                    by_dest.setdefault(param.name, set()).add(f"{opt}={side}")
    found: list[str] = []
    for flags in by_dest.values():
        if len(flags) > 1:
            found += sorted(flag.split("=")[0] for flag in flags)
    return found


def _json_error(exc: CallcodesError) -> None:
    """Print *exc* as one JSON object on standard output and exit with status 1.

    Standard error still gets the ``Error:`` message people read.
    """
    rows = None
    if isinstance(exc, BatchError):
        rows = [{"row": r.row, "code": r.code, "problem": r.reason} for r in exc.rows]
        message = f"{exc.what}: {len(exc.rows)} bad row(s), nothing was changed"
    else:
        message = _message(exc).split("\n")[0]
    echo_json({"error": message, "rows": rows})
    click.echo(f"Error: {_message(exc)}", err=True)
    raise click.exceptions.Exit(1)


class MainGroup(click.Group):
    """The top-level group: reports a user's mistake in one line, never with a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does, but refuse flags that contradict each other (exit status 2)."""
        found = _contradictions(self, args)
        if found:
            raise click.UsageError(
                f"{' and '.join(found)} contradict each other: give only one", ctx
            )
        words = args[: args.index("--")] if "--" in args else args
        ctx.meta["callcodes.json"] = "--json" in words
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; bad input exits with status 1 and a message saying what to fix.

        With ``--json``, a refusal (status 1) is also one JSON object on standard output.
        """
        try:
            return self._invoke(ctx)
        except click.ClickException as exc:
            if exc.exit_code != 1 or not ctx.meta.get("callcodes.json"):
                raise
            echo_json({"error": exc.format_message().split("\n")[0], "rows": None})
            click.echo(f"Error: {exc.format_message()}", err=True)
            raise click.exceptions.Exit(1) from None

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CallcodesError as exc:
            if ctx.meta.get("callcodes.json"):
                _json_error(exc)
            raise click.ClickException(_message(exc)) from None
        except sqlite3.Error as exc:
            db = getattr(ctx.obj, "db", "the store")
            raise click.ClickException(
                f"the store {str(db)!r} cannot be used ({exc}); check the path given with --db "
                "and that no other program holds it locked"
            ) from None
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):  # the reader went away (| head): not an error
                sys.stderr.close()
                raise click.exceptions.Exit(0) from None
            raise click.ClickException(f"{exc.filename or 'file'}: {exc.strerror}") from None


class Whole(click.ParamType[int]):
    """A whole number from *low* to *high*: ``nan``, signs of junk and huge numbers refused."""

    name = "integer"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The number, or a usage error (exit status 2) saying what to give."""
        if type(value) is int:
            value = str(value)
        try:
            return whole_number(_option(param), str(value), self.low, self.high)
        except InvalidValueError as exc:
            self.fail(f"{show(value)}: {exc.problem}", param, ctx)


class Seconds(click.ParamType[timedelta]):
    """A positive, bounded number of seconds, as a ``timedelta``: no ``nan``, ``inf``, 0 or -1."""

    name = "seconds"

    def __init__(self, *, zero: bool = False) -> None:
        self.zero = zero  # 0 is given as a zero timedelta (an option's "until lifted")

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        """The duration, or a usage error (exit status 2) saying what to give."""
        if isinstance(value, timedelta):
            return value
        text = str(value).strip()
        if self.zero and text.isascii() and text.replace(".", "", 1).strip("0") == "":
            return timedelta(0)
        try:
            return seconds(_option(param), text)
        except InvalidValueError as exc:
            extra = " (or 0)" if self.zero else ""
            self.fail(f"{show(value)}: {exc.problem}{extra}", param, ctx)


class Name(click.ParamType[str]):
    """A group id, user id, actor or provider id: printable, bounded, no surrounding spaces."""

    def __init__(self, kind: str) -> None:
        self.name = kind
        self._check = {
            "group": check_group_id,
            "user": check_user_id,
            "actor": check_actor,
            "provider": check_provider_id,
        }[kind]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The name, or a usage error (exit status 2) saying what is wrong with it."""
        try:
            return self._check(_option(param), value)
        except InvalidValueError as exc:
            self.fail(f"{show(value)}: {exc.problem}", param, ctx)


class Text(click.ParamType[str]):
    """Text of at most *limit* characters, refused whole (exit status 2) when longer."""

    name = "text"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The text, or a usage error saying how long it may be."""
        text = str(value)
        if len(text) > self.limit:
            self.fail(f"{show(text)}: at most {self.limit} characters", param, ctx)
        return text


def _option(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    if isinstance(param, click.Option) and param.opts:
        return max(param.opts, key=len)
    return (param.name or "value").upper()


#: Parameter types for names and durations, shared by every command.
GROUP: Final = Name("group")
USER: Final = Name("user")
ACTOR: Final = Name("actor")
PROVIDER: Final = Name("provider")
SECONDS: Final = Seconds()


def exclusive(**flags: object) -> None:
    """Refuse (exit status 2) when more than one of the options given by keyword is set."""
    given = [name for name, value in flags.items() if value not in (None, False, (), "")]
    if len(given) > 1:
        names = " and ".join(f"--{name.replace('_', '-')}" for name in given)
        raise click.UsageError(f"{names} contradict each other: give only one")


def parse_time(option: str, value: str | None) -> datetime | None:
    """A command-line time in ISO 8601 (``2026-01-01``, ``...T08:00Z``); without offset, UTC."""
    if value is None or value.lower() in ("", "none"):
        return None
    return parse_iso(option, value, assume_utc=True)


def read_input(file: str) -> bytes:
    """The bytes of *file*, or of standard input for ``-``."""
    if file == "-":
        return sys.stdin.buffer.read()
    return Path(file).read_bytes()


def yes_no(value: bool) -> str:
    """``yes`` or ``no``."""
    return "yes" if value else "no"


def name_list(values: Sequence[str] | frozenset[str]) -> str:
    """Names sorted and separated by commas, or ``none``."""
    return ", ".join(sorted(values)) or "none"


def lock_dict(lock: Lock) -> dict[str, Any]:
    """A lock as JSON for scripts: whose (None: the whole group's), since and until when."""
    return {
        "user": lock.user,
        "since": lock.since.isoformat(),
        "until": None if lock.until is None else lock.until.isoformat(),
    }


def echo_json(value: object) -> None:
    """Print *value* as indented JSON (for scripts)."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under a header, each column as wide as its widest cell."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for line in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def pairs(items: Sequence[tuple[str, str]]) -> None:
    """Print ``name: value`` lines with the values aligned."""
    width = max(len(name) for name, _ in items) + 1
    for name, value in items:
        click.echo(f"{name + ':':<{width}} {value}".rstrip())


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on standard error for *total* steps, or None for small jobs."""
    if total < PROGRESS_MIN:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update
