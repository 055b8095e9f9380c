"""The PostgreSQL event log: events per second recorded by each sink, beside a bare ``COPY``.

References, measured in the same run on the same events and the same server: a bare ``COPY``
of the very rows the sink stores, in one transaction, into a table with the same columns,
indexes and monthly partitions (what a batch costs at least), and one ``INSERT`` per event in
its own transaction (what a lone writer's acknowledgement costs at least). Then
``PostgresSink`` under each flush policy, and ``SpoolSink`` (the local journal, then the
database), both as events acknowledged and as events delivered; and ``Engine.decide`` recording
through each. The server is a throwaway one, started as the tests start theirs (``fsync`` off:
the figures compare the sinks with the bare statements, not the disks).

    pytest benchmarks/bench_events_postgres.py -p no:cacheprovider --benchmark-enable \
        -o python_files='bench_*.py' -s
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import callcodes as cc
from bench_events import CALL, CODES, PER_ROUND, POLICIES, batches, durable, rate, timed
from callcodes.events.event import row_of
from callcodes.events.postgres import PostgresSink
from callcodes.events.spool import SpoolSink
from callcodes.events.sqlite import COLUMNS, sql_row
from conftest import Ratios

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgserver import PostgresServer, running_server

_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with running_server(tmp_path_factory.mktemp("apt") / "apt.log") as started:
        yield started


@pytest.fixture
def url(server: PostgresServer) -> str:
    """A new database whose event tables and this month's partition exist (a running fleet)."""
    made = server.create_database(f"b{next(_names)}")
    with PostgresSink(made, node="setup") as sink:
        sink.write(next(batches(1))[0])
    return made


def rows_of(events: list[cc.Event], node: str, first: int) -> list[tuple[Any, ...]]:
    return [(*sql_row(row_of(e)), node, first + i) for i, e in enumerate(events)]


class TestReferences:
    def test_bare_copy(self, benchmark, url: str, ratios: Ratios) -> None:
        source = batches(PER_ROUND)
        seq = itertools.count(1, PER_ROUND)
        with psycopg.connect(url, autocommit=True) as conn:

            def run() -> None:
                rows = rows_of(next(source), "bare", next(seq))
                with (
                    conn.transaction(),
                    conn.cursor().copy(f"COPY events ({COLUMNS}, node, seq) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)

            timed(benchmark, run, PER_ROUND)
        rate(ratios, "raw: encode + COPY 1000 rows, one transaction", benchmark, PER_ROUND)

    def test_bare_insert_each(self, benchmark, url: str, ratios: Ratios) -> None:
        size = 100
        source = batches(size)
        seq = itertools.count(1)
        with psycopg.connect(url, autocommit=True) as conn:
            marks = ", ".join(["%s"] * 17)

            def run() -> None:
                for event in next(source):
                    conn.execute(
                        f"INSERT INTO events ({COLUMNS}, node, seq) VALUES ({marks})",
                        rows_of([event], "bare", next(seq))[0],
                    )

            timed(benchmark, run, size)
        rate(ratios, "raw: encode + INSERT, one transaction each", benchmark, size)


class TestPostgresSink:
    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_write_many(self, benchmark, url: str, policy: str, ratios: Ratios) -> None:
        source = batches(PER_ROUND)
        with PostgresSink(url, POLICIES[policy], node="n") as sink:
            end = durable(sink)  # type: ignore[arg-type]

            def run() -> None:
                sink.write_many(next(source))
                end()

            timed(benchmark, run, PER_ROUND)
        rate(ratios, f"PostgresSink.write_many(1000), {policy}", benchmark, PER_ROUND)

    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_write_each(self, benchmark, url: str, policy: str, ratios: Ratios) -> None:
        size = 100 if policy == "every_event" else PER_ROUND
        source = batches(size)
        with PostgresSink(url, POLICIES[policy], node="n") as sink:
            end = durable(sink)  # type: ignore[arg-type]

            def run() -> None:
                for event in next(source):
                    sink.write(event)
                end()

            timed(benchmark, run, size)
        rate(ratios, f"PostgresSink.write, one thread, {policy}", benchmark, size)


class TestSpoolSink:
    @pytest.mark.parametrize("policy", ["group(1000, 100 ms)", "deferred(1000, 10 ms)"])
    @pytest.mark.parametrize("until", ["acknowledged", "delivered"])
    def test_write_each(
        self, benchmark, url: str, tmp_path: Path, policy: str, until: str, ratios: Ratios
    ) -> None:
        source = batches(PER_ROUND)
        with SpoolSink(tmp_path / "spool", url, node="n", flush=POLICIES[policy]) as sink:
            end = durable(sink)  # type: ignore[arg-type]

            def run() -> None:
                last = 0
                for event in next(source):
                    last = sink.write(event)
                end()
                if until == "delivered":
                    assert sink.wait_delivered(last, timeout=600)

            timed(benchmark, run, PER_ROUND)
        rate(ratios, f"SpoolSink.write, one thread, {policy}, until {until}", benchmark, PER_ROUND)


class TestEngine:
    @pytest.mark.parametrize("kind", ["PostgresSink", "SpoolSink"])
    def test_engine_decide(
        self, benchmark, url: str, tmp_path: Path, kind: str, ratios: Ratios
    ) -> None:
        book = cc.CodeBook()  # as bench_events' engine benchmarks have it
        book.set_group(
            "acme",
            cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"})),
        )
        book.add_codes("acme", [cc.CodeEntry(f"{n:04d}", "Sales") for n in range(1000)])
        policy = cc.FlushPolicy.deferred(1000, 10)
        sink: PostgresSink | SpoolSink
        if kind == "PostgresSink":
            sink = PostgresSink(url, policy, node="n")
        else:
            sink = SpoolSink(tmp_path / "spool", url, node="n", flush=policy)
        with sink:
            engine = cc.Engine(book, sink)

            def run() -> None:
                for code in CODES:
                    engine.decide(CALL, code)
                sink.flush()

            timed(benchmark, run, len(CODES))
        rate(ratios, f"Engine.decide, sink {kind} deferred(1000, 10 ms)", benchmark, len(CODES))
