"""The spooled event log: events kept in a local journal first, shipped to the log after.

A writer that must not wait for the log writes each event to a journal on its own disk
(:class:`SpoolSink`): appending (one ``write(2)``) is all the caller waits for, with the
durability of the flush policy, and the event is acknowledged once it is there. This serves a
node that must go on recording while PostgreSQL is away, and a SIP proxy's worker that must not
spend a database transaction per call. A shipper (a thread of the sink, or
:class:`SpoolShipper` in a process of its own) reads the journal and stores its records in the
log in batches, each keyed by the writer's name and the record's number (in PostgreSQL, or
an SQLite file: :class:`~callcodes.events.sqlite.SqliteWriter`), then notes how far it got
(``delivered``) and deletes the journal files it no longer needs. While the log is
unreachable the journal grows and the shipper retries; a crash between storing a batch and
noting it makes the next shipper send the batch again, which the keys store once. So every
acknowledged event reaches the log once, whatever stops: the caller, the process or the log.

The journal is a folder of segment files named by their first record's number. A record is one
line: the number, a CRC-32 of the event's JSON, the JSON. A torn last line (a killed writer) is
cut off into ``<segment>.torn`` when the folder is opened; a record that fails its check is an
error, never skipped silently. One writer per folder (a lock file), and one per node name.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, Protocol

from .._errors import ConflictError, InvalidValueError, SinkError
from .._files import atomic_write
from .._postgres import is_url
from ..core._validate import check_name
from ._commit import GroupCommitSink, fdatasync, sync_directory
from .event import Event, Row, row_of, row_to_json
from .postgres import PostgresWriter
from .sinks import DurableHook, FlushPolicy
from .sqlite import SqliteWriter, sql_row

__all__ = ["SpoolShipper", "SpoolSink", "read_spool", "ship_spools"]

_log = logging.getLogger("callcodes.events")

#: A segment is closed and a new one started after this many records.
SEGMENT_RECORDS: Final = 100_000
#: The shipper stores at most this many records per transaction.
SHIP_BATCH: Final = 5_000
#: The longest wait between two tries while the database is away, in seconds.
MAX_RETRY: Final = 5.0
_SUFFIX: Final = ".spool"
_DELIVERED: Final = "delivered"
_LOCK: Final = "lock"
_SHIP_LOCK: Final = "ship.lock"


def _record(seq: int, text: str) -> bytes:
    data = text.encode()
    return b"%d\t%08x\t%s\n" % (seq, zlib.crc32(data), data)


def _parse(line: bytes) -> tuple[int, str] | None:
    """(number, JSON) of a whole record line, or None when it fails its check."""
    parts = line.rstrip(b"\n").split(b"\t", 2)
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[1]) != 8:
        return None
    try:
        if int(parts[1], 16) != zlib.crc32(parts[2]):
            return None
        return int(parts[0]), parts[2].decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _segments(folder: Path) -> list[tuple[int, Path]]:
    """The segment files of a journal, (first number, path), oldest first."""
    found = []
    for path in folder.glob(f"*{_SUFFIX}"):
        stem = path.name.removesuffix(_SUFFIX)
        if stem.isascii() and stem.isdecimal():
            found.append((int(stem), path))
    return sorted(found)


def _segment_name(first: int) -> str:
    return f"{first:020d}{_SUFFIX}"


def _records(
    path: Path, first: int, *, offset: int = 0, last: int | None = None, growing: bool = False
) -> Iterator[tuple[int, str, int]]:
    """(number, JSON, end offset) of one segment's records, through record *last*.

    Reading starts at byte *offset*, where record *first* starts; each record must carry the
    next number, or the journal is damaged (``SinkError``). With *growing* (a writer of
    another process may be appending), a last line without its end is not read yet.
    """
    expected = first
    with path.open("rb") as file:
        file.seek(offset)
        while last is None or expected <= last:
            line = file.readline()
            if not line or (growing and not line.endswith(b"\n")):
                return
            parsed = _parse(line) if line.endswith(b"\n") else None
            if parsed is None or parsed[0] != expected:
                raise SinkError(
                    f"event spool {path}: record {expected} is damaged; keep the file for "
                    "inspection, and move it out of the folder to go on"
                )
            yield parsed[0], parsed[1], file.tell()
            expected += 1


def _recover(path: Path, first: int) -> int:
    """Set aside a torn tail of the last segment, left by a killed writer; its last number.

    The tail goes to ``<segment>.torn``; ``first - 1`` is returned when no record is whole.
    """
    data = path.read_bytes()
    keep, last = 0, first - 1
    for line in data.splitlines(keepends=True):
        parsed = _parse(line) if line.endswith(b"\n") else None
        if parsed is None or parsed[0] != last + 1:
            break
        keep += len(line)
        last += 1
    if keep < len(data):
        torn = path.with_name(path.name + ".torn")
        with torn.open("ab") as out:
            out.write(data[keep:])
            out.flush()
            os.fsync(out.fileno())
        with path.open("r+b") as file:
            file.truncate(keep)
            os.fsync(file.fileno())
        _log.warning("event spool %s: a torn tail after record %d moved to %s", path, last, torn)
    return last


class _Writer(Protocol):
    """What a shipper stores through: :class:`PostgresWriter` or :class:`SqliteWriter`."""

    def last_stored(self) -> int: ...
    def store(self, rows: list[tuple[Any, ...]], first: int) -> None: ...
    def close(self) -> None: ...


def _log_name(log: str | os.PathLike[str]) -> str:
    """The log as given: a PostgreSQL URL, or the path of an SQLite file."""
    return log if isinstance(log, str) else os.fspath(log)


def _open_writer(log: str, node: str) -> _Writer:
    """The writer of *log*: a ``postgresql://`` URL, else the path of an SQLite file."""
    if is_url(log):
        return PostgresWriter(log, node)
    return SqliteWriter(log, node)


