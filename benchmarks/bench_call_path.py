"""A Kamailio worker's work per call, in a loop outside Kamailio: recording, and the whole path.

Recording an event: a worker's journal append (``SpoolSink``, what a worker with a spool
does, synced every 1000 events), against the SQLite transaction a worker without a spool makes
(``TurnSink``), and a raw ``os.write`` of a line of the same size (the floor). The call path:
a worker opened outside Kamailio on bench_kamailio.py's realistic policy (1,000 groups) and
traffic, each call read (``read_dialed``: code, dial plan) and decided by the engine, which
records its event in the journal; the reference is a bare ``dict.get`` per call on the same
strings. Medians per event or per call.

    pytest benchmarks/bench_call_path.py -p no:cacheprovider --benchmark-enable \
        -o python_files='bench_*.py' -s
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import kamailio_traffic as traffic
from callcodes._sqlite import Turns
from callcodes.dialplan.intake import read_dialed
from callcodes.events.event import row_of, row_to_json
from callcodes.events.sinks import FlushPolicy
from callcodes.events.spool import SpoolSink
from callcodes.integrations.kamailio._turns import TurnSink
from callcodes.integrations.kamailio._worker import Worker
from callcodes.integrations.kamailio.config import KamailioConfig
from conftest import Ratios

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_events_postgres import make  # the tests' event maker

EVENTS = 2000  # per round
CALLS = 5000  # per round


def events() -> Iterator[object]:
    return itertools.cycle([make(n) for n in range(100)])


def test_raw_os_write(benchmark, tmp_path: Path, ratios: Ratios) -> None:
    line = (row_to_json(row_of(make(0))) + "\n").encode()
    fd = os.open(tmp_path / "raw", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        benchmark.pedantic(lambda: [os.write(fd, line) for _ in range(EVENTS)], rounds=5)
    finally:
        os.close(fd)
    ratios.record("raw os.write of one event's line", benchmark, EVENTS)


def test_journal_append(benchmark, tmp_path: Path, ratios: Ratios) -> None:
    source = events()
    flush = FlushPolicy(1000, None)
    with SpoolSink(
        tmp_path / "spool", str(tmp_path / "ev.db"), node="n", flush=flush, ship=False
    ) as sink:
        benchmark.pedantic(lambda: [sink.write(next(source)) for _ in range(EVENTS)], rounds=5)
    ratios.record("journal append (SpoolSink), sync every 1000", benchmark, EVENTS)
    ratios.report("journal append (SpoolSink), sync every 1000", "raw os.write of one event's line")


def test_sqlite_commit(benchmark, tmp_path: Path, ratios: Ratios) -> None:
    source = events()
    path = tmp_path / "ev.db"
    turns = Turns(path)
    with TurnSink(path, FlushPolicy(1000, None), turns) as sink:
        benchmark.pedantic(lambda: [sink.write(next(source)) for _ in range(EVENTS)], rounds=5)
    turns.close()
    ratios.record("SQLite transaction per event (TurnSink), sync every 1000", benchmark, EVENTS)
    ratios.report(
        "SQLite transaction per event (TurnSink), sync every 1000",
        "raw os.write of one event's line",
    )


def realistic_worker(policy: Path, run: Path) -> Worker:
    """A worker opened outside Kamailio on the realistic *policy*, journaling under *run*."""
    config = KamailioConfig.from_dict(
        {
            "store": str(policy),
            "events": str(run / "events.db"),
            "spool": str(run / "spool"),
            "gateway": "sip:192.0.2.1",
            "sync_every": 1000,
            "refresh_ms": 1000,
            "dial_plan": {"region": "US", "extensions": ["1000-1999"], "outside_prefix": "9"},
        }
    )
    return Worker.open(config, rank=1)


def decide_each(worker: Worker, rows: list[list[str]], numbers: Iterator[int]) -> None:
    """Read and decide each call of *rows* as a Kamailio worker does (the event journaled)."""
    for user, domain, dialed in rows:
        engine = worker.refreshed()
        taken = read_dialed(
            worker.plan_for(domain),
            worker.settings(domain),
            domain,
            user,
            dialed,
            call_id=f"c{next(numbers)}",
        )
        assert taken.call is not None
        engine.decide(taken.call, taken.code)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Worker, list[list[str]]]:
    work = tmp_path_factory.mktemp("call-path")
    traffic.make_store(work / "policy.db")
    found = traffic.write_calls(work / "calls.csv", CALLS * 3)
    rows = [row.split(";") for row in found.path.read_text().splitlines()[1:]]
    return realistic_worker(work / "policy.db", work), rows


def test_dict_get_per_call(benchmark, realistic, ratios: Ratios) -> None:
    _, rows = realistic
    table = {dialed: user for user, _domain, dialed in rows}
    batch = [dialed for _user, _domain, dialed in rows[:CALLS]]
    benchmark.pedantic(lambda: [table.get(dialed) for dialed in batch], rounds=5)
    ratios.record("dict.get per call", benchmark, CALLS)


def test_realistic_call_path(benchmark, realistic, ratios: Ratios) -> None:
    worker, rows = realistic
    batches = itertools.cycle([rows[n : n + CALLS] for n in range(0, len(rows), CALLS)])
    counter = itertools.count()

    def run() -> None:
        decide_each(worker, next(batches), counter)

    benchmark.pedantic(run, rounds=6, warmup_rounds=1)
    ratios.record("realistic call: read_dialed + decide + journal", benchmark, CALLS)
    ratios.report("realistic call: read_dialed + decide + journal", "dict.get per call")
