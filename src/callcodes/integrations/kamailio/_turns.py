"""Kamailio's workers take turns writing the event log file: an ``flock`` on ``<events>.lock``.

SQLite alone lets a writer that finds the file locked sleep 1, 2, 5, 10... milliseconds before
it tries again; with several workers writing one event per call, those sleeps add up to seconds
at a thousand calls per second. A worker waiting on the ``flock`` wakes up as soon as the other
one is done. The lock is a file of its own: closing a descriptor of the database itself would
drop SQLite's locks of this process. :class:`TurnSink` is the SQLite event log written in turn.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from ...events.sinks import FlushPolicy
from ...events.sqlite import SqliteSink

__all__ = ["TurnSink", "Turns"]


class Turns:
    """An exclusive ``flock`` on ``<events>.lock``, held for the ``with`` block.

    Not reentrant: a worker holds its turn once at a time.
    """

    def __init__(self, events: Path) -> None:
        self._file = Path(f"{events}.lock").open("ab")  # noqa: SIM115  # held until close()

    def __enter__(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the lock file."""
        self._file.close()


class TurnSink(SqliteSink):
    """The SQLite event log, each write taken in turn with the other workers (:class:`Turns`)."""

    def __init__(self, path: Path, flush: FlushPolicy, turns: Turns) -> None:
        super().__init__(path, flush)
        self._turns = turns

    def _write_rows(self, rows: list[Any]) -> int | None:
        with self._turns:
            return super()._write_rows(rows)
