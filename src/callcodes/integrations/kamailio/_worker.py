"""What one Kamailio worker process holds open: the store, its policy, the engine, the event log.

Kamailio forks its SIP workers after loading the router; SQLite connections do not survive
``fork()``, so each worker opens its own (:meth:`Worker.open`, from ``child_init``). Before each
INVITE the worker asks the store whether it changed (:class:`StoreWatch`) and refreshes the
policy only then. Failed entries and uses of codes are counted in the event log file for every
worker together (:class:`SharedFailureTracker`, :class:`SharedUseCounter`), and every write to
that file is taken in turn (:class:`Turns`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final

import attrs

from ...core.guard import LockEvent
from ...core.model import GroupSettings
from ...core.usage import LimitEvent
from ...dialplan.plan import DialPlan
from ...engine import Engine
from ...events.sinks import FlushPolicy
from ...store import PolicyStore
from ._failures import SharedFailureTracker
from ._turns import Turns, TurnSink
from ._usage import SharedUseCounter
from ._watch import StoreWatch
from .config import KamailioConfig

__all__ = ["DEFAULT_SETTINGS", "Worker"]

#: The settings of a group the store does not know (its calls pass: rule 2, not enabled).
DEFAULT_SETTINGS: Final = GroupSettings()

_log = logging.getLogger("callcodes.kamailio")


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


@attrs.define
class Worker:
    """The store, the loaded policy and its engine, the event log and the shared failure count.

    Belongs to the process that opened it (``pid``): a child forked from it opens its own.
    """

    pid: int
    config: KamailioConfig
    store: PolicyStore
    engine: Engine
    sink: TurnSink
    failures: SharedFailureTracker
    usage: SharedUseCounter
    plans: dict[str, DialPlan]
    watch: StoreWatch
    turns: Turns
    next_refresh: float = 0.0

    @classmethod
    def open(cls, config: KamailioConfig, clock: Callable[[], datetime] | None = None) -> Worker:
        """Open the store, load the policy and open the event log for this process.

        Raises what opening raised (the store or the event log unusable), with nothing left
        open.
        """
        turns = Turns(config.events)
        with contextlib.ExitStack() as undo:
            undo.callback(turns.close)
            # Workers start together: they open the files in turn, since SQLite refuses a
            # second process while the first one turns a new event log to WAL mode.
            with turns:
                watch = StoreWatch(config.store)  # before loading: a change made meanwhile is seen
                undo.callback(watch.close)
                store = PolicyStore(config.store)
                undo.callback(store.close)
                book = store.load()
                plans = store.dialplans()
                sink = TurnSink(config.events, FlushPolicy(config.sync_every, None), turns)
                undo.callback(sink.close)
                failures = SharedFailureTracker(config.events, turns=turns)
                undo.callback(failures.close)
                usage = SharedUseCounter(config.events, store.fingerprinter(), turns=turns)
                undo.callback(usage.close)
            # Failed entries and uses are counted for every worker together, not per process.
            engine = Engine(
                book,
                sink,
                clock,
                store=store,
                on_lock=_log_lock,
                tracker=failures,
                usage=usage,
                on_limit=_log_limit,
            )
            undo.pop_all()
        return cls(os.getpid(), config, store, engine, sink, failures, usage, plans, watch, turns)

    @property
    def current(self) -> bool:
        """True in the process that opened it; False in a child forked since."""
        return self.pid == os.getpid()

    def refreshed(self) -> Engine:
        """The engine, its policy brought up to date when the store changed (and it is time)."""
        now = time.monotonic()
        if now >= self.next_refresh:
            watch = self.watch
            version = watch.version()
            if version != watch.seen:
                if self.store.refresh(self.engine.book):
                    self.plans = self.store.dialplans()
                watch.seen = version  # only now: a refresh that failed is tried again
            self.next_refresh = now + self.config.refresh_ms / 1000
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
            self.turns.close()
