"""The event log: events per second for each sink and flush policy, beside the raw writes.

References, measured in the same run on the same events: ``file.write`` of the very lines a
JSON Lines sink writes (one buffered write each, one flush), ``os.write`` of each line (what a
lone writer's acknowledgement costs at least), one ``os.write`` and one ``fdatasync`` per round
(what a deferred batch costs at least), and ``executemany`` of the very rows an SQLite sink
stores, in one transaction, on the same table and indexes (without and with a synced commit).
Then ``decide`` bare, through an ``Engine`` without a sink, and through an ``Engine`` recording
to each sink under each policy.

A round of a deferred sink ends with ``flush()``: its time covers making every event of the
round durable, not only handing it over. The engine's rounds are 10,000 decisions, so that
this last, partial batch weighs no more than in a long run.

    pytest benchmarks/bench_events.py -p no:cacheprovider --benchmark-enable \
        -o python_files='bench_*.py' -s
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import callcodes as cc
from callcodes.events._commit import fdatasync
from callcodes.events.event import row_of, row_to_json
from callcodes.events.sqlite import EVENTS_V1, INSERT, sql_row
from conftest import Ratios

PER_ROUND = 1000  # events per benchmark round
SLOW_PER_ROUND = 100  # for one fsync per event
ROUNDS = 7
START = datetime(2024, 6, 1, tzinfo=UTC)
POLICIES = {
    "every_event": cc.FlushPolicy.every_event(),
    "group(1000, 100 ms)": cc.FlushPolicy.group(events=1000, ms=100),
    "deferred(1000, 10 ms)": cc.FlushPolicy.deferred(events=1000, ms=10),
}
Sink = cc.JsonlSink | cc.SqliteSink


def batches(size: int) -> Iterator[list[cc.Event]]:
    """One batch of realistic events per round (and warm-up), built before the timing starts.

    Times grow batch after batch, as in a real log (the indexes then grow at their end).
    """
    counter = itertools.count()
    built = []
    for _ in range(ROUNDS + 1):
        batch = []
        for _ in range(size):
            n = next(counter)
            account = n % 3 == 0
            batch.append(
                cc.Event(
                    START + timedelta(milliseconds=n),
                    f"group{n % 20}",
                    f"user{n % 50}",
                    "011442071234567",
                    cc.CallType.INTERNATIONAL,
                    cc.Mode.ACCOUNT if account else cc.Mode.AUTHORIZATION,
                    cc.Verdict.LOG_ONLY if account else cc.Verdict.ALLOW,
                    cc.Reason.ACCOUNT_CODE if account else cc.Reason.AUTHORIZED,
                    call_id=f"call-{n}",
                    code=f"{n % 10000:04d}" if account else None,
                    masked=None if account else "****",
                    description=None if account else "Sales",
                )
            )
        built.append(batch)
    return iter(built)


def timed(benchmark: object, run: Callable[[], None], per_round: int) -> None:
    benchmark.extra_info["per_round"] = per_round  # type: ignore[attr-defined]
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)  # type: ignore[attr-defined]


def rate(ratios: Ratios, name: str, benchmark: object, per_round: int) -> None:
    if benchmark.disabled:  # type: ignore[attr-defined]  # a smoke run: nothing was timed
        return
    seconds = ratios.record(name, benchmark, per_round)
    ratios.lines.append(f"{name}: {seconds * 1e6:.2f} us per event, {1 / seconds:,.0f} events/s")


def durable(sink: Sink) -> Callable[[], None]:
    """What ends a round: nothing for a write-through sink, a flush for a deferred one."""
    return sink.flush if sink.policy.defer else lambda: None


def per_round(policy: str) -> int:
    return SLOW_PER_ROUND if policy == "every_event" else PER_ROUND


def four_threads(sink: Sink, batch: list[cc.Event]) -> None:
    """Four threads each write their quarter of *batch*, one event at a time."""

    def work(part: list[cc.Event]) -> None:
        for event in part:
            sink.write(event)

    threads = [threading.Thread(target=work, args=(batch[t::4],)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class SinkBenchmarks:
    """The same measures for both file sinks; subclasses name the sink and its file."""

    kind: Callable[..., Sink]
    file: str

    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_write_many(self, benchmark, tmp_path: Path, policy: str, ratios: Ratios) -> None:
        source = batches(PER_ROUND)
        with self.kind(tmp_path / self.file, POLICIES[policy]) as sink:
            end = durable(sink)

            def run() -> None:
                sink.write_many(next(source))
                end()

            timed(benchmark, run, PER_ROUND)
        rate(ratios, f"{self.kind.__name__}.write_many(1000), {policy}", benchmark, PER_ROUND)

    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_write_each(self, benchmark, tmp_path: Path, policy: str, ratios: Ratios) -> None:
        size = per_round(policy)
        source = batches(size)
        with self.kind(tmp_path / self.file, POLICIES[policy]) as sink:
            end = durable(sink)

            def run() -> None:
                for event in next(source):
                    sink.write(event)
                end()

            timed(benchmark, run, size)
        rate(ratios, f"{self.kind.__name__}.write, one thread, {policy}", benchmark, size)

    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_write_four_threads(
        self, benchmark, tmp_path: Path, policy: str, ratios: Ratios
    ) -> None:
        source = batches(PER_ROUND)
        with self.kind(tmp_path / self.file, POLICIES[policy]) as sink:
            end = durable(sink)

            def run() -> None:
                four_threads(sink, next(source))
                end()

            timed(benchmark, run, PER_ROUND)
        rate(ratios, f"{self.kind.__name__}.write, four threads, {policy}", benchmark, PER_ROUND)


class TestJsonl(SinkBenchmarks):
    kind = cc.JsonlSink
    file = "events.jsonl"

    def test_raw_file_write(self, benchmark, tmp_path: Path, ratios: Ratios) -> None:
        source = batches(PER_ROUND)
        with (tmp_path / "raw.jsonl").open("a", encoding="ascii") as file:

            def run() -> None:
                lines = [row_to_json(row_of(e)) + "\n" for e in next(source)]
                for line in lines:
                    file.write(line)
                file.flush()

            timed(benchmark, run, PER_ROUND)
        rate(ratios, "raw: encode + file.write each line, one flush", benchmark, PER_ROUND)

    def test_raw_os_write(self, benchmark, tmp_path: Path, ratios: Ratios) -> None:
        source = batches(PER_ROUND)
        fd = os.open(tmp_path / "raw.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:

            def run() -> None:
                for event in next(source):
                    os.write(fd, (row_to_json(row_of(event)) + "\n").encode("ascii"))

            timed(benchmark, run, PER_ROUND)
        finally:
            os.close(fd)
        rate(ratios, "raw: encode + os.write per line", benchmark, PER_ROUND)

    def test_raw_batch_synced(self, benchmark, tmp_path: Path, ratios: Ratios) -> None:
        source = batches(PER_ROUND)
        fd = os.open(tmp_path / "raw.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:

            def run() -> None:
                lines = "".join([row_to_json(row_of(e)) + "\n" for e in next(source)])
                os.write(fd, lines.encode("ascii"))
                fdatasync(fd)

            timed(benchmark, run, PER_ROUND)
        finally:
            os.close(fd)
        rate(ratios, "raw: encode + one os.write + fdatasync per 1000", benchmark, PER_ROUND)


def raw_table(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """The events table and indexes, without the sink: where the raw inserts go."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    for statement in EVENTS_V1:
        conn.execute(statement)
    return conn


