"""The PostgreSQL event log against a real server: round trips, idempotent keys, partitions, purge.

Every test gets a new database on a throwaway server (see ``pgserver``); the outage tests stop
the server with SIGKILL and start it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callcodes as cc
from callcodes.cli import main
from callcodes.events.postgres import PostgresSink, purge_postgres, read_postgres
from callcodes.events.sqlite import purge_sqlite
from pgserver import PostgresServer
from strategies import events

START = datetime(2026, 1, 20, tzinfo=UTC)
POLICIES = {
    "every": cc.FlushPolicy.every_event(),
    "group": cc.FlushPolicy.group(50, 20),
    "deferred": cc.FlushPolicy.deferred(50, 20),
}
WRITER = Path(__file__).with_name("crash_writer.py")


def make(n: int, *, days: float = 0) -> cc.Event:
    """A small valid event; *n* sets its time (seconds after START, plus *days*) and call id."""
    return cc.Event(
        START + timedelta(days=days, seconds=n),
        "acme",
        f"user{n % 3}",
        "0114420",
        cc.CallType.INTERNATIONAL,
        cc.Mode.AUTHORIZATION,
        cc.Verdict.BLOCK,
        cc.Reason.INVALID_CODE,
        call_id=f"call-{n}",
        masked="****",
    )


def stored_keys(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT node, seq FROM events ORDER BY node, seq").fetchall()
    return [(str(node), int(seq)) for node, seq in rows]


def call_ids(url: str) -> list[str | None]:
    return [event.call_id for event in read_postgres(url)]


def empty(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE events")


def no_nul(event: cc.Event) -> bool:
    return not any(
        "\x00" in str(value)
        for value in (event.user, event.dialed, event.call_id, event.description, event.group)
    )


class TestRoundTrip:
    @pytest.mark.parametrize("policy", sorted(POLICIES))
    @settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(written=st.lists(events().filter(no_nul), max_size=8))
    def test_written_events_read_back_equal(
        self, pg_url: str, policy: str, written: list[cc.Event]
    ) -> None:
        """Any events read back equal, sorted by time; each is numbered and acknowledged."""
        empty_log = "events" in {t for (t,) in _tables(pg_url)}
        if empty_log:
            empty(pg_url)
        sink = PostgresSink(pg_url, POLICIES[policy], node="n1")
        last = sink.write_many(written)
        sink.close()
        assert sink.acknowledged == last
        assert list(read_postgres(pg_url)) == sorted(written, key=lambda e: e.time)

    def test_a_nul_character_is_kept_as_the_replacement_character(self, pg_url: str) -> None:
        """PostgreSQL text holds no NUL: the event is kept, with U+FFFD in its place."""
        event = make(0)
        bad = cc.Event(
            event.time,
            event.group,
            event.user,
            "0114\x0020",
            event.call_type,
            event.mode,
            event.verdict,
            event.reason,
            call_id="a\x00b",
            masked="****",
        )
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write(bad)
        (back,) = read_postgres(pg_url)
        assert (back.dialed, back.call_id) == ("0114\ufffd20", "a\ufffdb")

    def test_reports_read_a_postgres_log(self, pg_url: str) -> None:
        """read_events and the reports take the URL as they take a file."""
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write_many([make(n) for n in range(6)])
        assert [e.call_id for e in cc.read_events(pg_url)] == [f"call-{n}" for n in range(6)]
        rows = cc.report_events(pg_url, "acme", by="user")
        assert {(row.key, row.events) for row in rows} == {("user0", 2), ("user1", 2), ("user2", 2)}


def _tables(url: str) -> list[tuple[str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()


class TestIdempotentKeys:
    def test_numbers_go_on_after_a_reopen(self, pg_url: str) -> None:
        """A node's numbers continue where its stored events stop: no key is used twice."""
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write_many([make(0), make(1), make(2)])
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write_many([make(3), make(4)])
        with PostgresSink(pg_url, node="n2") as sink:
            sink.write(make(5))
        assert stored_keys(pg_url) == [("n1", k) for k in range(1, 6)] + [("n2", 1)]

    @pytest.mark.parametrize("size", [3, 40])  # a small batch goes by INSERT, a large by COPY
    def test_a_batch_sent_twice_is_stored_once(self, pg_url: str, size: int) -> None:
        """The resend path (an answer lost with the connection) stores each event once."""
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write_many([make(n) for n in range(size - 1)])
            rows = sink._encode([cc.events.event.row_of(make(n)) for n in range(size)])
            sink._writer.store(rows, 1)  # all but the last are stored already
        assert stored_keys(pg_url) == [("n1", k) for k in range(1, size + 1)]
        assert call_ids(pg_url) == [f"call-{n}" for n in range(size)]

    def test_a_broken_connection_is_replaced_and_nothing_doubles(self, pg_url: str) -> None:
        """The server ends the sink's session between writes: the next write reconnects."""
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write(make(0))
            pid = sink._writer._conn.info.backend_pid
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            sink.write(make(1))
            assert sink._writer._conn.info.backend_pid != pid
        assert call_ids(pg_url) == ["call-0", "call-1"]
        assert stored_keys(pg_url) == [("n1", 1), ("n1", 2)]

    def test_one_writer_per_node_name(self, pg_url: str) -> None:
        """A second writer asking for a name in use is refused, saying what to do."""
        with (
            PostgresSink(pg_url, node="n1"),
            pytest.raises(cc.ConflictError, match="give each writer its own node name"),
        ):
            PostgresSink(pg_url, node="n1")
        PostgresSink(pg_url, node="n1").close()  # free again once the first closed

    def test_processes_writing_at_once_lose_and_double_nothing(self, pg_url: str) -> None:
        """Four processes, each its own node, write 300 events each under every policy."""
        writers = [
            subprocess.Popen(
                [sys.executable, str(WRITER), "count", "postgres", pg_url, policy, "300", name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, policy in (("a", "every"), ("b", "group"), ("c", "deferred"), ("d", "group"))
        ]
        for writer in writers:
            _, err = writer.communicate(timeout=300)
            assert writer.returncode == 0, err
        keys = stored_keys(pg_url)
        assert len(keys) == len(set(keys)) == 1200
        for name in "abcd":
            assert [k for n, k in keys if n == name] == list(range(1, 301))


class TestOutage:
    def test_writes_fail_clearly_while_the_server_is_down_then_resume(
        self, postgres: PostgresServer, pg_url: str
    ) -> None:
        """SIGKILL the server: writes raise SinkError (not acknowledged); after a restart the
        sink connects again, and every acknowledged event is stored exactly once."""
        sink = PostgresSink(pg_url, node="n1")
        acknowledged = [sink.write(make(0))]
        postgres.kill()
        try:
            with pytest.raises(cc.SinkError, match=r"unreachable|not kept"):
                sink.write(make(1))
        finally:
            postgres.start()
        acknowledged.append(sink.write(make(2)))
        sink.close()
        stored = call_ids(pg_url)
        assert {"call-0", "call-2"} <= set(stored)
        assert len(stored) == len(set(stored))
        assert sink.acknowledged == acknowledged[-1]


class TestRetention:
    def test_months_are_partitions(self, pg_url: str) -> None:
        """Each month's events land in that month's partition, created on first use."""
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write_many([make(0), make(1, days=31), make(2, days=62)])
        names = sorted(t for (t,) in _tables(pg_url) if t.startswith("events_"))
        assert names == ["events_202601", "events_202602", "events_202603"]

    @settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        days=st.lists(st.floats(0, 120, allow_nan=False), min_size=1, max_size=12),
        cut=st.floats(-5, 130, allow_nan=False),
    )
    def test_purge_keeps_exactly_the_newer_events_on_both_backends(
        self, pg_url: str, days: list[float], cut: float
    ) -> None:
        """Purging before a time leaves exactly the events at or after it, on PostgreSQL
        (partitions dropped, the cut month trimmed) and on SQLite alike."""
        if any(t == "events" for (t,) in _tables(pg_url)):
            empty(pg_url)
            with psycopg.connect(pg_url) as conn:
                for (name,) in conn.execute(
                    "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'events\\_%'"
                ).fetchall():
                    conn.execute(f"DROP TABLE {name}")
        written = [make(n, days=d) for n, d in enumerate(days)]
        before = START + timedelta(days=cut)
        kept = sorted((e for e in written if e.time >= before), key=lambda e: e.time)
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write_many(written)
        assert purge_postgres(pg_url, before) == len(written) - len(kept)
        assert list(read_postgres(pg_url)) == kept
        with tempfile.TemporaryDirectory() as name:
            path = Path(name) / "events.db"
            with cc.SqliteSink(path) as sqlite_sink:
                sqlite_sink.write_many(written)
            assert purge_sqlite(path, before) == len(written) - len(kept)
            assert sorted(cc.read_events(path), key=lambda e: e.time) == kept


class TestPurgeCommand:
    """``callcodes events purge``: the same retention from the command line, on both backends."""

    @staticmethod
    def purge(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, ["--db", "unused.db", "events", *args], input=stdin)

    def test_purges_a_postgres_log_named_by_url(self, pg_url: str) -> None:
        with PostgresSink(pg_url, node="n1") as sink:
            sink.write_many([make(0), make(1, days=40)])
        result = self.purge("--log", pg_url, "purge", "--before", "2026-02-01", "--yes")
        assert result.exit_code == 0, result.output
        assert "removed 1 event(s) before 2026-02-01T00:00:00Z" in result.output
        assert call_ids(pg_url) == ["call-1"]

    def test_removes_nothing_without_yes(self, tmp_path: Path) -> None:
        """Without --yes it says what it would do and removes nothing; --json says what it did."""
        path = tmp_path / "events.db"
        with cc.SqliteSink(path) as sink:
            sink.write_many([make(0), make(1, days=40)])
        result = self.purge("--log", str(path), "purge", "--before", "2026-02-01")
        assert result.exit_code == 1
        assert "add --yes to confirm" in result.output
        assert len(list(cc.read_events(path))) == 2
        result = self.purge(
            "--log", str(path), "purge", "--before", "2026-02-01", "--yes", "--json"
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {
            "log": str(path),
            "before": "2026-02-01T00:00:00Z",
            "removed": 1,
        }
        assert [e.call_id for e in cc.read_events(path)] == ["call-1"]

    def test_a_json_lines_log_is_rotated_not_edited(self, tmp_path: Path) -> None:
        path = tmp_path / "events.jsonl"
        with cc.JsonlSink(path) as sink:
            sink.write(make(0))
        before = path.read_bytes()
        result = self.purge("--log", str(path), "purge", "--before", "2030-01-01", "--yes")
        assert result.exit_code == 1
        assert "rotate it" in result.output
        assert path.read_bytes() == before

    def test_an_unreachable_database_is_said_without_its_password(self) -> None:
        url = "postgresql://admin:s3cret@127.0.0.1:1/events"
        result = self.purge("--log", url, "purge", "--before", "2026-01-01", "--yes")
        assert result.exit_code == 1
        assert "unreachable" in result.output
        assert "s3cret" not in result.output
