"""What one Kamailio worker process holds open: the store, its policy, the engine, the event log.

Kamailio forks its SIP workers after loading the router; database connections do not survive
``fork()``, so each worker opens its own (:meth:`Worker.open`, from ``child_init``). Before each
INVITE the worker asks the store whether it changed (a :class:`~._watch.Watch`) and refreshes
the policy only then. Failed entries and uses of codes are counted for every worker together
(:class:`SharedFailureTracker`, :class:`SharedUseCounter`): in PostgreSQL for every node, or
in an SQLite file (the event log, or with a spool ``<spool>/counts.db``), each write taken in
turn (:class:`Turns`).

With PostgreSQL, a worker goes on while the database is away: it decides from the policy it
loaded last (and tries to refresh it again a second later), journals its events in its spool
folder (:class:`~callcodes.events.spool.SpoolSink`, shipped by ``callcodes events ship`` once
the database is back), counts failures locally and merges them back
(:class:`FallbackFailureTracker`), and keeps the locks it places in its book until the store
takes them (:class:`_LocksWhileAway`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs

from ..._errors import UnavailableError
from ..._sqlite import Turns
from ...core.book import CodeBook
from ...core.guard import LockEvent
from ...core.model import GroupSettings, Lock
from ...core.usage import LimitEvent
from ...dialplan.plan import DialPlan
from ...engine import Engine
from ...events._commit import GroupCommitSink
from ...events.sinks import FlushPolicy
from ...events.spool import SpoolSink
from ...store import open_store
from ...store.writes import BaseStore
from ._failures import FallbackFailureTracker, SharedFailureTracker
from ._turns import TurnSink
from ._usage import SharedUseCounter
from ._watch import ListenWatch, StoreWatch, Watch
from .config import KamailioConfig

__all__ = ["DEFAULT_SETTINGS", "Preloaded", "Worker"]

#: The settings of a group the store does not know (its calls pass: rule 2, not enabled).
DEFAULT_SETTINGS: Final = GroupSettings()

_log = logging.getLogger("callcodes.kamailio")

#: Seconds between two tries to refresh the policy while the database is away.
RETRY_AWAY: Final = 1.0


def _log_limit(limit: LimitEvent) -> None:
    """The engine's use-limit alert: a call refused for a limit goes to Kamailio's log."""
    suspended = "; the code is suspended" if limit.suspended else ""
    call = limit.call
    _log.warning(
        "callcodes refused a call of user %r of group %r: %s%s",
        call.user,
        call.group,
        limit.reason.value,
        suspended,
    )


def _log_lock(change: LockEvent) -> None:
    """The engine's alert hook: a lock put in place or lifted goes to Kamailio's log."""
    lock = change.lock
    who = f"user {lock.user!r}" if lock.user is not None else "the whole group"
    _log.warning("callcodes %s %s of group %r", change.change.value, who, lock.group)


class _LocksWhileAway:
    """The store the engine writes locks through; a lock it cannot take now is kept for later.

    The engine puts a lock in the worker's book before writing it to the store: while the
    database is away the lock holds on this worker at once, and reaches the store (and so the
    other workers and nodes) at the next refresh that succeeds (:meth:`write_waiting`).
    """

    def __init__(self, store: BaseStore) -> None:
        self._store = store
        self._waiting: list[tuple[Lock, str]] = []

    def lock(self, lock: Lock, *, actor: str) -> None:
        """Persist *lock*, or keep it for later while the database is away."""
        try:
            self._store.lock(lock, actor=actor)
        except UnavailableError as exc:
            _log.warning(
                "callcodes keeps a lock of group %r until the store is back: %s", lock.group, exc
            )
            self._waiting.append((lock, actor))

    def write_waiting(self) -> None:
        """Write the locks kept while the database was away (it just answered a refresh)."""
        while self._waiting:
            lock, actor = self._waiting[0]
            self._store.lock(lock, actor=actor)
            self._waiting.pop(0)

    # The other writes the engine makes go to the store as they are, and fail while it is
    # away: a use of a use-limited code cannot be counted for every node then.

    def consume(self, group: str, code: str) -> bool:
        """Count one use of a use-limited code in the store; False when none is left."""
        return self._store.consume(group, code)

    def unlock(self, group: str, user: str | None = None, *, actor: str) -> bool:
        """Lift a stored lock; whether one was lifted."""
        return self._store.unlock(group, user, actor=actor)

    def suspend(self, group: str, code: str, since: datetime, *, actor: str) -> bool:
        """Suspend a listed code in the store; False when it is not listed."""
        return self._store.suspend(group, code, since, actor=actor)

    def restore(self, group: str, code: str, *, actor: str) -> bool:
        """Lift a code's suspension in the store; whether it was suspended."""
        return self._store.restore(group, code, actor=actor)


def _counts_place(config: KamailioConfig) -> Path | str:
    """Where the workers count failed entries and uses together.

    In the database with the events in PostgreSQL (every node counts there); in the SQLite
    event log without a spool; with a spool, in ``<spool>/counts.db``, a file of its own, so
    that the shipper's batches into the event log never hold up a worker counting a failure.
    """
    events = config.events
    if isinstance(events, str) or config.spool is None:
        return events
    config.spool.mkdir(parents=True, exist_ok=True)
    return config.spool / "counts.db"


def _open_store(place: Path | str) -> tuple[Watch, BaseStore]:
    """The watch (opened first: a change made while loading is seen) and the store."""
    watch: Watch = ListenWatch(place) if isinstance(place, str) else StoreWatch(place)
    try:
        return watch, open_store(place)
    except BaseException:
        watch.close()
        raise


