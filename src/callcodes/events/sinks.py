"""The sink interfaces, the flush policy, and the sink that keeps events in memory.

:class:`Sink` (``write``, ``flush``, ``close``) is all the engine needs. :class:`DurableSink`
adds what a softswitch or a billing system needs to know an event is safe: each event taken
gets a sequence number (1, 2, ... in the order the sink keeps them), ``acknowledged`` is the
durable watermark (every event numbered up to it is kept as the sink's :class:`FlushPolicy`
promises), ``wait_durable`` waits for it, and an ``on_durable`` hook given when the sink is
opened hears each time it moves. Every built-in sink is a durable sink; another backend
(PostgreSQL, say) becomes one by subclassing the group-commit engine of ``events._commit``.

The built-in sinks share :class:`RowSink`: an event becomes a row once, where it is taken,
and the engine hands rows straight to ``_write_row``. :class:`MemorySink` lives here; the file
sinks live in ``events.jsonl`` and ``events.sqlite``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

import attrs

from .._errors import InvalidValueError, SinkError
from ..core._validate import check_bool
from .event import Event, Row, row_of, row_to_event

__all__ = [
    "DurableHook",
    "DurableSink",
    "FlushPolicy",
    "MemorySink",
    "Sink",
]


@runtime_checkable
class Sink(Protocol):
    """Where events go. ``write`` returns once the event is taken as the sink promises.

    A sink that cannot keep an event raises :class:`~callcodes.SinkError`; it never drops one
    silently. Implementations must be safe to call from several threads. The built-in sinks'
    ``write`` returns the event's sequence number (see :class:`DurableSink`); the engine
    ignores what ``write`` returns.
    """

    def write(self, event: Event) -> object:
        """Record one event; raise ``SinkError`` if it cannot be kept."""

    def flush(self) -> None:
        """Make every event written so far as durable as the sink can (e.g. fsync)."""

    def close(self) -> None:
        """Flush and release the sink; later writes raise ``SinkError``."""


#: Called with the new durable watermark (see ``acknowledged``) each time it moves.
DurableHook = Callable[[int], object]


@runtime_checkable
class DurableSink(Sink, Protocol):
    """A sink that numbers the events it takes and tells when they are kept.

    ``write`` returns the event's sequence number, ``write_many`` the last one's (all kept, or
    none). Numbers at or below ``acknowledged`` are kept as promised; a number above it may
    still be lost if the process dies. Opened with an ``on_durable`` hook (a
    :data:`DurableHook`), the sink calls it with each new watermark, in order, from its own
    thread.
    """

    def write(self, event: Event) -> int:
        """Record one event; return its sequence number."""

    def write_many(self, events: Iterable[Event]) -> int:
        """Record several events at once, all or none; return the last one's number."""

    @property
    def written(self) -> int:
        """The sequence number of the last event taken (0: none yet)."""

    @property
    def acknowledged(self) -> int:
        """The durable watermark: every event numbered up to this is kept as promised."""

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until event *seq* is acknowledged; False if *timeout* seconds pass first."""


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
    check_bool(instance, attribute, value)
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


class RowSink:
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
        return self._write_row(row_of(event))

    def write_many(self, events: Iterable[Event]) -> int:
        """Record several events in one write (one transaction); all are kept, or none.

        Returns the sequence number of the last one (``written`` when there are none).
        Runtime complexity: O(k) for k events, with one system call or transaction.
        """
        rows = []
        for event in events:
            if not isinstance(event, Event):
                raise InvalidValueError("event", event, "must be an Event")
            rows.append(row_of(event))
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

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until event number *seq* is acknowledged; False if *timeout* seconds pass first."""
        raise NotImplementedError

    def _check_seq(self, seq: object) -> None:
        written = self.written
        if type(seq) is not int or not 0 <= seq <= written:
            raise InvalidValueError("seq", seq, f"a sequence number this sink gave: 0 to {written}")

    def flush(self) -> None:
        """Make every event written so far as durable as the sink can."""

    def close(self) -> None:
        """Release the sink; later writes raise ``SinkError``."""

    def __enter__(self) -> RowSink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class MemorySink(RowSink):
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
        return [row_to_event(row) for row in self._snapshot()[1]]

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
