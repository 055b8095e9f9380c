"""The spooled event log: a local journal first, the log after, each event once.

Into an SQLite file and into a real PostgreSQL server (see ``pgserver``): the writer killed
mid-stream, a delivery noted late (resent), a torn journal tail, segments rolled and removed,
a shipper of its own; and for PostgreSQL, the server killed and restarted while events flow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

import callcodes as cc
from callcodes.events import spool
from callcodes.events.postgres import PostgresSink
from callcodes.events.spool import SpoolSink, read_spool
from pgserver import PostgresServer
from test_events_postgres import make

WRITER = Path(__file__).with_name("crash_writer.py")
#: Generous: only a broken shipper takes this long, and then the test fails saying so.
DELIVERY_WAIT = 120.0


def stored_call_ids(log: str) -> list[str | None]:
    """The call ids of the events in *log* (a URL or an SQLite file), in their order there."""
    return [event.call_id for event in cc.read_events(log)] if stored_count(log) else []


def stored_count(log: str) -> int:
    """How many events *log* holds (0: none, or no log yet)."""
    if log.startswith("postgresql://"):
        with psycopg.connect(log) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0
    if not Path(log).exists():
        return 0
    with contextlib.closing(sqlite3.connect(log)) as conn:
        # The shipper may have created the file and not yet its tables.
        made = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone()
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0]) if made else 0


@pytest.fixture(params=["sqlite", "postgres"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The event log the journals ship to: an SQLite file, and a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    url: str = request.getfixturevalue("pg_url")
    return url


class TestDelivery:
    def test_events_reach_the_log_once_in_order(self, log: str, tmp_path: Path) -> None:
        """What is written is acknowledged from the journal and delivered, equal, once."""
        written = [make(n) for n in range(40)]
        with SpoolSink(tmp_path / "spool", log, node="a", flush=cc.FlushPolicy.group()) as sink:
            numbers = [sink.write(event) for event in written[:10]]
            last = sink.write_many(written[10:])
            assert numbers == list(range(1, 11))
            assert last == 40
            assert sink.wait_delivered(40, timeout=DELIVERY_WAIT)
        assert list(cc.read_events(log)) == written
        assert sink.delivered == 40

    def test_numbers_go_on_after_a_reopen(self, log: str, tmp_path: Path) -> None:
        folder = tmp_path / "spool"
        with SpoolSink(folder, log, node="a") as sink:
            sink.write_many([make(0), make(1)])
        with SpoolSink(folder, log, node="a") as sink:
            assert sink.write(make(2)) == 3
        assert stored_call_ids(log) == ["call-0", "call-1", "call-2"]
        with SpoolSink(folder, log, node="a") as sink:  # numbered on: nothing taken as sent
            assert sink.delivered == 3

    def test_one_writer_per_folder(self, log: str, tmp_path: Path) -> None:
        with (
            SpoolSink(tmp_path / "spool", log, node="a"),
            pytest.raises(cc.ConflictError, match="give each its own folder"),
        ):
            SpoolSink(tmp_path / "spool", log, node="b")


class TestShipperOfItsOwn:
    """A writer that only journals (``ship=False``), and a SpoolShipper delivering for it."""

    def test_a_shipper_delivers_a_growing_journal_once(self, log: str, tmp_path: Path) -> None:
        """Shipped between writes and after a torn line in flight: each event once, in order."""
        folder = tmp_path / "spool" / "node-1"
        with SpoolSink(folder, log, node="node-1", ship=False) as sink:
            shipper = spool.SpoolShipper(folder, log, node="node-1")
            try:
                sink.write_many([make(n) for n in range(10)])
                assert shipper.ship() == 10
                assert shipper.ship() == 0  # nothing new: nothing sent again
                sink.write_many([make(n) for n in range(10, 15)])
                segment = next(folder.glob("*.spool"))
                with segment.open("ab") as file:  # a record being appended, not whole yet
                    file.write(b"16\t0000")
                assert shipper.ship() == 5
                assert shipper.delivered == 15
            finally:
                shipper.close()
            with segment.open("r+b") as file:  # the writer's own record goes after 15
                file.truncate(segment.stat().st_size - len(b"16\t0000"))
        assert stored_call_ids(log) == [f"call-{n}" for n in range(15)]

    def test_a_folder_that_cannot_be_shipped_leaves_the_others_going(
        self, log: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A new journal under a node name the database holds events of is left, and said so."""
        root = tmp_path / "spool"
        with SpoolSink(tmp_path / "old", log, node="taken") as old:
            old.write(make(0))
            assert old.wait_delivered(1, timeout=DELIVERY_WAIT)
        for node, n in (("taken", 1), ("fine", 2)):
            with SpoolSink(root / node, log, node=node, ship=False) as sink:
                sink.write(make(n))
        stop = threading.Event()
        stop.set()  # one pass, then stop
        with caplog.at_level(logging.ERROR, logger="callcodes.events"):
            assert spool.ship_spools(root, log, stop=stop) == 1
        assert sorted(stored_call_ids(log)) == ["call-0", "call-2"]  # type: ignore[type-var]
        assert "taken" in caplog.text
        assert [seq for seq, _ in read_spool(root / "taken")] == [1]  # kept in its journal

    def test_one_shipper_per_folder(self, log: str, tmp_path: Path) -> None:
        folder = tmp_path / "spool"
        SpoolSink(folder, log, node="a", ship=False).close()
        first = spool.SpoolShipper(folder, log, node="a")
        try:
            with pytest.raises(cc.ConflictError, match="shipped by another process"):
                spool.SpoolShipper(folder, log, node="a")
        finally:
            first.close()

    def test_the_ship_command_delivers_every_folder_and_stops_on_sigterm(
        self, postgres: PostgresServer, pg_url: str, tmp_path: Path
    ) -> None:
        """`callcodes events ship SPOOL`: every writer's folder, through an outage, once."""
        root = tmp_path / "spool"
        PostgresSink(pg_url, node="other").close()  # the tables exist, as on a running fleet
        writers = [SpoolSink(root / f"w{n}", pg_url, node=f"w{n}", ship=False) for n in (1, 2)]
        argv = [sys.executable, "-m", "callcodes", "events", "--log", pg_url, "ship", str(root)]
        shipper = subprocess.Popen(
            [*argv, "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        try:
            for n, writer in enumerate(writers):
                writer.write_many([make(100 * n + k) for k in range(20)])
            wait_until(lambda: stored_count(pg_url) == 40)
            postgres.kill()
            try:
                for n, writer in enumerate(writers):
                    writer.write_many([make(100 * n + k) for k in range(20, 30)])
            finally:
                postgres.start()
            wait_until(lambda: stored_count(pg_url) == 60)
        finally:
            shipper.send_signal(signal.SIGTERM)
            out, _ = shipper.communicate(timeout=DELIVERY_WAIT)
            assert shipper.returncode == 0
            for writer in writers:
                writer.close()
        assert json.loads(out)["delivered"] == 60
        expected = {f"call-{100 * n + k}" for n in (0, 1) for k in range(30)}
        ids = stored_call_ids(pg_url)
        assert sorted(ids) == sorted(expected)  # type: ignore[type-var]

    def test_the_ship_command_delivers_into_an_sqlite_file(self, tmp_path: Path) -> None:
        """`callcodes events --log FILE ship SPOOL`: a Kamailio node's journals into its file."""
        root, log = tmp_path / "spool", str(tmp_path / "events.db")
        writers = [SpoolSink(root / f"w{n}", log, node=f"w{n}", ship=False) for n in (1, 2)]
        argv = [sys.executable, "-m", "callcodes", "events", "--log", log, "ship", str(root)]
        shipper = subprocess.Popen(
            [*argv, "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        try:
            for round_ in range(2):  # written while the shipper runs, in two rounds
                for n, writer in enumerate(writers):
                    writer.write_many([make(100 * n + 10 * round_ + k) for k in range(10)])
                wait_until(lambda r=round_: stored_count(log) == 20 * (r + 1))
        finally:
            shipper.send_signal(signal.SIGTERM)
            out, _ = shipper.communicate(timeout=DELIVERY_WAIT)
            for writer in writers:
                writer.close()
        assert shipper.returncode == 0
        assert json.loads(out)["delivered"] == 40
        expected = [f"call-{100 * n + k}" for n in (0, 1) for k in range(20)]
        assert sorted(stored_call_ids(log)) == sorted(expected)  # type: ignore[type-var]

    def test_the_ship_command_refuses_a_log_it_cannot_write(self, tmp_path: Path) -> None:
        """A JSON Lines log (or any file that is not SQLite) is refused at once, in one line."""
        log = tmp_path / "events.jsonl"
        log.write_text("{}\n")
        argv = [sys.executable, "-m", "callcodes", "events", "--log", str(log), "ship"]
        done = subprocess.run(
            [*argv, str(tmp_path / "spool")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert "is neither" in done.stderr
        assert log.read_text() == "{}\n"


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll *condition* until true; fail after DELIVERY_WAIT seconds."""
    deadline = time.monotonic() + DELIVERY_WAIT
    while not condition():
        assert time.monotonic() < deadline, "not delivered in time"
        time.sleep(0.02)


class TestOutage:
    def test_a_database_outage_loses_and_doubles_nothing(
        self, postgres: PostgresServer, pg_url: str, tmp_path: Path
    ) -> None:
        """SIGKILL the server while events flow: writes go on (acknowledged from the journal);
        after a restart every event is delivered, exactly once."""
        sink = SpoolSink(tmp_path / "spool", pg_url, node="a", flush=cc.FlushPolicy.group())
        try:
            sink.write_many([make(n) for n in range(20)])
            assert sink.wait_delivered(20, timeout=DELIVERY_WAIT)
            postgres.kill()
            try:
                for n in range(20, 120):
                    assert sink.write(make(n)) == n + 1  # acknowledged: in the journal
                assert sink.acknowledged == 120
                assert sink.delivered < 120
            finally:
                postgres.start()
            assert sink.wait_delivered(120, timeout=DELIVERY_WAIT)
        finally:
            sink.close()
        assert stored_call_ids(pg_url) == [f"call-{n}" for n in range(120)]

    def test_a_sink_opens_and_records_while_the_database_is_down(
        self, postgres: PostgresServer, pg_url: str, tmp_path: Path
    ) -> None:
        """Opened during an outage, the sink records to its journal; close leaves the events
        there; the next opening delivers them once the database is back."""
        folder = tmp_path / "spool"
        PostgresSink(pg_url, node="other").close()  # the tables exist, as on a running fleet
        postgres.kill()
        try:
            with SpoolSink(folder, pg_url, node="a", close_wait=0.2) as sink:
                sink.write_many([make(n) for n in range(5)])
                assert sink.acknowledged == 5
        finally:
            postgres.start()
        assert [seq for seq, _ in read_spool(folder)] == [1, 2, 3, 4, 5]
        with SpoolSink(folder, pg_url, node="a") as sink:
            assert sink.wait_delivered(5, timeout=DELIVERY_WAIT)
        assert stored_call_ids(pg_url) == [f"call-{n}" for n in range(5)]

    def test_a_delivery_noted_late_is_resent_and_stored_once(
        self, log: str, tmp_path: Path
    ) -> None:
        """A crash after storing a batch but before noting it: the batch goes again, once."""
        folder = tmp_path / "spool"
        with SpoolSink(folder, log, node="a") as sink:
            sink.write_many([make(n) for n in range(10)])
        (folder / "delivered").write_text("3\n")  # as if the last notes were lost
        with SpoolSink(folder, log, node="a") as sink:
            assert sink.wait_delivered(10, timeout=DELIVERY_WAIT)
            sink.write(make(10))
        assert stored_count(log) == 11
        assert stored_call_ids(log) == [f"call-{n}" for n in range(11)]

    @pytest.mark.parametrize("policy", ["every", "deferred"])
    def test_a_killed_writer_loses_no_acknowledged_event(
        self, log: str, tmp_path: Path, policy: str
    ) -> None:
        """SIGKILL the writing process three times; each reopening ships what was left: every
        acknowledged event is in the database once."""
        folder = tmp_path / "spool"
        env = {**os.environ, "CALLCODES_TEST_URL": log}
        acknowledged: set[str] = set()
        rng = random.Random(policy)
        for round_ in range(3):
            child = subprocess.Popen(
                [
                    sys.executable,
                    str(WRITER),
                    "forever",
                    "spool",
                    str(folder),
                    policy,
                    f"r{round_}",
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert child.stdout is not None
            for _ in range(rng.randint(50, 400)):
                line = child.stdout.readline()
                assert line, "the writer stopped early"
                acknowledged.add(line.strip())
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            child.stdout.close()
        with SpoolSink(folder, log, node="spooler") as sink:
            assert sink.wait_delivered(sink.journaled, timeout=DELIVERY_WAIT)
        stored = stored_call_ids(log)
        assert len(stored) == len(set(stored))
        assert not acknowledged - set(stored)


class TestJournal:
    def test_a_torn_tail_is_set_aside_and_numbers_go_on(
        self, log: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        folder = tmp_path / "spool"
        with SpoolSink(folder, log, node="a") as sink:
            sink.write_many([make(0), make(1)])
        (segment,) = folder.glob("*.spool")
        with segment.open("ab") as file:
            file.write(b"3\t0000")  # a record cut short by a killed writer
        with caplog.at_level(logging.WARNING), SpoolSink(folder, log, node="a") as sink:
            assert sink.write(make(2)) == 3
            assert sink.wait_delivered(3, timeout=DELIVERY_WAIT)
        assert (folder / f"{segment.name}.torn").read_bytes() == b"3\t0000"
        assert "torn tail" in caplog.text
        assert stored_call_ids(log) == ["call-0", "call-1", "call-2"]

    def test_segments_roll_and_delivered_ones_are_removed(
        self, log: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(spool, "SEGMENT_RECORDS", 10)
        folder = tmp_path / "spool"
        with SpoolSink(folder, log, node="a") as sink:
            for n in range(35):
                sink.write(make(n))
            assert sink.wait_delivered(35, timeout=DELIVERY_WAIT)
        assert [p.name for p in folder.glob("*.spool")] == [f"{31:020d}.spool"]
        assert stored_call_ids(log) == [f"call-{n}" for n in range(35)]

    def test_a_new_journal_never_reuses_a_node_name_with_stored_events(
        self, log: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Its numbers would repeat stored keys and be dropped: nothing is shipped, and the
        events stay in the journal while the log says what to do."""
        with SpoolSink(tmp_path / "first", log, node="a") as sink:
            sink.write(make(0))
        with (
            caplog.at_level(logging.WARNING),
            SpoolSink(tmp_path / "second", log, node="a", close_wait=0.5) as sink,
        ):
            sink.write(make(1))
            assert not sink.wait_delivered(1, timeout=0.5)
        assert "give this node another name" in caplog.text
        assert [e.call_id for _, e in read_spool(tmp_path / "second")] == ["call-1"]
        assert stored_call_ids(log) == ["call-0"]