class TestSqlite(SinkBenchmarks):
    kind = cc.SqliteSink
    file = "events.db"

    @pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
    def test_raw_executemany(
        self, benchmark, tmp_path: Path, synchronous: str, ratios: Ratios
    ) -> None:
        source = batches(PER_ROUND)
        conn = raw_table(tmp_path / "raw.db", synchronous)

        def run() -> None:
            rows = [sql_row(row_of(e)) for e in next(source)]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")

        timed(benchmark, run, PER_ROUND)
        conn.close()
        name = f"raw: encode + executemany, one transaction, synchronous={synchronous}"
        rate(ratios, name, benchmark, PER_ROUND)

    def test_raw_insert_each(self, benchmark, tmp_path: Path, ratios: Ratios) -> None:
        source = batches(PER_ROUND)
        conn = raw_table(tmp_path / "raw.db")

        def run() -> None:
            for event in next(source):
                conn.execute(INSERT, sql_row(row_of(event)))  # one transaction each

        timed(benchmark, run, PER_ROUND)
        conn.close()
        rate(ratios, "raw: encode + INSERT, one transaction each", benchmark, PER_ROUND)


@pytest.fixture(scope="module")
def book() -> cc.CodeBook:
    book = cc.CodeBook()
    book.set_group(
        "acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"}))
    )
    book.add_codes("acme", [cc.CodeEntry(f"{n:04d}", "Sales") for n in range(1000)])
    return book


CALL = cc.Call("acme", "alice", "011442071234567", cc.CallType.INTERNATIONAL, "c-1")
ENGINE_PER_ROUND = 10_000
CODES = [f"{n % 1000:04d}" for n in range(ENGINE_PER_ROUND)]
BARE = "decide, bare (time given)"
ENGINE_SINKS = [
    "none",
    "memory",
    *(f"{kind} {policy}" for kind in ("jsonl", "sqlite") for policy in POLICIES),
]


def engine_sink(name: str, directory: Path) -> cc.MemorySink | Sink | None:
    if name == "none":
        return None
    if name == "memory":
        return cc.MemorySink(capacity=ENGINE_PER_ROUND, evict=True)  # full after the warm-up
    kind, policy = name.split(" ", 1)
    if kind == "jsonl":
        return cc.JsonlSink(directory / "events.jsonl", POLICIES[policy])
    return cc.SqliteSink(directory / "events.db", POLICIES[policy])


class TestEngine:
    def test_bare_decide(self, benchmark, book: cc.CodeBook, ratios: Ratios) -> None:
        now = datetime.now(UTC)

        def run() -> None:
            for code in CODES:
                cc.decide(book, CALL, code, now=now)

        timed(benchmark, run, len(CODES))
        rate(ratios, BARE, benchmark, len(CODES))

    @pytest.mark.parametrize("sink", ENGINE_SINKS)
    def test_engine_decide(
        self, benchmark, book: cc.CodeBook, tmp_path: Path, sink: str, ratios: Ratios
    ) -> None:
        target = engine_sink(sink, tmp_path)
        engine = cc.Engine(book, target)
        codes = CODES[:SLOW_PER_ROUND] if sink.endswith("every_event") else CODES
        end = durable(target) if isinstance(target, Sink) else lambda: None

        def run() -> None:
            for code in codes:
                engine.decide(CALL, code)
            end()

        timed(benchmark, run, len(codes))
        if target is not None:
            target.close()
        name = f"Engine.decide, sink {sink}"
        rate(ratios, name, benchmark, len(codes))
        if BARE in ratios.medians:
            ratios.report(name, BARE)