def read_spool(folder: str | os.PathLike[str]) -> Iterator[tuple[int, Event]]:
    """Every record still in a journal folder: (number, event), in order."""
    for first, path in _segments(Path(folder)):
        for seq, text, _end in _records(path, first):
            yield seq, Event.from_json(text)


class _Delivery:
    """Moving a journal's records into the log: the part the sink and the shipper share.

    Keeps the delivered watermark (the ``delivered`` file), the shipper's reading cursor, and
    refuses a new journal for a node the database already holds events of.
    """

    _folder: Path
    _log: str
    _node: str
    _journaled: int
    _on_delivered: DurableHook | None
    #: Whether a writer of another process may be appending to the last segment.
    _growing = False

    def _start_delivery(self) -> None:
        self._delivered = self._read_delivered()
        # Where the shipper stopped reading: (segment's first number, next number, byte offset).
        self._cursor: tuple[int, int, int] | None = None
        self._ship_cond = threading.Condition()
        self._fresh = self._delivered == 0 and not (self._folder / _DELIVERED).exists()

    def _read_delivered(self) -> int:
        try:
            text = (self._folder / _DELIVERED).read_text().strip()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise SinkError(f"cannot read {self._folder / _DELIVERED}: {exc}") from exc
        if not text.isascii() or not text.isdecimal():
            raise SinkError(
                f"{self._folder / _DELIVERED} holds {text[:20]!r}, not a record number: "
                "restore it, or write the number of the last record the database holds"
            )
        return int(text)

    def _note_delivered(self, through: int) -> None:
        """Record the new delivered watermark (atomically) and drop the segments it covers."""
        with atomic_write(self._folder / _DELIVERED, mode=0o600) as file:
            file.write(f"{through}\n")
        with self._ship_cond:
            self._delivered = through
            self._ship_cond.notify_all()
        if self._on_delivered is not None:
            self._on_delivered(through)
        segments = _segments(self._folder)
        for (_first, path), (following, _) in itertools.pairwise(segments):
            if following - 1 <= through:  # every record of this segment is delivered
                path.unlink(missing_ok=True)

    def _connect_writer(self) -> _Writer:
        writer = _open_writer(self._log, self._node)
        if self._fresh:
            stored = writer.last_stored()
            if stored:
                writer.close()
                raise ConflictError(
                    f"node {self._node!r} already has events numbered up to {stored} in the "
                    f"event log, but the journal {self._folder} is new: give this node another "
                    "name, or restore its journal folder"
                )
            # Noted before the first batch: a crash after storing it must not make this
            # journal look new (and refused) at the next opening.
            with atomic_write(self._folder / _DELIVERED, mode=0o600) as file:
                file.write("0\n")
            self._fresh = False
        return writer

    def _ship_some(self, writer: _Writer) -> None:
        """Store the next batch of journal records after the delivered watermark."""
        start = self._delivered + 1
        last = min(self._journaled, start + SHIP_BATCH - 1)
        batch: list[tuple[Any, ...]] = []
        cursor = self._cursor
        segments = _segments(self._folder)
        for index, (first, path) in enumerate(segments):
            following = segments[index + 1][0] if index + 1 < len(segments) else None
            if following is not None and following <= start:
                continue
            at, offset = first, 0
            if cursor is not None and cursor[0] == first and cursor[1] <= start:
                at, offset = cursor[1], cursor[2]
            growing = self._growing and following is None
            records = _records(path, at, offset=offset, last=last, growing=growing)
            for seq, text, end in records:
                if seq >= start:
                    batch.append(sql_row(row_of(Event.from_json(text))))
                cursor = (first, seq + 1, end)
            if following is None or following > last:
                break
        if batch:
            writer.store(batch, start)
            self._cursor = cursor
            self._note_delivered(start + len(batch) - 1)


