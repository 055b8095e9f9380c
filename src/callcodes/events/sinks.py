"""Event sinks: where the engine's events go, and the promise each makes about keeping them.

One small interface, :class:`Sink` (``write``, ``flush``, ``close``), and three sinks:

* :class:`MemorySink`: a bounded list in memory, for tests and for embedding;
* :class:`JsonlSink`: one JSON line per event, appended to a file (one writing process);
* :class:`SqliteSink`: a table in an SQLite file in WAL mode, the embedded default, for
  several threads and several processes at once.

Every event a sink takes gets a sequence number (1, 2, ... in the order the sink keeps them),
and :attr:`~_RowSink.acknowledged` is the durable watermark: every event numbered up to it is
kept as the sink's :class:`FlushPolicy` promises. The file sinks have two write paths:

* **write-through** (``every_event``, ``group``): a group commit. A writer hands its events to
  the sink and waits; one waiting writer at a time (the leader) writes every event queued so
  far in one system call or one transaction, then wakes the others. ``write`` returns once
  the event is in the file (SIGKILL loses nothing acknowledged) and, under ``every_event``,
  on the disk.
* **deferred acknowledgement** (``deferred``): ``write`` appends the event to a batch in memory
  and returns its number at once; a flusher thread writes and syncs each batch (every N events
  or T ms) and then moves the watermark. An event is acknowledged only once it is on the disk.

The table in docs/events.md states each policy's promise.

Sinks do I/O, so they may read a clock: a policy's time bound is measured with the clock
given to the sink (``time.monotonic`` by default).
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final, Generic, Protocol, TypeVar, runtime_checkable

import attrs

from .._errors import BatchError, InvalidValueError, RowError, SinkError
from .event import (
    Event,
    Row,
    _excerpt,
    _from_micros,
    _micros,
    _row,
    _row_to_event,
    _row_to_json,
)

__all__ = [
    "EVENTS_TABLE_VERSION",
    "FlushPolicy",
    "JsonlSink",
    "MemorySink",
    "Sink",
    "SqliteSink",
]

_log = logging.getLogger("callcodes.events")
_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)

#: Version of the SQLite tables, recorded as component 'events' in ``callcodes_schema``.
EVENTS_TABLE_VERSION: Final = 1
#: A JSON Lines tail longer than this without a newline is not a torn event but another file.
_MAX_TORN: Final = 64 * 1024


@runtime_checkable
class Sink(Protocol):
    """Where events go. ``write`` returns once the event is taken as the sink promises.

    A sink that cannot keep an event raises :class:`~callcodes.SinkError`; it never drops one
    silently. Implementations must be safe to call from several threads. The built-in sinks'
    ``write`` returns the event's sequence number (see :attr:`MemorySink.acknowledged`); the
    engine ignores what ``write`` returns.
    """

    def write(self, event: Event) -> object:
        """Record one event; raise ``SinkError`` if it cannot be kept."""

    def flush(self) -> None:
        """Make every event written so far as durable as the sink can (e.g. fsync)."""

    def close(self) -> None:
        """Flush and release the sink; later writes raise ``SinkError``."""


#: Called with the new durable watermark (see ``acknowledged``) each time it moves.
DurableHook = Callable[[int], object]


def _check_events(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise InvalidValueError(attribute.name, value, "sync after at least 1 event")


def _check_ms(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if type(value) not in (int, float) or not 0 < value <= 3_600_000:  # type: ignore[operator]
        raise InvalidValueError(
            attribute.name, value, "a time bound is more than 0 and at most 3,600,000 ms, or None"
        )


def _check_defer(instance: FlushPolicy, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise InvalidValueError(attribute.name, value, "must be True or False")
    if value and instance.ms is None:
        raise InvalidValueError(
            "ms",
            None,
            "deferred acknowledgement needs a time bound, or a quiet line would leave its last "
            "events unacknowledged: give ms",
        )


@attrs.frozen
class FlushPolicy:
    """When a file sink writes its events, forces them to the disk (fsync), and acknowledges.

    ``events=1`` (the default, :meth:`every_event`): every write is on the disk before it
    returns. ``events=N`` (:meth:`group`): each write returns once the operating system has the
    event, and the sink syncs after every N events, and ``ms`` milliseconds after the first event
    not yet synced (checked on each write, and by a timer when writes stop: at most 1.25 ``ms``);
    ``ms=None``: no time bound, only N and ``flush``/``close``. ``defer=True``
    (:meth:`deferred`): each write returns at once; the sink writes and syncs a batch every N
    events and ``ms`` milliseconds after its first event, and only then acknowledges the batch.
    """

    events: int = attrs.field(default=1, validator=_check_events)
    ms: float | None = attrs.field(default=None, validator=_check_ms)
    defer: bool = attrs.field(default=False, validator=_check_defer)

    @classmethod
    def every_event(cls) -> FlushPolicy:
        """Sync each write before it returns: nothing acknowledged is lost, even on power loss."""
        return cls(1, None)

    @classmethod
    def group(cls, events: int = 1000, ms: float | None = 100) -> FlushPolicy:
        """Sync every *events* events and within *ms* milliseconds (group commit)."""
        return cls(events, ms)

    @classmethod
    def deferred(cls, events: int = 1000, ms: float = 10) -> FlushPolicy:
        """Acknowledge later: write and sync a batch every *events* events or *ms* milliseconds.

        ``write`` returns at once; the sink's ``acknowledged`` watermark (and its
        ``on_durable`` hook) tells when an event is on the disk. The fastest policy.
        """
        return cls(events, ms, defer=True)

    @property
    def syncs_each_write(self) -> bool:
        """True when every write is synced before it returns."""
        return self.events == 1 and not self.defer

    @property
    def _syncs_each_commit(self) -> bool:
        """True when every write to the file is synced with it (SQLite: ``synchronous=FULL``)."""
        return self.events == 1 or self.defer


class _RowSink:
    """What the built-in sinks share: events become rows, and ``_write_row(s)`` keep them.

    Each event kept gets the next sequence number; ``write`` returns it.
    """

    def write(self, event: Event) -> int:
        """Record *event*; return its sequence number. Runtime: O(1).

        Returns once the event is taken as the sink's policy promises (for a deferred policy:
        at once; see :attr:`acknowledged`).
        """
        if not isinstance(event, Event):
            raise InvalidValueError("event", event, "must be an Event")
        return self._write_row(_row(event))

    def write_many(self, events: Iterable[Event]) -> int:
        """Record several events in one write (one transaction); all are kept, or none.

        Returns the sequence number of the last one (``written`` when there are none).
        Runtime complexity: O(k) for k events, with one system call or transaction.
        """
        rows = []
        for event in events:
            if not isinstance(event, Event):
                raise InvalidValueError("event", event, "must be an Event")
            rows.append(_row(event))
        if rows:
            return self._kept(self._write_rows(rows))
        return self.written

    def _write_row(self, row: Row) -> int:
        return self._kept(self._write_rows([row]))

    def _write_rows(self, rows: list[Row]) -> int | None:
        """Keep *rows*; return the last one's sequence number.

        A subclass that wraps this (to take a lock around it, say) should return what it
        returns; one that returns None makes ``write`` answer ``written`` instead, a number at
        or above the event's.
        """
        raise NotImplementedError

    def _kept(self, seq: int | None) -> int:
        return self.written if seq is None else seq

    @property
    def written(self) -> int:
        """The sequence number of the last event this sink took (0: none yet)."""
        raise NotImplementedError

    @property
    def acknowledged(self) -> int:
        """The durable watermark: every event numbered up to this is kept as promised.

        With a write-through policy it keeps up with each write; with a deferred one it
        follows the flusher, and events above it may be lost if the process dies.
        """
        raise NotImplementedError

    def _check_seq(self, seq: object) -> None:
        written = self.written
        if type(seq) is not int or not 0 <= seq <= written:
            raise InvalidValueError("seq", seq, f"a sequence number this sink gave: 0 to {written}")

    def flush(self) -> None:
        """Make every event written so far as durable as the sink can."""

    def close(self) -> None:
        """Release the sink; later writes raise ``SinkError``."""

    def __enter__(self) -> _RowSink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class MemorySink(_RowSink):
    """Events kept in memory, at most *capacity* of them, for tests and embedding.

    When full, a write raises :class:`~callcodes.SinkError`, unless ``evict=True``: then the
    oldest event makes room and :attr:`evicted` counts those dropped that way (a ring buffer,
    by choice). An event is acknowledged as soon as it is in the list. Safe for several threads.
    """

    def __init__(self, capacity: int = 100_000, *, evict: bool = False) -> None:
        if type(capacity) is not int or capacity < 1:
            raise InvalidValueError("capacity", capacity, "a memory sink holds at least 1 event")
        self._capacity = capacity
        self._evict = evict
        # A write is refused once len(rows) reaches _room: the capacity, never when evicting,
        # 0 once closed.
        self._room = 2**63 if evict else capacity
        self._rows: deque[Row] = deque(maxlen=capacity if evict else None)
        self._written = 0
        self._lock = threading.Lock()

    def _write_row(self, row: Row) -> int:
        # The engine's path: acquire/release cost less than "with", and one comparison
        # covers a full sink, a closed one (room 0) and an evicting one (room unbounded).
        lock = self._lock
        lock.acquire()
        try:
            rows = self._rows
            if len(rows) >= self._room:
                self._refuse(1)
            rows.append(row)
            seq = self._written = self._written + 1
        finally:
            lock.release()
        return seq

    def _write_rows(self, rows: list[Row]) -> int:
        with self._lock:
            if len(self._rows) + len(rows) > self._room:
                self._refuse(len(rows))
            self._rows.extend(rows)
            self._written += len(rows)
            return self._written

    def _refuse(self, count: int) -> None:
        if self._room == 0:
            raise SinkError("the memory sink is closed: open a new one")
        raise SinkError(
            f"the memory sink is full ({self._capacity} events; {count} more refused): "
            "read and clear() it, give a larger capacity, or pass evict=True"
        )

    @property
    def written(self) -> int:
        """The sequence number of the last event written (0: none yet)."""
        return self._written

    @property
    def acknowledged(self) -> int:
        """Every event written is acknowledged: it is in the list."""
        return self._written

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:  # noqa: ARG002  # nothing to wait for
        """True at once for a number this sink gave: every event written is acknowledged."""
        self._check_seq(seq)
        return True

    def events(self) -> list[Event]:
        """Every event held, oldest first. Runtime complexity: O(n)."""
        return [_row_to_event(row) for row in self._snapshot()[1]]

    def _snapshot(self) -> tuple[int, list[Row]]:
        """The sequence number of the oldest event held, and the rows, under the lock."""
        with self._lock:
            return self._written - len(self._rows), list(self._rows)

    def clear(self) -> None:
        """Drop every event held (sequence numbers keep growing). Runtime: O(n)."""
        with self._lock:
            self._rows.clear()

    @property
    def evicted(self) -> int:
        """How many events were dropped to make room (only with ``evict=True``)."""
        with self._lock:
            return self._written - len(self._rows) if self._evict else 0

    def __len__(self) -> int:
        return len(self._rows)

    def close(self) -> None:
        """Refuse further writes; the events held stay readable."""
        with self._lock:
            self._room = 0


_P = TypeVar("_P")


class _Batch(Generic[_P]):
    """Events queued by writers, written together by one leader (write-through path)."""

    __slots__ = ("count", "done", "error", "first", "payloads")

    def __init__(self) -> None:
        self.payloads: list[_P] = []
        self.count = 0
        self.first = 0  # the sequence number of its first event, once written
        self.done = False
        self.error: SinkError | None = None


#: A deferred sink's writers wait when this many batches of N events wait to be written.
_MAX_PENDING_BATCHES: Final = 4
#: ... or at least this many events (a small N still lets a burst through without waiting).
_MIN_MAX_PENDING: Final = 1024


class _GroupCommitSink(_RowSink, Generic[_P]):
    """The write paths of the file sinks (see the module header).

    Subclasses give ``_encode`` (rows to a payload), ``_commit`` (write payloads; sync too
    when asked), ``_sync`` and ``_release``. Write-through: ``_encode`` runs in the writer's
    thread, so a bad row fails only its own writer. Deferred: the flusher encodes and commits
    each batch, and a failure stops the sink (see ``_fail``).
    """

    def __init__(
        self,
        name: str,
        policy: FlushPolicy,
        clock: Callable[[], float],
        on_durable: DurableHook | None,
    ) -> None:
        if not isinstance(policy, FlushPolicy):
            raise InvalidValueError("flush", policy, "must be a FlushPolicy")
        if on_durable is not None and not callable(on_durable):
            raise InvalidValueError("on_durable", on_durable, "must be a function (watermark)")
        self._name = name
        self._policy = policy
        self._clock = clock
        self._on_durable = on_durable
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # batches done, watermark moved, room
        self._wake = threading.Condition(self._lock)  # deferred: only the flusher waits here
        self._closing = False
        self._closed = False
        self._broken: str | None = None
        self._written = 0  # deferred: events taken; write-through: events kept
        self._acknowledged = 0
        self._syncs = 0
        # Write-through: the open batch, and whether a leader (or the timer) is doing I/O.
        self._open: _Batch[_P] = _Batch()
        self._busy = False
        self._unsynced = 0
        self._unsynced_since = 0.0
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        # Deferred: rows waiting for the flusher, and what flush()/close() asked it to write.
        self._defer = policy.defer
        self._refusal: str | None = None  # why writes are refused: closed, or broken
        self._batch = policy.events
        self._pending: list[Row] = []
        self._pending_since = 0.0
        self._flush_through = 0
        self._max_pending = max(_MAX_PENDING_BATCHES * policy.events, _MIN_MAX_PENDING)
        self._told_lock = threading.Lock()
        self._told = 0

    def _start_timer(self) -> None:
        """Start the flusher (deferred) or the sync timer (group with a time bound)."""
        if self._defer:
            target = self._flush_loop
        elif self._policy.events > 1 and self._policy.ms is not None:
            target = self._tick
        else:
            return
        self._timer = threading.Thread(target=target, name=f"callcodes {self._name}", daemon=True)
        self._timer.start()
        if self._defer:
            _DEFERRED.add(self)

    @property
    def policy(self) -> FlushPolicy:
        """The flush policy this sink keeps."""
        return self._policy

    @property
    def written(self) -> int:
        """The sequence number of the last event this sink took (0: none yet).

        A softswitch that reads it right after ``Engine.decide`` gets a number at or above
        that decision's event: ``wait_durable(number)`` then covers it.
        """
        return self._written

    @property
    def acknowledged(self) -> int:
        """The durable watermark: every event numbered up to this is kept as promised."""
        return self._acknowledged

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until event number *seq* is acknowledged; False if *timeout* seconds pass first.

        Raises ``SinkError`` when the sink failed before keeping it (the event is lost), and
        ``InvalidValueError`` for a number this sink never gave. Does not hasten the write
        (the policy's time bound does): call :meth:`flush` for that. Runtime: O(1) plus the
        wait.
        """
        self._check_seq(seq)
        with self._cond:
            if self._acknowledged >= seq:
                return True
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._acknowledged < seq:
                if self._broken is not None:
                    raise SinkError(self._broken)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _tell_durable(self, through: int) -> None:
        """Call ``on_durable`` with the new watermark, in order, outside the sink's lock."""
        hook = self._on_durable
        if hook is None:
            return
        with self._told_lock:
            if through <= self._told:
                return
            self._told = through
            try:
                hook(through)
            except Exception:  # noqa: BLE001  # a failing hook must never stop the log
                _log.exception("the on_durable hook of %s failed", self._name)

    # -- writing, deferred ------------------------------------------------------------------------

    def _write_row(self, row: Row) -> int:
        if not self._defer:
            return self._kept(self._write_rows([row]))
        lock = self._lock
        lock.acquire()  # not "with": this is the engine's path, and acquire is cheaper
        try:
            if self._refusal is not None:
                raise SinkError(self._refusal)
            pending = self._pending
            pending.append(row)
            seq = self._written = self._written + 1
            size = len(pending)
            if size == 1 or size >= self._batch:
                self._arrived(size)
        finally:
            lock.release()
        return seq

    def _defer_rows(self, rows: list[Row]) -> int:
        with self._lock:
            if self._refusal is not None:
                raise SinkError(self._refusal)
            pending = self._pending
            before = len(pending)
            pending.extend(rows)
            self._written += len(rows)
            if not before:
                self._pending_since = self._clock()
            self._wake.notify()
            if len(pending) >= self._max_pending:
                self._wait_for_room()
            return self._written

    def _arrived(self, size: int) -> None:
        """Tell the flusher when a batch starts (its time bound runs) or is full (lock held)."""
        if size == 1:
            self._pending_since = self._clock()
            self._wake.notify()
        elif size == self._batch:
            self._wake.notify()
        elif size >= self._max_pending:
            self._wait_for_room()

    def _wait_for_room(self) -> None:
        """Back-pressure: wait (lock held) until the flusher takes the waiting events."""
        self._wake.notify()
        while len(self._pending) >= self._max_pending and self._broken is None:
            self._cond.wait()

    def _flush_loop(self) -> None:
        """The flusher: write and sync each batch when it is due, then move the watermark."""
        cond, wake = self._cond, self._wake
        events = self._policy.events
        ms = self._policy.ms
        assert ms is not None
        while True:
            with cond:
                while True:
                    pending = self._pending
                    if not pending:
                        if self._closing:
                            return
                        wake.wait()
                        continue
                    if (
                        len(pending) >= events
                        or len(pending) >= self._max_pending  # writers wait for room
                        or self._flush_through > self._acknowledged
                        or self._closing
                    ):
                        break
                    left = self._pending_since + ms / 1000 - self._clock()
                    if left <= 0:
                        break
                    wake.wait(left)
                self._pending = []
                through = self._written
                cond.notify_all()  # writers waiting for room may go on
            try:
                self._commit([self._encode(pending)], True)
            except Exception as exc:  # noqa: BLE001  # the sink stops; every caller is told
                self._fail(exc, through - len(pending), through)
                return
            with cond:
                self._acknowledged = through
                cond.notify_all()
            self._tell_durable(through)

    def _fail(self, exc: Exception, first: int, last: int) -> None:
        """Stop the sink after a batch could not be written: nothing after it is acknowledged."""
        problem = str(exc) if isinstance(exc, SinkError) else f"{exc!r}"
        with self._cond:
            lost = self._written - first
            broken = (
                f"{self._name}: events {first + 1} to {last} could not be written ({problem}); "
                f"events up to {first} are kept, the {lost} after them are not, and this sink "
                "takes no more: fix the cause and open a new sink"
            )
            # Logged before any caller is woken to raise it, so the log never lags the error.
            _log.error("%s", broken, exc_info=exc)
            self._broken = self._refusal = broken
            self._cond.notify_all()

    # -- writing, write-through -------------------------------------------------------------------

    def _write_rows(self, rows: list[Row]) -> int | None:
        if self._defer:
            return self._defer_rows(rows)
        payload = self._encode(rows)
        with self._cond:
            if self._closing:
                raise SinkError(f"{self._name} is closed: open a new sink")
            if self._broken is not None:
                raise SinkError(self._broken)
            batch = self._open
            batch.payloads.append(payload)
            batch.count += len(rows)
            offset = batch.count  # this writer's last event is the batch's offset-th
            through = 0
            while not batch.done:
                if self._busy:
                    self._cond.wait()
                    continue
                through = self._lead()
        if batch.error is not None:
            raise SinkError(str(batch.error)) from batch.error.__cause__
        if through:
            self._tell_durable(through)
        return batch.first + offset - 1

    def _lead(self) -> int:
        """Write the open batch as its leader; called and returns with the condition held.

        Returns the new watermark, or 0 when the batch failed.
        """
        todo = self._open
        self._open = _Batch()
        self._busy = True
        self._cond.release()
        try:
            self._commit(todo.payloads, self._policy.syncs_each_write)
            if not self._policy.syncs_each_write:
                self._count_unsynced(todo.count)
        except SinkError as exc:
            todo.error = exc
        except BaseException:  # interrupted: the waiting writers must not take it for success
            todo.error = SinkError(f"{self._name}: the write was interrupted; events not kept")
            raise
        finally:
            self._cond.acquire()
            self._busy = False
            through = 0
            if todo.error is None:
                todo.first = self._acknowledged + 1
                self._acknowledged += todo.count
                self._written = through = self._acknowledged
            todo.done = True
            self._cond.notify_all()
        return through

    def _count_unsynced(self, count: int) -> None:
        """Note *count* events written but not synced; sync when the policy says (leader only)."""
        now = self._clock()
        if not self._unsynced:
            self._unsynced_since = now
        self._unsynced += count
        policy = self._policy
        if self._unsynced >= policy.events or (
            policy.ms is not None and (now - self._unsynced_since) * 1000 >= policy.ms
        ):
            self._sync_now()

    def _sync_now(self) -> None:
        try:
            self._sync()
        except OSError as exc:
            self._broken = (
                f"{self._name}: events were written but could not be synced to disk "
                f"({exc.strerror or exc}); the disk may have lost them: check it and reopen"
            )
            raise SinkError(self._broken) from exc
        self._unsynced = 0
        self._syncs += 1

    def _exclusive(self, action: Callable[[], None]) -> None:
        """Run *action* with no leader writing, from outside the write path."""
        with self._cond:
            while self._busy:
                self._cond.wait()
            self._busy = True
        try:
            action()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _tick(self) -> None:
        """The sync timer: bound the time an event stays unsynced when writes stop.

        It looks four times per ``ms``, so an event is synced at most 1.25 ``ms`` after it
        was written even when no write follows.
        """
        ms = self._policy.ms
        assert ms is not None
        while not self._stop.wait(ms / 4000):
            if self._unsynced and (self._clock() - self._unsynced_since) * 1000 >= ms:
                try:
                    self._exclusive(self._sync_if_due)
                except SinkError:
                    _log.exception("periodic sync of %s failed", self._name)

    def _sync_if_due(self) -> None:
        ms = self._policy.ms
        if (
            self._unsynced
            and ms is not None
            and (self._clock() - self._unsynced_since) * 1000 >= ms
        ):
            self._sync_now()

    def flush(self) -> None:
        """Make every event written so far durable now, and acknowledge it.

        Deferred: waits while the flusher writes and syncs what is waiting, and raises
        ``SinkError`` if the sink failed (now or before). Write-through: syncs what was
        written since the last sync. Runtime: at most one write and one fsync.
        """
        if self._defer:
            with self._cond:
                target = self._written
                if target > self._flush_through:
                    self._flush_through = target
                    self._wake.notify()
                while self._acknowledged < target and self._broken is None:
                    self._cond.wait()
                if self._broken is not None:
                    raise SinkError(self._broken)
            return
        if self._closed:
            return

        def sync_if_needed() -> None:
            if self._unsynced and not self._closed:
                self._sync_now()

        self._exclusive(sync_if_needed)

    def close(self) -> None:
        """Write and sync every event taken, then release the file; later writes raise.

        Idempotent. Deferred: raises ``SinkError`` (after releasing the file) when the sink
        failed, since some events it took were not kept.
        """
        if self._defer:
            self._close_deferred()
            return
        with self._cond:
            if self._closing:
                while not self._closed:
                    self._cond.wait()
                return
            self._closing = True  # from now on, new writes are refused
        self._stop.set()
        if self._timer is not None:
            self._timer.join()  # outside the condition: the timer may be waiting for it
        through = 0
        with self._cond:
            while self._busy or self._open.payloads:
                if not self._busy:
                    through = self._lead() or through
                    continue
                self._cond.wait()
            self._busy = True
        if through:
            self._tell_durable(through)
        try:
            if self._unsynced and self._broken is None:
                self._sync_now()
        finally:
            try:
                self._release()
            finally:
                with self._cond:
                    self._closed = True
                    self._busy = False
                    self._cond.notify_all()

    def _close_deferred(self) -> None:
        with self._cond:
            first = not self._closing
            self._closing = True
            if self._refusal is None:  # from now on, new writes are refused
                self._refusal = f"{self._name} is closed: open a new sink"
            self._wake.notify()  # the flusher writes what waits, then stops
            while not first and not self._closed:
                self._cond.wait()
        if first:
            try:
                if self._timer is not None:
                    self._timer.join()
                self._release()
            finally:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                _DEFERRED.discard(self)
        if self._broken is not None:
            raise SinkError(self._broken)

    # -- for subclasses ---------------------------------------------------------------------------

    def _encode(self, rows: list[Row]) -> _P:
        raise NotImplementedError

    def _commit(self, payloads: list[_P], sync: bool) -> None:
        raise NotImplementedError

    def _sync(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


#: The deferred sinks still open, written out when the interpreter exits.
_DEFERRED: Final[weakref.WeakSet[_GroupCommitSink[Any]]] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """Write out every open deferred sink at a normal exit: only a killed process loses any."""
    for sink in list(_DEFERRED):
        try:
            sink.flush()
        except SinkError:
            _log.exception("could not write out %s at exit", sink._name)


def _refuse_after_fork() -> None:
    """In a child process, stop the deferred sinks it inherited: their flusher did not follow.

    Their events are the parent's to write; a write here would never be, so it raises. The
    locks are new: another thread of the parent may have held them at the fork.
    """
    for sink in list(_DEFERRED):
        sink._lock = threading.Lock()
        sink._cond = threading.Condition(sink._lock)
        sink._wake = threading.Condition(sink._lock)
        sink._pending = []
        sink._broken = sink._refusal = (
            f"{sink._name} was opened in the parent process, before fork(): open a new sink "
            "in this one"
        )
    _DEFERRED.clear()


os.register_at_fork(after_in_child=_refuse_after_fork)


def _sync_directory(path: Path) -> None:
    """Make a new file's directory entry durable (its name survives a power loss)."""
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the data itself is synced
    finally:
        os.close(fd)


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


class JsonlSink(_GroupCommitSink[bytes]):
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
                _sync_directory(self._path)
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
        return ("\n".join(map(_row_to_json, rows)) + "\n").encode("ascii")

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
                _fdatasync(fd)
                self._syncs += 1
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
            self._broken = (
                f"{self._path} may end with a partly written line that could not be removed "
                f"({exc.strerror}): reopen the sink, which sets it aside"
            )

    def _sync(self) -> None:
        _fdatasync(self._fd)

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
            bad.append(RowError(number, _excerpt(line), str(exc)))
    if bad:
        raise BatchError(f"read event log {target}", bad)
    return events


# -- SQLite ---------------------------------------------------------------------------------------

_SCHEMA_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS callcodes_schema("
    "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)
_EVENTS_V1: Final = (
    """CREATE TABLE events(
        id INTEGER PRIMARY KEY,
        time_us INTEGER NOT NULL,
        group_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dialed TEXT NOT NULL,
        call_type TEXT NOT NULL,
        mode TEXT,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        retry INTEGER NOT NULL,
        call_id TEXT,
        code TEXT,
        masked TEXT,
        description TEXT,
        schema INTEGER NOT NULL
    )""",
    "CREATE INDEX events_group_time ON events(group_id, time_us)",
    "CREATE INDEX events_group_user_time ON events(group_id, user_id, time_us)",
    "CREATE INDEX events_group_code_time ON events(group_id, code, time_us) WHERE code IS NOT NULL",
)
#: Statements that bring the tables from version ``v - 1`` to ``v`` (1: create them).
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {1: _EVENTS_V1}
_COLUMNS: Final = (
    "time_us, group_id, user_id, dialed, call_type, mode, verdict, reason, attempt, retry, "
    "call_id, code, masked, description, schema"
)
_INSERT: Final = f"INSERT INTO events({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608  # constants
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"


def _sql_row(row: Row) -> tuple[Any, ...]:
    """The stored columns of a row; enum members are str, so SQLite stores their values."""
    return (
        _micros(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
    )


def _event_from_sql(values: tuple[Any, ...]) -> Event:
    """Build an event from the 15 stored columns (in ``_COLUMNS`` order); every field checked."""
    retry = values[9]
    if retry not in (0, 1):
        raise InvalidValueError("retry", retry, "a stored retry flag is 0 or 1")
    return Event(
        _from_micros(values[0]),
        values[1],
        values[2],
        values[3],
        values[4],
        values[5],
        values[6],
        values[7],
        values[8],
        retry == 1,
        values[10],
        values[11],
        values[12],
        values[13],
        values[14],
    )


def _sqlite_problem(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text:
        return f"{path} is read-only: check the file's and its directory's permissions"
    if "not a database" in text:
        return f"{path} is not an SQLite database: give another path"
    if "disk is full" in text or "disk I/O" in text:
        return f"{path}: {text}: free space (or raise the file size limit) and retry"
    if "locked" in text or "busy" in text:
        return f"{path} stayed locked by another writer: retry, or raise busy_timeout"
    if "unable to open" in text:
        return f"cannot open {path}: check that its directory exists and is writable"
    return f"{path}: {text}"


def _schema_version(conn: sqlite3.Connection) -> int | None:
    """The events tables' version in *conn*, or None when there are none."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'callcodes_schema'"
    ).fetchone()
    if has_table is None:
        return None
    found = conn.execute(
        "SELECT version FROM callcodes_schema WHERE component = 'events'"
    ).fetchone()
    return None if found is None else int(found[0])


def _refuse_newer(path: Path, version: int) -> None:
    if version > EVENTS_TABLE_VERSION:
        raise InvalidValueError(
            "events schema",
            version,
            f"{path} was written by a newer callcodes (events tables version {version}; this "
            f"one knows up to {EVENTS_TABLE_VERSION}): upgrade callcodes to use it",
        )


def _open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to an event log; errors say what to fix."""
    if not path.is_file():
        raise InvalidValueError("event log", str(path), "no such file: record events first")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SinkError(f"cannot read event log: {_sqlite_problem(path, exc)}") from exc
    try:
        version = _schema_version(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise SinkError(f"cannot read event log: {_sqlite_problem(path, exc)}") from exc
    if version is None:
        conn.close()
        raise InvalidValueError(
            "event log", str(path), "holds no events table: record events first"
        )
    try:
        _refuse_newer(path, version)
    except InvalidValueError:
        conn.close()
        raise
    return conn


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def read_sqlite(path: str | os.PathLike[str], *, chunk: int = 10_000) -> Iterator[Event]:
    """Every event of an SQLite event log, in the order they were written.

    A stored row that is not a valid event raises :class:`~callcodes.BatchError` naming it.
    Runtime complexity: O(n), read *chunk* rows at a time.
    """
    target = Path(path)
    conn = _open_reader(target)
    try:
        last = 0
        while True:
            rows = conn.execute(
                f"SELECT id, {_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
                (last, chunk),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _checked_event(target, row)
            last = rows[-1][0]
    finally:
        conn.close()


def _checked_event(path: Path, row: tuple[Any, ...]) -> Event:
    try:
        return _event_from_sql(row[1:])
    except (InvalidValueError, TypeError, OverflowError) as exc:
        raise BatchError(
            f"read event log {path}", [RowError(int(row[0]), _excerpt(repr(row[1:])), str(exc))]
        ) from None


class SqliteSink(_GroupCommitSink[list[tuple[Any, ...]]]):
    """Events in the ``events`` table of an SQLite file (WAL mode): the embedded default.

    Safe for several threads and for several processes writing one file: each commit is one
    transaction, and processes wait for each other up to *busy_timeout* seconds. The file may
    hold other components' tables; this one owns ``events*`` and its row
    ``component='events'`` of ``callcodes_schema``. Open the sink after ``fork()``, not before.
    *on_durable* is called with the new watermark each time events are acknowledged.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        flush: FlushPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        busy_timeout: float = 5.0,
        on_durable: DurableHook | None = None,
    ) -> None:
        self._path = Path(path)
        super().__init__(f"event log {self._path}", flush or FlushPolicy(), clock, on_durable)
        existed = self._path.exists()
        try:
            conn = sqlite3.connect(
                self._path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise SinkError(f"cannot open event log: {_sqlite_problem(self._path, exc)}") from exc
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise SinkError(f"cannot open event log: {_sqlite_problem(self._path, exc)}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        if not existed:
            _sync_directory(self._path)
        self._start_timer()

    def _prepare(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot use WAL mode (journal mode is {mode})")
        sync = "FULL" if self._policy._syncs_each_commit else "NORMAL"
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_SCHEMA_TABLE)
            version = _schema_version(conn) or 0
            _refuse_newer(self._path, version)
            for step in range(version + 1, EVENTS_TABLE_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
            if version < EVENTS_TABLE_VERSION:
                conn.execute(
                    "INSERT OR REPLACE INTO callcodes_schema(component, version) "
                    "VALUES ('events', ?)",
                    (EVENTS_TABLE_VERSION,),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def path(self) -> Path:
        """The SQLite file the events go to."""
        return self._path

    def _encode(self, rows: list[Row]) -> list[tuple[Any, ...]]:
        return [_sql_row(row) for row in rows]

    def _commit(self, payloads: list[list[tuple[Any, ...]]], sync: bool) -> None:
        conn = self._conn
        try:
            if len(payloads) == 1 and len(payloads[0]) == 1:
                conn.execute(_INSERT, payloads[0][0])  # autocommit: one implicit transaction
            else:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for payload in payloads:
                        conn.executemany(_INSERT, payload)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise SinkError(
                f"cannot write to event log: {_sqlite_problem(self._path, exc)}; "
                "the events were not kept"
            ) from exc
        if sync:
            self._syncs += 1  # synchronous=FULL: SQLite synced the WAL in the commit

    def _sync(self) -> None:
        """Sync the write-ahead log to the disk: every commit so far is then durable.

        With ``synchronous=NORMAL`` SQLite does not sync the WAL on commit; it syncs it before
        each checkpoint and syncs the database after, so commits are either in a synced
        database or in the WAL synced here.
        """
        try:
            fd = os.open(self._path.with_name(self._path.name + "-wal"), os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: every commit was checkpointed into the synced database
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _release(self) -> None:
        self._conn.close()
