"""What one service process holds open: the store, the accounts, the engine and the event log.

A decision is taken on the engine's loaded book, brought up to date when the store's version
says another process (a second server, the command line) changed the policy. Requests of the
management API read and write the store directly, so they always see the latest policy. The
node's :class:`~callcodes.service.metrics.Metrics` hear of every lock the engine places, and
``recorded`` keeps whether the event log took the last event (``/healthz`` tells it).

While a PostgreSQL store cannot be reached, decisions go on: the node keeps the policy it
loaded last (asking the database again at most once a second) and the bearer tokens it accepted
before, and its events wait in the spool; requests that read or write the store answer 503.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import attrs

from .._errors import UnavailableError
from ..core.model import GroupSettings
from ..dialplan.plan import DialPlan
from ..engine import Engine
from ..events._commit import GroupCommitSink
from ..events.reports import EventSource
from ..events.sinks import FlushPolicy
from ..events.spool import SpoolSink
from ..events.sqlite import SqliteSink
from ..store import open_store
from ..store.accounts import Account, Accounts
from ..store.writes import BaseStore
from .config import ServiceConfig
from .metrics import Metrics

__all__ = ["DEFAULT_SETTINGS", "Node"]

#: At most this many accepted tokens are remembered.
_MAX_TOKENS: Final = 10_000
#: While the store cannot be reached, how often a decision asks it again (seconds).
RETRY_AWAY: Final = 1.0

_log = logging.getLogger(__name__)

#: The settings a decision uses for a group the store does not know (its calls pass: rule 2,
#: not enabled), as the Kamailio adapter uses them.
DEFAULT_SETTINGS: Final = GroupSettings()


@attrs.define
class Node:
    """The open store, accounts, engine and event log of one service process."""

    config: ServiceConfig
    store: BaseStore
    accounts: Accounts
    engine: Engine
    sink: GroupCommitSink[Any]
    #: Where the event log is read: the SQLite sink itself, or the PostgreSQL URL.
    events: EventSource
    plans: dict[str, DialPlan]
    default_plan: DialPlan
    metrics: Metrics
    seen: int = 0
    next_refresh: float = 0.0
    # Decisions refresh the book; requests may run on several threads.
    decide_lock: threading.Lock = attrs.field(factory=threading.Lock)
    # Bearer tokens accepted lately: token -> (account, until when, monotonic seconds).
    tokens: dict[str, tuple[Account, float]] = attrs.field(factory=dict)
    #: Whether the last write to the event log succeeded (``/healthz`` tells it).
    events_ok: bool = True

    @classmethod
    def open(cls, config: ServiceConfig, clock: Callable[[], datetime] | None = None) -> Node:
        """Open the store and the event log and load the policy; nothing left open on failure."""
        metrics = Metrics()
        with contextlib.ExitStack() as undo:
            store = open_store(config.store, clock=clock)
            undo.callback(store.close)
            accounts = (
                Accounts(store, policy=config.login)
                if clock is None
                else Accounts(store, clock=clock, policy=config.login)
            )
            seen = store.version
            book = store.load()
            plans = store.dialplans()
            # Group commit: each event is in the log before the decision is answered; the log
            # is synced at most every 100 ms, so a power loss may take the last 100 ms.
            flush = FlushPolicy.group(1000, 100)
            log = config.event_log
            sink: GroupCommitSink[Any]
            events: EventSource
            if isinstance(log, str):
                # Journaled on this host, shipped to the database: decisions go on without it.
                assert config.spool is not None  # the configuration requires it
                sink = SpoolSink(config.spool / config.node, log, node=config.node, flush=flush)
                events = log
            else:
                sink = events = SqliteSink(log, flush)
            undo.callback(sink.close)
            engine = Engine(book, sink, clock, store=store, on_lock=metrics.on_lock)
            undo.pop_all()
        node = cls(
            config,
            store,
            accounts,
            engine,
            sink,
            events,
            plans,
            DialPlan(config.region),
            metrics,
            seen,
        )
        metrics.watch_lag(lambda: sink.written - sink.acknowledged)
        return node

    def recorded(self, *, ok: bool) -> None:
        """Note whether the event log took the last event (after a failure: it did again)."""
        if ok != self.events_ok:
            self.events_ok = ok
            self.metrics.event_log(ok)

    def refreshed(self) -> Engine:
        """The engine, its policy brought up to date if the store changed (every refresh_ms)."""
        now = time.monotonic()
        if now >= self.next_refresh:
            self.next_refresh = now + self.config.refresh_ms / 1000
            try:
                version = self.store.version
                if version != self.seen:
                    if self.store.refresh(self.engine.book):
                        self.plans = self.store.dialplans()
                    self.seen = version
            except UnavailableError as exc:
                # Decide from the policy loaded last; ask again in a moment, not per decision.
                _log.warning("callcodes keeps the policy it has: %s", exc)
                self.next_refresh = now + max(RETRY_AWAY, self.config.refresh_ms / 1000)
        return self.engine

    def authenticate(self, secret: str) -> Account:
        """The account of a bearer token, as ``Accounts.authenticate`` says.

        An accepted token is trusted again for ``refresh_ms`` without reading the store (the
        read costs more than the decision), so a token revoked or a password changed on another
        node stops working within that time; on this node at once (:meth:`forget_tokens`).
        While the store cannot be reached, a token accepted before is trusted until it answers.
        """
        now = time.monotonic()
        hit = self.tokens.get(secret)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            who = self.accounts.authenticate(secret)
        except UnavailableError:
            if hit is None:
                raise
            return hit[0]  # the store is away: no newer word on the token than this one
        if len(self.tokens) >= _MAX_TOKENS:  # bounded: many clients just read the store
            self.tokens.clear()
        self.tokens[secret] = (who, now + self.config.refresh_ms / 1000)
        return who

    def forget_tokens(self) -> None:
        """Read every token from the store again: one was revoked or a session ended."""
        self.tokens.clear()

    def changed(self) -> None:
        """Refresh on the next decision: this process has just written the store."""
        self.next_refresh = 0.0

    def plan_for(self, group: str) -> DialPlan:
        """The group's dial plan from the store, else the service's default."""
        return self.plans.get(group, self.default_plan)

    def decide_settings(self, group: str) -> GroupSettings:
        """The group's settings for a decision: the defaults for a group the book lacks."""
        return self.engine.book.settings_for(group)

    def close(self) -> None:
        """Close the event log (flushing it) and the store."""
        try:
            self.sink.close()
        finally:
            self.store.close()