class SpoolSink(_Delivery, GroupCommitSink[list[str]]):
    """Events journaled in *folder* on the local disk, then shipped to the event log *log*.

    *log* is a PostgreSQL URL or the path of an SQLite file. *node* is this writer's name in
    the log's idempotent keys; keep it with the folder
    (the same folder and name after a restart, so that numbers go on and nothing left in the
    journal is lost). ``acknowledged`` tells what is in the journal as the flush policy
    promises; ``delivered`` what is in the log. The sink opens and records even when the log
    is unreachable; :meth:`close` waits up to *close_wait* seconds for the shipper to
    deliver the rest, and leaves what it could not in the journal for the next opening.
    *on_delivered* hears each new delivered watermark, from the shipper's thread. With
    ``ship=False`` the sink only journals, and a :class:`SpoolShipper` in another process
    delivers (for hosts such as Kamailio 5, whose embedded Python runs no thread of its own
    between two requests).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        log: str | os.PathLike[str],
        *,
        node: str,
        flush: FlushPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_durable: DurableHook | None = None,
        on_delivered: DurableHook | None = None,
        close_wait: float = 10.0,
        ship: bool = True,
    ) -> None:
        self._folder = Path(folder)
        self._log = _log_name(log)
        self._node = check_name("node", node, "a node name", 128)
        if type(close_wait) not in (int, float) or not 0 <= close_wait <= 3600:
            raise InvalidValueError("close_wait", close_wait, "0 to 3600 seconds")
        self._close_wait = float(close_wait)
        self._on_delivered = on_delivered
        super().__init__(f"event spool {self._folder}", flush or FlushPolicy(), clock, on_durable)
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self._folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot open event spool {self._folder}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise ConflictError(
                f"event spool {self._folder} is in use by another writer: give each its own folder"
            ) from None
        try:
            self._start_delivery()
            segments = _segments(self._folder)
            self._next = self._delivered + 1
            if segments:
                self._next = max(self._next, _recover(segments[-1][1], segments[-1][0]) + 1)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._fd: int | None = None
        self._segment_first = 0
        self._segment_count = 0
        self._segment_size = 0
        self._journaled = self._next - 1  # the last number on the disk, for the shipper
        self._stopping = False
        self._resume(self._next - 1)  # write() returns journal numbers, the database's keys
        self._start_timer()
        self._shipper: threading.Thread | None = None
        if ship:
            self._shipper = threading.Thread(
                target=self._ship_loop, name=f"callcodes {self._name} shipper", daemon=True
            )
            self._shipper.start()

    # -- the journal (the group-commit engine's backend) -----------------------------------------

    @property
    def folder(self) -> Path:
        """The journal's folder."""
        return self._folder

    @property
    def node(self) -> str:
        """The name of this writer in the database's keys."""
        return self._node

    @property
    def delivered(self) -> int:
        """The number of the last record stored in the database (0: none yet)."""
        with self._ship_cond:
            return self._delivered

    def wait_delivered(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until record *seq* (a journal number) is in the database; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ship_cond:
            while self._delivered < seq:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._ship_cond.wait(left)
            return True

    @property
    def journaled(self) -> int:
        """The number of the last record written to the journal."""
        with self._ship_cond:
            return self._journaled

    def _encode(self, rows: list[Row]) -> list[str]:
        return [row_to_json(row) for row in rows]

    def _commit(self, payloads: list[list[str]], sync: bool) -> None:
        first = self._next
        if len(payloads) == 1 and len(payloads[0]) == 1:  # one writer, one event: the usual
            texts = payloads[0]
            data = _record(first, texts[0])
        else:
            texts = [text for payload in payloads for text in payload]
            data = b"".join(_record(first + i, text) for i, text in enumerate(texts))
        try:
            fd = self._segment_fd(first)
            written = os.write(fd, data)
            if written < len(data):
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(fd, view) :]
            if sync:
                fdatasync(fd)
        except OSError as exc:
            # A partial write would leave a torn record in the middle of the journal: cut it.
            self._cut_back()
            raise SinkError(
                f"cannot write to {self._name}: {exc}; the events were not kept"
            ) from exc
        self._next += len(texts)
        self._segment_count += len(texts)
        self._segment_size += len(data)
        if self._shipper is None:  # no thread waits for the journal to grow
            self._journaled = self._next - 1
            return
        with self._ship_cond:
            self._journaled = self._next - 1
            self._ship_cond.notify_all()

    def _segment_fd(self, first: int) -> int:
        """The open segment's file, a new one when there is none or it is full."""
        if self._fd is not None and self._segment_count >= SEGMENT_RECORDS:
            fdatasync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            path = self._folder / _segment_name(first)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._segment_first, self._segment_count, self._segment_size = first, 0, 0
            sync_directory(path)
        return self._fd

    def _cut_back(self) -> None:
        """After a failed write, cut the open segment back to its last whole record."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._segment_size)
        except OSError:
            _log.exception("%s: cannot cut back a failed write", self._name)

    def _sync(self) -> None:
        if self._fd is not None:
            fdatasync(self._fd)

    def _release(self) -> None:
        with self._ship_cond:
            self._stopping = True
            self._ship_cond.notify_all()
        if self._shipper is not None:
            self._shipper.join(self._close_wait + 1)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.close(self._lock_fd)

    # -- the shipper -----------------------------------------------------------------------------

    def _ship_loop(self) -> None:
        writer: _Writer | None = None
        retry = 0.05
        stop_at: float | None = None
        while True:
            with self._ship_cond:
                while self._journaled <= self._delivered and not self._stopping:
                    self._ship_cond.wait()
                if self._journaled <= self._delivered:
                    break  # stopping, and nothing is left
                if self._stopping and stop_at is None:
                    stop_at = time.monotonic() + self._close_wait
            if stop_at is not None and time.monotonic() >= stop_at:
                break
            try:
                if writer is None:
                    writer = self._connect_writer()
                self._ship_some(writer)
                retry = 0.05
            except (SinkError, ConflictError) as exc:
                _log.warning("%s: cannot deliver yet (%s); retrying", self._name, exc)
                if writer is not None:
                    writer.close()
                    writer = None
                with self._ship_cond:
                    self._ship_cond.wait(retry)
                retry = min(retry * 2, MAX_RETRY)
            except Exception:  # noqa: BLE001  # logged; the journal keeps every event
                _log.exception(
                    "%s: the shipper stopped; the events stay in the journal", self._name
                )
                break
        if writer is not None:
            writer.close()


class SpoolShipper(_Delivery):
    """Delivers the journal of a :class:`SpoolSink` written by another process (``ship=False``).

    One shipper per folder (a lock file of its own: the writer keeps writing meanwhile);
    *node* is the writer's name. :meth:`ship` stores what the journal holds now, in batches,
    and returns how many records it delivered; it raises :class:`~callcodes.SinkError` while
    the log is unreachable (nothing is lost: the next call goes on from the watermark).
    """

    _growing = True

    def __init__(
        self, folder: str | os.PathLike[str], log: str | os.PathLike[str], *, node: str
    ) -> None:
        self._folder = Path(folder)
        self._log = _log_name(log)
        self._node = check_name("node", node, "a node name", 128)
        self._on_delivered = None
        self._journaled = 2**62  # unknown: read up to the last whole record
        try:
            self._lock_fd = os.open(self._folder / _SHIP_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot open event spool {self._folder}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._start_delivery()
        except OSError:
            os.close(self._lock_fd)
            raise ConflictError(
                f"event spool {self._folder} is shipped by another process already"
            ) from None
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._writer: _Writer | None = None

    @property
    def delivered(self) -> int:
        """The number of the last record stored in the database (0: none yet)."""
        return self._delivered

    def ship(self) -> int:
        """Store every whole record the journal holds now; how many were delivered."""
        before = self._delivered
        try:
            if self._writer is None:
                self._writer = self._connect_writer()
            while True:
                done = self._delivered
                self._ship_some(self._writer)
                if self._delivered == done:
                    return self._delivered - before
        except BaseException:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            raise

    def close(self) -> None:
        """Release the connection and the folder."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        os.close(self._lock_fd)


