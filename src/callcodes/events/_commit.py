"""The group-commit engine of the durable sinks: how a backend's writes become acknowledged.

A backend (JSON Lines, SQLite; PostgreSQL later) subclasses :class:`GroupCommitSink` and says
only how to turn rows into a payload (``_encode``), write payloads and sync them when asked
(``_commit``), sync what was written (``_sync``) and let go of the file or connection
(``_release``); sequence numbers, the watermark, waiting and the flush policy live here, so
every backend keeps the same promises. Two write paths:

* **write-through** (``every_event``, ``group``): a group commit. A writer hands its events to
  the sink and waits; one waiting writer at a time (the leader) writes every event queued so
  far in one system call or one transaction, then wakes the others. ``write`` returns once
  the event is written (SIGKILL loses nothing acknowledged) and, under ``every_event``, on
  the disk.
* **deferred acknowledgement** (``deferred``): ``write`` appends the event to a batch in memory
  and returns its number at once; a flusher thread writes and syncs each batch (every N events
  or T ms) and then moves the watermark. An event is acknowledged only once it is on the disk.

A deferred sink still open when the interpreter exits is written out then, and one inherited
by a child process refuses writes there: its flusher stayed in the parent. The table in
docs/events.md states each policy's promise. Sinks do I/O, so they may read a clock: a
policy's time bound is measured with the clock given to the sink (``time.monotonic`` by
default).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

from .._errors import InvalidValueError, SinkError
from .event import Row
from .sinks import DurableHook, FlushPolicy, RowSink

__all__ = ["GroupCommitSink", "fdatasync", "sync_directory"]

_log = logging.getLogger("callcodes.events")

#: Sync a file's data (and the metadata needed to read it back): ``fsync`` where there is no
#: cheaper ``fdatasync``.
fdatasync: Final[Callable[[int], None]] = getattr(os, "fdatasync", os.fsync)

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


class GroupCommitSink(RowSink, Generic[_P]):
    """The write paths of a durable sink (see the module header), for any backend.

    A subclass calls ``super().__init__``, opens its file or connection, then calls
    ``_start_timer()``; it gives ``_encode`` (rows to a payload), ``_commit`` (write payloads
    as one unit; sync too when asked; raise ``SinkError`` when nothing was kept), ``_sync``
    (make every commit so far durable; raise ``OSError`` or ``SinkError``) and ``_release``.
    Write-through: ``_encode`` runs in the writer's thread, so a bad row fails only its own
    writer. Deferred: the flusher encodes and commits each batch, and a failure stops the sink
    (see ``_fail``).
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
        self._syncs_each_write = policy.syncs_each_write  # the policy is frozen: read once
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

    def _resume(self, last: int) -> None:
        """Number the next event ``last + 1``, for a backend whose numbers go on between openings.

        The spool's journal does this; call it before ``_start_timer``.
        """
        self._written = self._acknowledged = self._told = last

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
            self._syncs += 1
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
            if self._busy or batch.payloads or self._syncs_each_write:
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
                last = batch.first + offset - 1
            else:
                last = through = self._write_alone(payload, len(rows))
        if through:
            self._tell_durable(through)
        return last

    def _write_alone(self, payload: _P, count: int) -> int:
        """Write *payload* now, the condition held; the number of its last event.

        For a writer alone (no batch waiting, none being written) when a write does not sync:
        cheaper than leading a batch of one. The lock is held for one short write, and for the
        sync the policy asks for after so many events or so much time: writers arriving
        meanwhile wait for the lock instead of gathering into a batch, which a sync that rare
        does not miss.
        """
        self._commit([payload], False)
        self._count_unsynced(count)
        self._written = self._acknowledged = self._acknowledged + count
        self._cond.notify_all()  # for wait_durable
        return self._acknowledged

    def _lead(self) -> int:
        """Write the open batch as its leader; called and returns with the condition held.

        Returns the new watermark, or 0 when the batch failed.
        """
        todo = self._open
        self._open = _Batch()
        self._busy = True
        self._cond.release()
        try:
            if self._syncs_each_write:
                self._commit(todo.payloads, True)
                self._syncs += 1
            else:
                self._commit(todo.payloads, False)
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
        policy = self._policy
        if policy.ms is None:  # a count only: no clock to read on every write
            self._unsynced += count
            if self._unsynced >= policy.events:
                self._sync_now()
            return
        now = self._clock()
        if not self._unsynced:
            self._unsynced_since = now
        self._unsynced += count
        if self._unsynced >= policy.events or (now - self._unsynced_since) * 1000 >= policy.ms:
            self._sync_now()

    def _sync_now(self) -> None:
        try:
            self._sync()
        except (OSError, SinkError) as exc:
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self._broken = (
                f"{self._name}: events were written but could not be synced to disk "
                f"({cause}); the disk may have lost them: check it and reopen"
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
        """Write and sync every event taken, then release the backend; later writes raise.

        Idempotent. Deferred: raises ``SinkError`` (after releasing the backend) when the sink
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
        """The payload that writes *rows* (a line of text, rows of parameters...)."""
        raise NotImplementedError

    def _commit(self, payloads: list[_P], sync: bool) -> None:
        """Write *payloads* as one unit, synced to the disk too when *sync*; or keep none."""
        raise NotImplementedError

    def _sync(self) -> None:
        """Make every commit so far durable."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close the file or connection; called once, after the last commit."""
        raise NotImplementedError

    def _break(self, problem: str) -> None:
        """Refuse every later write with *problem*: the backend is in a state it cannot mend.

        For a ``_commit`` that could not undo a failed write; it still raises ``SinkError``.
        """
        self._broken = problem


#: The deferred sinks still open, written out when the interpreter exits.
_DEFERRED: Final[weakref.WeakSet[GroupCommitSink[Any]]] = weakref.WeakSet()


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


def sync_directory(path: Path) -> None:
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
