"""Several nodes on PostgreSQL: change propagation, and decisions while the database is away.

Propagation: from an administrator's commit to another node's book, beside a bare ``NOTIFY``
delivered to a ``LISTEN`` in the same run. Outage: decisions per second of an engine that
records through a ``SpoolSink``, with the database up and killed, beside the same engine
without an event log.

A node waits on its ChangeListener in a thread and refreshes its book when woken; the
administrator adds one code per sample on another connection. The delay of a sample runs from
the start of the administrator's write (so the write itself is counted) to the moment the
node's book holds the code; the reference runs from a bare ``NOTIFY`` to its delivery on
another connection. Medians and 99th percentiles of 200 samples each. The server is a
throwaway one, as the tests start theirs. The change check a Kamailio worker makes before each
INVITE (``ListenWatch.stale`` on PostgreSQL, ``StoreWatch.stale`` on SQLite) is timed beside a
bare ``dict.get``.

    pytest benchmarks/bench_cluster.py -p no:cacheprovider -o python_files='bench_*.py' -s
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import callcodes as cc
from callcodes.events.spool import SpoolSink
from callcodes.integrations.kamailio._watch import ListenWatch, StoreWatch
from callcodes.store import PolicyStore
from callcodes.store.postgres import ChangeListener, PostgresPolicyStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgserver import PostgresServer, running_server

SAMPLES = 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with running_server(tmp_path_factory.mktemp("apt") / "apt.log") as started:
        yield started


def percentiles(delays: list[float]) -> str:
    cut = statistics.quantiles(delays, n=100)
    return f"p50 {statistics.median(delays) * 1e3:.2f} ms, p99 {cut[98] * 1e3:.2f} ms"


def test_notify_round_trip(server: PostgresServer) -> None:
    url = server.create_database("notify")
    delays = []
    with (
        psycopg.connect(url, autocommit=True) as listen,
        psycopg.connect(url, autocommit=True) as send,
    ):
        listen.execute("LISTEN bench")
        for _ in range(SAMPLES):
            start = time.perf_counter()
            send.execute("NOTIFY bench")
            for _ in listen.notifies(timeout=10, stop_after=1):
                break
            delays.append(time.perf_counter() - start)
    print(f"\nbare NOTIFY to LISTEN: {percentiles(delays)}")


def test_change_reaches_another_nodes_book(server: PostgresServer) -> None:
    url = server.create_database("cluster")
    admin = PostgresPolicyStore(url)
    admin.set_group("acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, code_length=6), actor="a")
    node = PostgresPolicyStore(url)
    book = node.load()
    seen: dict[str, float] = {}
    stop = threading.Event()
    ready = threading.Event()

    def run_node() -> None:
        listener = ChangeListener(url)
        ready.set()
        try:
            while not stop.is_set():
                if listener.wait(0.2) and node.refresh(book):
                    now = time.perf_counter()
                    for entry in book.codes("acme", limit=None):
                        seen.setdefault(entry.code, now)
        finally:
            listener.close()

    thread = threading.Thread(target=run_node)
    thread.start()
    ready.wait(30)
    delays = []
    try:
        for n in range(SAMPLES):
            code = f"{n:06d}"
            start = time.perf_counter()
            admin.add_codes("acme", [code], actor="a")
            deadline = time.monotonic() + 30
            while code not in seen and time.monotonic() < deadline:
                time.sleep(0.0002)  # the benchmark's own polling of the result, not a wait for it
            assert code in seen, f"{code} never reached the node"
            delays.append(seen[code] - start)
    finally:
        stop.set()
        thread.join(30)
        admin.close()
        node.close()
    print(f"\nadministrator's commit to another node's book: {percentiles(delays)}")


def _rate(engine: cc.Engine, call: cc.Call, sink: object | None, rounds: int = 5) -> float:
    """Decisions per second: the median of *rounds* rounds of 10,000, each ended by a flush."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(10_000):
            engine.decide(call, "1234")
        if sink is not None:
            sink.flush()  # type: ignore[attr-defined]
        rates.append(10_000 / (time.perf_counter() - start))
    return statistics.median(rates)


def test_decisions_while_the_database_is_away(server: PostgresServer, tmp_path: Path) -> None:
    """The engine records through the spool: with the database up, then killed, beside the
    same engine without an event log; every event is delivered once it is back."""
    url = server.create_database("outage")
    book = cc.CodeBook()
    book.set_group(
        "acme",
        cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"})),
    )
    book.add_codes("acme", [cc.CodeEntry("1234", "Sales")])
    call = cc.Call("acme", "alice", "011442071234567", cc.CallType.INTERNATIONAL, "c-1")
    bare = _rate(cc.Engine(book), call, None)
    sink = SpoolSink(tmp_path / "spool", url, node="n", flush=cc.FlushPolicy.deferred(1000, 10))
    try:
        engine = cc.Engine(book, sink)
        up = _rate(engine, call, sink)
        server.kill()
        try:
            down = _rate(engine, call, sink)
        finally:
            server.start()
        assert sink.wait_delivered(sink.written, timeout=600)
    finally:
        sink.close()
    print(
        f"\ndecisions/s: no event log {bare:,.0f}; spooled, database up {up:,.0f}; "
        f"spooled, database killed {down:,.0f}"
    )


def test_change_check_per_invite(server: PostgresServer, tmp_path: Path) -> None:
    """What a worker pays per INVITE to know whether the policy changed, nothing having."""
    url = server.create_database("watch")
    PostgresPolicyStore(url).close()
    file = tmp_path / "policy.db"
    PolicyStore(file).close()
    listen, watch = ListenWatch(url), StoreWatch(file)
    table: dict[int, int] = {}
    rounds = 50_000
    try:
        timings = {}
        for name, check in (
            ("dict.get (reference)", lambda: table.get(1)),
            ("ListenWatch.stale (PostgreSQL)", listen.stale),
            ("StoreWatch.stale (SQLite)", watch.stale),
        ):
            best = min(_per_call(check, rounds) for _ in range(5))
            timings[name] = best
        for name, best in timings.items():
            print(f"\n{name:32s} {best * 1e6:6.2f} us per INVITE")
    finally:
        listen.close()
        watch.close()


def _per_call(check: Callable[[], object], rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        check()
    return (time.perf_counter() - start) / rounds