@attrs.frozen
class Preloaded:
    """The policy loaded before Kamailio forks: the book, the dial plans, where they stand.

    Every worker starts from these objects, whose memory pages the workers share until one
    changes them (copy on write); each worker's store reads only the changes written since
    journal entry ``loaded_at``.
    """

    book: CodeBook
    plans: dict[str, DialPlan]
    loaded_at: int

    @classmethod
    def load(cls, config: KamailioConfig) -> Preloaded:
        """Load the policy of *config*'s store, and close the store (nothing open survives)."""
        with open_store(config.store) as store:
            book = store.load(compact=True)  # no object per plain code: pages stay shared
            return cls(book, store.dialplans(), store.loaded_at(book))


@attrs.define
class Worker:
    """The store, the loaded policy and its engine, the event log and the shared failure count.

    Belongs to the process that opened it (``pid``): a child forked from it opens its own.
    """

    pid: int
    config: KamailioConfig
    store: BaseStore
    engine: Engine
    sink: GroupCommitSink[Any]
    failures: SharedFailureTracker | FallbackFailureTracker
    usage: SharedUseCounter
    plans: dict[str, DialPlan]
    watch: Watch
    turns: Turns | None
    locks: _LocksWhileAway
    next_refresh: float = 0.0

    @classmethod
    def open(
        cls,
        config: KamailioConfig,
        clock: Callable[[], datetime] | None = None,
        *,
        rank: int | None = None,
        preloaded: Preloaded | None = None,
    ) -> Worker:
        """Open the store, load the policy and open the event log for this process.

        With *preloaded* (the policy loaded before the fork), the worker takes that book and
        brings it up to date instead of loading its own.

        *rank* is Kamailio's number of the worker: with a spool, it names the worker's
        journal folder and its events (``<node>-<rank>``, the process id when
        None). Raises what opening raised (the store or the event log unusable), with
        nothing left open.
        """
        flush = FlushPolicy(config.sync_every, None)
        events = config.events
        counts = _counts_place(config)
        turns = None if isinstance(counts, str) else Turns(counts)
        with contextlib.ExitStack() as undo:
            if turns is not None:
                undo.callback(turns.close)
            # Workers start together: they open the files in turn, since SQLite refuses a
            # second process while the first one turns a new event log to WAL mode.
            with turns or contextlib.nullcontext():
                watch, store = _open_store(config.store)
                undo.callback(watch.close)
                undo.callback(store.close)
                if preloaded is None:
                    book = store.load()
                    plans = store.dialplans()
                else:
                    book, plans = preloaded.book, preloaded.plans
                    store.adopt(book, preloaded.loaded_at)
                    if store.refresh(book):  # changed since the load: only what changed
                        plans = store.dialplans()
                sink: GroupCommitSink[Any]
                failures: SharedFailureTracker | FallbackFailureTracker
                if config.spool is not None:
                    name = f"{config.node}-{f'p{os.getpid()}' if rank is None else rank}"
                    # Kamailio 5 runs no Python thread between requests: `callcodes events ship`
                    # delivers the journal from a process of its own.
                    sink = SpoolSink(
                        config.spool / name, events, node=name, flush=flush, ship=False
                    )
                else:
                    sink = TurnSink(events, flush, turns)  # type: ignore[arg-type]  # SQLite
                undo.callback(sink.close)
                if isinstance(counts, str):
                    failures = FallbackFailureTracker(SharedFailureTracker(counts))
                else:
                    failures = SharedFailureTracker(counts, turns=turns)
                undo.callback(failures.close)
                usage = SharedUseCounter(counts, store.fingerprinter(), turns=turns)
                undo.callback(usage.close)
            locks = _LocksWhileAway(store)
            # Failed entries and uses are counted for every worker together, not per process.
            engine = Engine(
                book,
                sink,
                clock,
                store=locks,
                on_lock=_log_lock,
                tracker=failures,
                usage=usage,
                on_limit=_log_limit,
            )
            undo.pop_all()
        return cls(
            os.getpid(), config, store, engine, sink, failures, usage, plans, watch, turns, locks
        )

    @property
    def current(self) -> bool:
        """True in the process that opened it; False in a child forked since."""
        return self.pid == os.getpid()

    def refreshed(self) -> Engine:
        """The engine, its policy brought up to date when the store changed (and it is time)."""
        now = time.monotonic()
        if now >= self.next_refresh:
            self.next_refresh = now + self.config.refresh_ms / 1000
            try:
                if self.watch.stale():
                    if self.store.refresh(self.engine.book):
                        self.plans = self.store.dialplans()
                    self.locks.write_waiting()
                    self.watch.settle()  # only now: a refresh that failed is tried again
            except UnavailableError as exc:
                # Decide from the policy loaded last; try again in a moment, not per INVITE.
                _log.warning("callcodes keeps the policy it has: %s", exc)
                self.next_refresh = now + max(RETRY_AWAY, self.config.refresh_ms / 1000)
        return self.engine

    def plan_for(self, group: str) -> DialPlan:
        """The group's dial plan from the store, else the configuration's. O(1), no I/O."""
        found = self.plans.get(group)
        return self.config.dial_plan if found is None else found

    def settings(self, group: str) -> GroupSettings:
        """The group's settings in the loaded policy; the defaults for an unknown group."""
        return self.engine.book.settings_for(group)

    def close(self) -> None:
        """Close the event log, the failure count, the store, the watch and the lock file."""
        try:
            self.sink.close()
        finally:
            self.failures.close()
            self.usage.close()
            self.store.close()
            self.watch.close()
            if self.turns is not None:
                self.turns.close()
