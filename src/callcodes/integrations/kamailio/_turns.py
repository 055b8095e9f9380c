"""The SQLite event log written by Kamailio's workers in turn (:class:`~callcodes._sqlite.Turns`).

SQLite alone lets a writer that finds the file locked sleep 1, 2, 5, 10... milliseconds before
it tries again; with several workers writing one event per call, those sleeps add up to seconds
at a thousand calls per second. A worker waiting on the ``flock`` of ``<events>.lock`` wakes
up as soon as the other one is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..._sqlite import Turns
from ...events.sinks import FlushPolicy
from ...events.sqlite import SqliteSink

__all__ = ["TurnSink"]


class TurnSink(SqliteSink):
    """The SQLite event log, each write taken in turn with the other workers (:class:`Turns`)."""

    def __init__(self, path: Path, flush: FlushPolicy, turns: Turns) -> None:
        super().__init__(path, flush)
        self._turns = turns

    def _write_rows(self, rows: list[Any]) -> int | None:
        with self._turns:
            return super()._write_rows(rows)
