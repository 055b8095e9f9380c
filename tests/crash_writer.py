"""A child process that writes events to a sink, for the crash, multi-process and disk tests.

Usage: ``python crash_writer.py MODE KIND PATH POLICY [COUNT] [PREFIX]``

* MODE ``forever`` (then PREFIX only): two threads write events until the process is killed;
  after each write returns (the events are acknowledged), their call ids are printed, one per
  line.
* MODE ``count``: write COUNT events with call ids ``PREFIX-n``, then print ``done``.
* MODE ``fill``: write until the sink refuses, then print the number of events acknowledged and
  the error (``SinkError: ...``) on the next line.
* MODE ``open``: open the sink and write one event; print ``ok`` or the error. Run as root,
  the process first becomes the unprivileged user ``nobody`` (after its imports), so that file
  permissions apply to it.

KIND is ``jsonl`` or ``sqlite``; POLICY is ``every`` (sync each write) or ``group``.
"""

from __future__ import annotations

import os
import random
import sys
import threading
from datetime import UTC, datetime, timedelta

import callcodes as cc

START = datetime(2024, 6, 1, tzinfo=UTC)
NOBODY = 65534


def open_sink(kind: str, path: str, policy: str) -> cc.JsonlSink | cc.SqliteSink:
    flush = cc.FlushPolicy.every_event() if policy == "every" else cc.FlushPolicy.group(50, 20)
    if kind == "jsonl":
        return cc.JsonlSink(path, flush)
    return cc.SqliteSink(path, flush, busy_timeout=30)


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


def forever(sink: cc.JsonlSink | cc.SqliteSink, prefix: str) -> None:
    printing = threading.Lock()

    def run(thread: int) -> None:
        rng = random.Random(thread)
        n = 0
        while True:
            size = rng.choice((1, 1, 1, 5, 20))
            batch = [make_event(f"{prefix}t{thread}-{n + i}", n + i) for i in range(size)]
            if size == 1:
                sink.write(batch[0])
            else:
                sink.write_many(batch)
            with printing:
                sys.stdout.write("".join(f"{e.call_id}\n" for e in batch))
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
    sink = open_sink(kind, path, policy)
    if mode == "forever":
        forever(sink, sys.argv[5] if len(sys.argv) > 5 else "")
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
            print(n)
            print(f"SinkError: {exc}")


if __name__ == "__main__":
    main()