def ship_spools(
    spool: str | os.PathLike[str],
    log: str | os.PathLike[str],
    *,
    stop: threading.Event,
    every: float = 0.05,
) -> int:
    """Deliver every journal folder under *spool* (named by its node) until *stop* is set.

    *log* is a PostgreSQL URL or the path of an SQLite file. The folders of a Kamailio node's
    workers, for one: each new folder is taken up as it appears. While the log is unreachable,
    tries again at most every ``MAX_RETRY`` seconds. Delivers what is left once more after
    *stop*, when the log answers. A folder that cannot be delivered (another shipper has it,
    or its node name already has other events in the log) is logged and left as it is; the
    others go on. Returns how many records it delivered.
    """
    shippers: dict[Path, SpoolShipper] = {}
    refused: set[Path] = set()  # folders another shipper holds, or whose node name is taken
    retry = every
    delivered = 0
    try:
        while True:
            final = stop.is_set()
            try:
                for folder in sorted(Path(spool).iterdir()):
                    if folder.is_dir() and folder not in shippers and folder not in refused:
                        try:
                            shippers[folder] = SpoolShipper(folder, log, node=folder.name)
                        except ConflictError as exc:
                            _refuse(refused, folder, exc)
                for folder, shipper in shippers.items():
                    if folder not in refused:
                        try:
                            delivered += shipper.ship()
                        except ConflictError as exc:
                            _refuse(refused, folder, exc)
                retry = every
            except SinkError as exc:
                _log.warning("event spool %s: cannot deliver yet (%s); retrying", spool, exc)
                retry = min(max(retry * 2, every), MAX_RETRY)
            if final:
                return delivered
            stop.wait(retry)
    finally:
        for shipper in shippers.values():
            shipper.close()


def _refuse(refused: set[Path], folder: Path, exc: ConflictError) -> None:
    _log.error("event spool %s is not delivered: %s; its events stay in the journal", folder, exc)
    refused.add(folder)
