"""A child process that writes events to a sink, for the crash, multi-process and disk tests.

Usage: ``python crash_writer.py MODE KIND PATH POLICY [COUNT] [PREFIX]``

* MODE ``forever`` (then PREFIX only): two threads write events until the process is killed,
  and the call ids of acknowledged events are printed, one per line. Under ``every`` and
  ``group`` an event is acknowledged when its write returns; under ``deferred`` only when the
  sink's durable watermark (its ``on_durable`` hook) reaches the number ``write`` gave it.
* MODE ``count``: write COUNT events with call ids ``PREFIX-n``, then print ``done``.
* MODE ``fill``: write until the sink refuses, then print the number of events acknowledged
  (the watermark) and the error (``SinkError: ...``) on the next line.
* MODE ``exit``: write COUNT events and exit without closing the sink; print ``done``.
* MODE ``open``: open the sink and write one event; print ``ok`` or the error. Run as root,
  the process first becomes the unprivileged user ``nobody`` (after its imports), so that file
  permissions apply to it.

KIND is ``jsonl``, ``sqlite``, ``postgres`` (PATH is then a database URL, and the writer's
node name is the last argument) or ``spool`` (PATH is the journal folder, the database URL is
the environment variable ``CALLCODES_TEST_URL``, and the node is ``spooler``); POLICY is
``every`` (sync each write), ``group`` or ``deferred`` (both in batches of 50 events or 20
ms), or ``deferred-hour`` (a batch is due after a million events or an hour: only ``flush``,
``close`` or the exit writes it).
"""

from __future__ import annotations

import os
import random
import sys
import threading
from datetime import UTC, datetime, timedelta

import callcodes as cc
from callcodes.events.postgres import PostgresSink
from callcodes.events.spool import SpoolSink

START = datetime(2024, 6, 1, tzinfo=UTC)
NOBODY = 65534


POLICIES = {
    "every": cc.FlushPolicy.every_event(),
    "group": cc.FlushPolicy.group(50, 20),
    "deferred": cc.FlushPolicy.deferred(50, 20),
    "deferred-hour": cc.FlushPolicy.deferred(1_000_000, 3_600_000),  # nothing due on its own
}


class Reporter:
    """Prints the call ids of acknowledged events, in sequence order, and no others.

    ``wrote`` learns which call ids a write got which sequence numbers; ``durable`` learns the
    sink's watermark. An id is printed once both are known and its number is at or below the
    watermark, whichever comes first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[int, str] = {}
        self._durable = 0
        self._next = 1

    def start_after(self, written: int) -> None:
        """The sink numbers on from *written* (a spool reopened): print from the next one."""
        with self._lock:
            self._next = written + 1
            self._durable = written

    def wrote(self, last: int, call_ids: list[str]) -> None:
        with self._lock:
            first = last - len(call_ids) + 1
            self._ids.update(zip(range(first, last + 1), call_ids, strict=True))
            self._print()

    def durable(self, through: int) -> None:
        with self._lock:
            self._durable = max(self._durable, through)
            self._print()

    def _print(self) -> None:
        out = []
        while self._next <= self._durable and self._next in self._ids:
            out.append(self._ids.pop(self._next))
            self._next += 1
        if out:
            sys.stdout.write("".join(f"{call_id}\n" for call_id in out))
            sys.stdout.flush()


def open_sink(
    kind: str, path: str, policy: str, reporter: Reporter | None = None
) -> cc.JsonlSink | cc.SqliteSink | PostgresSink | SpoolSink:
    hook = None if reporter is None else reporter.durable
    if kind == "postgres":  # PATH is the database URL; the node is named after the PREFIX
        return PostgresSink(path, POLICIES[policy], node=sys.argv[-1], on_durable=hook)
    if kind == "spool":  # PATH is the journal folder; the database URL is in the environment
        url = os.environ["CALLCODES_TEST_URL"]
        return SpoolSink(path, url, node="spooler", flush=POLICIES[policy], on_durable=hook)
    if kind == "jsonl":
        return cc.JsonlSink(path, POLICIES[policy], on_durable=hook)
    return cc.SqliteSink(path, POLICIES[policy], busy_timeout=30, on_durable=hook)


def make_event(call_id: str, n: int) -> cc.Event:
    account = n % 2 == 0
    return cc.Event(
        START + timedelta(milliseconds=n),
        "acme",
        f"user{n % 7}",
        "011442071234567",
        cc.CallType.INTERNATIONAL,
        cc.Mode.ACCOUNT if account else cc.Mode.AUTHORIZATION,
        cc.Verdict.LOG_ONLY if account else cc.Verdict.BLOCK,
        cc.Reason.ACCOUNT_CODE if account else cc.Reason.INVALID_CODE,
        call_id=call_id,
        code=f"{n % 10000:04d}" if account else None,
        masked=None if account else "****",
        description="a description long enough to make lines of a realistic size",
    )


def forever(
    sink: cc.JsonlSink | cc.SqliteSink | PostgresSink | SpoolSink,
    prefix: str,
    reporter: Reporter | None,
) -> None:
    """Write until killed; print ids when their write returns, or through *reporter*."""
    printing = threading.Lock()

    def run(thread: int) -> None:
        rng = random.Random(thread)
        n = 0
        while True:
            size = rng.choice((1, 1, 1, 5, 20))
            batch = [make_event(f"{prefix}t{thread}-{n + i}", n + i) for i in range(size)]
            last = sink.write(batch[0]) if size == 1 else sink.write_many(batch)
            ids = [e.call_id or "" for e in batch]
            if reporter is not None:
                reporter.wrote(last, ids)
            else:
                with printing:
                    sys.stdout.write("".join(f"{call_id}\n" for call_id in ids))
                    sys.stdout.flush()
            n += size

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    mode, kind, path, policy = sys.argv[1:5]
    if mode == "open":
        if os.geteuid() == 0:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        try:
            with open_sink(kind, path, policy) as sink:
                sink.write(make_event("only", 0))
        except cc.SinkError as exc:
            print(f"SinkError: {exc}")
        else:
            print("ok")
        return
    reporter = Reporter() if mode == "forever" and policy.startswith("deferred") else None
    sink = open_sink(kind, path, policy, reporter)
    if reporter is not None:
        reporter.start_after(sink.written)
    if mode == "forever":
        forever(sink, sys.argv[5] if len(sys.argv) > 5 else "", reporter)
    elif mode == "count":
        count, prefix = int(sys.argv[5]), sys.argv[6]
        n = 0
        while n < count:
            size = min(count - n, (1, 3, 1, 10)[n % 4])
            sink.write_many([make_event(f"{prefix}-{n + i}", n + i) for i in range(size)])
            n += size
        sink.close()
        print("done")
    elif mode == "fill":
        n = 0
        try:
            while True:
                sink.write(make_event(f"fill-{n}", n))
                n += 1
        except cc.SinkError as exc:
            print(sink.acknowledged)
            print(f"SinkError: {exc}")
    elif mode == "exit":
        for n in range(int(sys.argv[5])):
            sink.write(make_event(f"exit-{n}", n))
        print("done")


if __name__ == "__main__":
    main()
