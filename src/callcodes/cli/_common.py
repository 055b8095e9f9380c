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
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs
import click

from .._errors import BatchError, CallcodesError, InvalidValueError, UnknownGroupError
from .._timefmt import parse_iso
from ..core.model import Lock
from ..store.sqlite import PolicyStore

__all__ = [
    "JSON_OPTION",
    "PROGRESS_MIN",
    "MainGroup",
    "State",
    "default_actor",
    "echo_json",
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
    """``ctx.obj`` of every command: the store's path, the actor, the store once opened."""

    db: Path
    actor: str
    _store: PolicyStore | None = None

    def store(self, *, create: bool = False) -> PolicyStore:
        """The policy store at ``db``, opened on first use (created only when *create*)."""
        if self._store is None:
            if not create and not self.db.exists():
                raise InvalidValueError(
                    "--db",
                    str(self.db),
                    "no store there yet: create a group first (callcodes group set GROUP), or "
                    "give the store's path with --db or CALLCODES_DB",
                )
            self._store = PolicyStore(self.db)
            click.get_current_context().call_on_close(self._store.close)
        return self._store


def state() -> State:
    """The current command's :class:`State`."""
    found = click.get_current_context().find_object(State)
    assert found is not None, "the main command sets ctx.obj"
    return found


def _message(exc: Exception) -> str:
    if isinstance(exc, UnknownGroupError):
        return (
            f"unknown group {exc.group!r}: create it with 'callcodes group set {exc.group}', "
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


class MainGroup(click.Group):
    """The top-level group: reports a user's mistake in one line, never with a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; bad input exits with status 1 and a message saying what to fix."""
        try:
            return super().invoke(ctx)
        except CallcodesError as exc:
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
