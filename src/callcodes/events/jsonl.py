"""The JSON Lines event log: one event per line, appended by one writer; and reading it back.

The line is :meth:`Event.to_json`'s, so other tools read the log as they find it. Appending is
all a writer does: the file is locked against a second writer (lines would interleave), a
torn last line left by a killed writer is set aside when the file is opened, and a write that
fails half way is cut off, so a reader only ever meets whole lines, and at most one torn one
at the end, which it skips.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from .._errors import BatchError, InvalidValueError, RowError, SinkError
from ._commit import GroupCommitSink, fdatasync, sync_directory
from .event import Event, Row, excerpt, row_to_json
from .sinks import DurableHook, FlushPolicy

__all__ = ["JsonlSink", "read_jsonl"]

_log = logging.getLogger("callcodes.events")
#: A JSON Lines tail longer than this without a newline is not a torn event but another file.
_MAX_TORN: Final = 64 * 1024


def _os_problem(exc: OSError) -> str:
    hints = {
        errno.ENOSPC: "the disk is full: free space",
        errno.EDQUOT: "the disk quota is exceeded: free space",
        errno.EFBIG: "the file is at its size limit: rotate the log or raise the limit",
        errno.EACCES: "permission denied: check the file's owner and mode",
        errno.EPERM: "permission denied: check the file's owner and mode",
        errno.EROFS: "the file system is read-only",
        errno.ENOENT: "no such directory: create it first",
        errno.EISDIR: "the path is a directory: give a file path",
    }
    return hints.get(exc.errno or 0, exc.strerror or str(exc))


class JsonlSink(GroupCommitSink[bytes]):
    """Events appended to a JSON Lines file, one event per line (one writing process).

    Opening takes an exclusive lock on the file, so a second writer (in this or another process)
    gets a clear error instead of interleaving lines: use :class:`SqliteSink` for several
    processes. A torn last line left by a killed writer is moved to ``<path>.torn`` when the file
    is opened, so it is never read as data. Safe for several threads. *on_durable* is called
    with the new watermark each time events are acknowledged (see :attr:`acknowledged`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        flush: FlushPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_durable: DurableHook | None = None,
    ) -> None:
        self._path = Path(path)
        super().__init__(f"event log {self._path}", flush or FlushPolicy(), clock, on_durable)
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        created = False
        try:
            try:
                fd = os.open(self._path, flags | os.O_CREAT | os.O_EXCL, 0o644)
                created = True
            except FileExistsError:
                fd = os.open(self._path, flags)
        except OSError as exc:
            raise SinkError(
                f"cannot open event log {self._path} for writing: {_os_problem(exc)}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise SinkError(
                f"event log {self._path} is already open for writing (by this or another "
                "process): one writer per JSON Lines file; use SqliteSink for several processes"
            ) from exc
        self._fd = fd
        try:
            if created:
                sync_directory(self._path)
            self._set_aside_torn_tail()
            self._size = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        self._start_timer()

    @property
    def path(self) -> Path:
        """The file the events go to."""
        return self._path

    def _set_aside_torn_tail(self) -> None:
        """Move a last line without its newline (a write cut short) to ``<path>.torn``."""
        fd = self._fd
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        start = max(0, size - _MAX_TORN - 1)
        window = os.pread(fd, size - start, start)
        newline = window.rfind(b"\n")
        if newline < 0 and start > 0:
            raise SinkError(
                f"{self._path} does not end with a complete line and its last line is longer "
                f"than {_MAX_TORN} bytes: this is not an event log; check the path"
            )
        cut = start + newline + 1
        tail = window[newline + 1 :]
        torn = self._path.with_name(self._path.name + ".torn")
        try:
            side = os.open(torn, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(side, tail + b"\n")
                os.fsync(side)
            finally:
                os.close(side)
            os.ftruncate(fd, cut)
            os.fsync(fd)
        except OSError as exc:
            raise SinkError(
                f"cannot set aside the torn last line of {self._path}: {_os_problem(exc)}"
            ) from exc
        _log.warning(
            "%s ended with a torn line (%d bytes, a write cut short); moved it to %s",
            self._path,
            len(tail),
            torn,
        )

    def _encode(self, rows: list[Row]) -> bytes:
        return ("\n".join(map(row_to_json, rows)) + "\n").encode("ascii")

    def _commit(self, payloads: list[bytes], sync: bool) -> None:
        data = payloads[0] if len(payloads) == 1 else b"".join(payloads)
        fd = self._fd
        start = self._size  # the lock on the file makes this sink its only writer
        try:
            written = os.write(fd, data)
            if written < len(data):  # a short write: go on with the rest
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(fd, view) :]
            if sync:
                fdatasync(fd)
        except OSError as exc:
            self._undo(start)
            raise SinkError(
                f"cannot write to event log {self._path}: {_os_problem(exc)}; "
                "the events were not kept"
            ) from exc
        self._size = start + len(data)

    def _undo(self, start: int) -> None:
        """Cut a partly written batch off the end, so no torn line stays in the middle."""
        try:
            os.ftruncate(self._fd, start)
        except OSError as exc:
            self._break(
                f"{self._path} may end with a partly written line that could not be removed "
                f"({exc.strerror}): reopen the sink, which sets it aside"
            )

    def _sync(self) -> None:
        fdatasync(self._fd)

    def _release(self) -> None:
        os.close(self._fd)


def read_jsonl(path: str | os.PathLike[str]) -> list[Event]:
    """Every event of a JSON Lines log, in file order.

    A last line without its newline (a write in progress, or cut short) is skipped with a
    logged warning. Blank lines are skipped. Any other line that is not an event (corrupt, or
    from a newer schema) makes the whole read fail with a :class:`~callcodes.BatchError` that
    lists every such line by number. Runtime complexity: O(n), in memory.
    """
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise SinkError(f"cannot read event log {target}: {_os_problem(exc)}") from exc
    lines = data.split(b"\n")
    if lines[-1]:
        _log.warning(
            "%s: skipped the last line, which has no newline yet (%d bytes): a write in "
            "progress or cut short",
            target,
            len(lines[-1]),
        )
    events: list[Event] = []
    bad: list[RowError] = []
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            events.append(Event.from_json(line))
        except InvalidValueError as exc:
            bad.append(RowError(number, excerpt(line), str(exc)))
    if bad:
        raise BatchError(f"read event log {target}", bad)
    return events
