"""Retention: remove the events older than a date from a log, whatever keeps it.

An SQLite log deletes the rows in one transaction; a PostgreSQL log drops the monthly
partitions wholly before the date and trims the month it falls in. A JSON Lines file is an
append-only record that other tools may be reading: it is rotated, not edited, so purging one
is refused with that advice.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from .. import _sqlite
from .._errors import InvalidValueError
from .._postgres import is_url
from ..core._validate import time_problem
from .postgres import purge_postgres
from .sqlite import purge_sqlite

__all__ = ["purge_events"]


def purge_events(source: str | os.PathLike[str], before: datetime) -> int:
    """Remove every event of the log at *source* (a path or URL) older than *before*.

    Returns how many were removed. *before* is an aware time; events at it or later stay.
    """
    if not isinstance(before, datetime) or before.tzinfo is None:
        raise InvalidValueError("before", before, "a time with a UTC offset")
    problem = time_problem(before)
    if problem is not None:
        raise InvalidValueError("before", before, problem)
    if is_url(source):
        return purge_postgres(str(source), before)
    path = Path(source)
    if path.is_file() and not _sqlite.is_sqlite_file(path):
        raise InvalidValueError(
            "event log",
            str(path),
            "a JSON Lines log is not edited in place: rotate it (move it aside, and the "
            "writers start a new one) and delete old files instead",
        )
    return purge_sqlite(path, before)
