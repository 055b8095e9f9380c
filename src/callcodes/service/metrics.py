"""What ``GET /metrics`` tells Prometheus: decisions, their latency, locks and the event log's lag.

Each service process keeps its own :class:`Metrics` in a registry of its own (never
``prometheus_client``'s global one, so two applications in one process, as in the tests, never
count into each other). The decision path pays one dictionary lookup and two increments per
decision: the labelled counters are looked up once per verdict and reason, not on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from ..core.guard import LockChange, LockEvent
from ..core.model import Reason, Verdict

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Decision latency buckets, in seconds: a decision takes tens of microseconds, an event log
#: that waits for its disk or its lock takes milliseconds.
LATENCY_BUCKETS: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


class Metrics:
    """The service's counters, histogram and gauges, in a registry of their own.

    * ``callcodes_decisions_total{verdict, reason}``: decisions answered by ``POST
      /api/v1/decide``;
    * ``callcodes_decide_refused_total{problem}``: dial strings answered without a decision
      (no number to call, two codes) and decisions that failed (``event log``: the event could
      not be recorded, the call was refused with 503; ``error``: anything else);
    * ``callcodes_decision_seconds``: the time from the request's fields to the answer (the
      dial plan, the decision and its event), without HTTP;
    * ``callcodes_locks_total{scope}``: toll-fraud locks placed by this process (user or group);
    * ``callcodes_event_log_lag``: events this process gave the event log that it has not yet
      acknowledged as durable (``written - acknowledged`` of the sink's watermark);
    * ``callcodes_event_log_ok``: 1 while the last write to the event log succeeded.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._decisions = Counter(
            "callcodes_decisions",
            "Decisions answered by POST /api/v1/decide, by verdict and reason.",
            ["verdict", "reason"],
            registry=self.registry,
        )
        self._refused = Counter(
            "callcodes_decide_refused",
            "Decide requests answered without a decision: dial strings refused, failures.",
            ["problem"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "callcodes_decision_seconds",
            "Time to decide one call and record its event (without HTTP), in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._locks = Counter(
            "callcodes_locks",
            "Toll-fraud locks placed by this process, by scope (user or group).",
            ["scope"],
            registry=self.registry,
        )
        self._lag = Gauge(
            "callcodes_event_log_lag",
            "Events given to the event log and not yet acknowledged as durable.",
            registry=self.registry,
        )
        self._log_ok = Gauge(
            "callcodes_event_log_ok",
            "1 while the last write to the event log succeeded, else 0.",
            registry=self.registry,
        )
        self._log_ok.set(1)
        # Each (verdict, reason) child is made on its first decision and kept: .labels()
        # costs more than the increment. Made lazily, so only outcomes that occur are shown.
        self._by_outcome: dict[tuple[Verdict, Reason], Any] = {}
        self._observe = self.latency.observe

    def decided(self, verdict: Verdict, reason: Reason, seconds: float) -> None:
        """Count one decision and its latency. Runtime: O(1), about 2 µs."""
        child = self._by_outcome.get((verdict, reason))
        if child is None:
            child = self._by_outcome[verdict, reason] = self._decisions.labels(
                verdict.value, reason.value
            )
        child.inc()
        self._observe(seconds)

    def refused(self, problem: str) -> None:
        """Count one decide request answered without a decision, by *problem*."""
        self._refused.labels(problem).inc()

    def on_lock(self, change: LockEvent) -> None:
        """The engine's lock hook: count each lock placed (lifting one is not counted)."""
        if change.change is LockChange.LOCKED:
            self._locks.labels("group" if change.lock.user is None else "user").inc()

    def event_log(self, ok: bool) -> None:
        """Note whether the last write to the event log succeeded."""
        self._log_ok.set(1 if ok else 0)

    def watch_lag(self, lag: Callable[[], float]) -> None:
        """Read the event log's lag from *lag* at every scrape."""
        self._lag.set_function(lag)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format the ``Accept`` header asks for, and its media type.

        Prometheus' text format unless OpenMetrics is asked for. The media type comes without
        its ``charset`` parameter, which the response adds.
        """
        encode, media_type = choose_encoder(accept)
        return encode(self.registry), media_type.replace("; charset=utf-8", "")
