"""Event sinks: round trips, durability under SIGKILL, threads and processes, and bad input."""

from __future__ import annotations

import errno
import logging
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from callcodes.events._commit import GroupCommitSink
from callcodes.events.event import row_of
from callcodes.events.sinks import DurableSink
from callcodes.events.sqlite import EVENTS_TABLE_VERSION, EVENTS_V1, INSERT, sql_row
from strategies import events

WRITER = Path(__file__).with_name("crash_writer.py")
START = datetime(2024, 6, 1, tzinfo=UTC)
KINDS = ("memory", "jsonl", "sqlite")
FILE_KINDS = ("jsonl", "sqlite")
FileSink = cc.JsonlSink | cc.SqliteSink
GROUP = cc.FlushPolicy.group(50, 20)
DEFERRED = cc.FlushPolicy.deferred(50, 20)
#: Due only after a million events or an hour: only flush, close or the exit write a batch.
HELD = cc.FlushPolicy.deferred(1_000_000, 3_600_000)
POLICIES = {"every": cc.FlushPolicy.every_event(), "group": GROUP, "deferred": DEFERRED}
#: A memory sink, and each file sink under both batched policies.
SINK_POLICIES = [("memory", "group")] + [(k, p) for k in FILE_KINDS for p in ("group", "deferred")]


def make(n: int, group: str = "acme", *, call_id: str | None = None) -> cc.Event:
    """A small valid event; *n* sets its time and call id."""
    return cc.Event(
        START + timedelta(seconds=n),
        group,
        f"user{n % 3}",
        "0114420",
        cc.CallType.INTERNATIONAL,
        cc.Mode.AUTHORIZATION,
        cc.Verdict.BLOCK,
        cc.Reason.INVALID_CODE,
        call_id=call_id or f"call-{n}",
        masked="****",
    )


def open_sink(
    kind: str, directory: Path, flush: cc.FlushPolicy | None = None, **options: object
) -> cc.MemorySink | cc.JsonlSink | cc.SqliteSink:
    if kind == "memory":
        return cc.MemorySink()
    if kind == "jsonl":
        return cc.JsonlSink(directory / "events.jsonl", flush, **options)  # type: ignore[arg-type]
    return cc.SqliteSink(directory / "events.db", flush, **options)  # type: ignore[arg-type]


def log_path(kind: str, directory: Path) -> Path:
    return directory / ("events.jsonl" if kind == "jsonl" else "events.db")


def run_writer(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, str(WRITER), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **options,
    )


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any user may enter (pytest's own base directory is private to its owner)."""
    with tempfile.TemporaryDirectory() as name:
        Path(name).chmod(0o755)
        yield Path(name)


class TestFlushPolicy:
    def test_default_syncs_every_event(self) -> None:
        """The default policy syncs each write."""
        assert cc.FlushPolicy() == cc.FlushPolicy.every_event()
        assert cc.FlushPolicy().syncs_each_write

    def test_group_policy(self) -> None:
        """A group policy keeps its N and T and does not sync each write."""
        policy = cc.FlushPolicy.group(events=200, ms=5)
        assert (policy.events, policy.ms, policy.syncs_each_write) == (200, 5, False)

    def test_deferred_policy(self) -> None:
        """A deferred policy keeps its N and T, defers, and does not sync each write."""
        policy = cc.FlushPolicy.deferred(events=200, ms=5)
        assert (policy.events, policy.ms, policy.defer) == (200, 5, True)
        assert not policy.syncs_each_write
        assert not cc.FlushPolicy.group().defer

    @pytest.mark.parametrize(
        ("events_", "ms"), [(0, None), (-1, None), (1.5, None), (10, 0), (10, -5), (10, "1")]
    )
    def test_bad_policies_are_refused(self, events_: object, ms: object) -> None:
        """N below 1, a non-positive or non-numeric T are refused with a clear error."""
        with pytest.raises(cc.InvalidValueError):
            cc.FlushPolicy(events_, ms)  # type: ignore[arg-type]

    def test_deferred_needs_a_time_bound(self) -> None:
        """Deferring without a time bound is refused: a quiet line would never be acknowledged."""
        with pytest.raises(cc.InvalidValueError, match="needs a time bound"):
            cc.FlushPolicy(100, None, defer=True)
        with pytest.raises(cc.InvalidValueError, match="True or False"):
            cc.FlushPolicy(100, 10, defer=1)  # type: ignore[arg-type]

    def test_sink_refuses_what_is_not_a_policy(self, tmp_path: Path) -> None:
        """Passing something else as flush policy is refused."""
        with pytest.raises(cc.InvalidValueError, match="FlushPolicy"):
            cc.JsonlSink(tmp_path / "e.jsonl", "group")  # type: ignore[arg-type]


class TestRoundTrip:
    @pytest.mark.parametrize(("kind", "policy"), SINK_POLICIES)
    @given(st.lists(events(), max_size=8), st.integers(0, 8))
    def test_written_events_read_back_equal(
        self, kind: str, policy: str, written: list[cc.Event], split: int
    ) -> None:
        """Any events, written one by one and in a batch, read back equal and in order.

        Each write returns its event's sequence number; a batch returns its last one's.
        """
        with tempfile.TemporaryDirectory() as name:
            sink = open_sink(kind, Path(name), POLICIES[policy])
            numbers = [sink.write(event) for event in written[:split]]
            numbers.append(sink.write_many(written[split:]))
            assert numbers == [*range(1, len(written[:split]) + 1), len(written)]
            source = sink if kind == "memory" else log_path(kind, Path(name))
            sink.close()
            assert sink.acknowledged == len(written)
            assert list(cc.read_events(source)) == written

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_reopened_log_keeps_and_appends(self, kind: str, tmp_path: Path) -> None:
        """A log closed and opened again keeps its events and takes new ones after them."""
        with open_sink(kind, tmp_path) as sink:
            sink.write_many([make(0), make(1)])
        with open_sink(kind, tmp_path) as sink:
            sink.write(make(2))
        ids = [e.call_id for e in cc.read_events(log_path(kind, tmp_path))]
        assert ids == ["call-0", "call-1", "call-2"]

    @pytest.mark.parametrize("kind", KINDS)
    def test_write_refuses_what_is_not_an_event(self, kind: str, tmp_path: Path) -> None:
        """write and write_many take Events only, and write nothing otherwise."""
        with open_sink(kind, tmp_path) as sink:
            with pytest.raises(cc.InvalidValueError, match="must be an Event"):
                sink.write({"group": "acme"})  # type: ignore[arg-type]
            with pytest.raises(cc.InvalidValueError, match="must be an Event"):
                sink.write_many([make(0), "event"])  # type: ignore[list-item]
            source = sink if kind == "memory" else log_path(kind, tmp_path)
            assert list(cc.read_events(source)) == []

    @pytest.mark.parametrize("kind", KINDS)
    def test_closed_sink_refuses_writes(self, kind: str, tmp_path: Path) -> None:
        """A write after close raises SinkError; close twice is harmless."""
        sink = open_sink(kind, tmp_path)
        sink.close()
        sink.close()
        with pytest.raises(cc.SinkError, match="closed"):
            sink.write(make(0))

    @pytest.mark.parametrize("kind", KINDS)
    def test_sinks_follow_the_protocol(self, kind: str, tmp_path: Path) -> None:
        """Every built-in sink is a Sink, and a DurableSink: it numbers and acknowledges."""
        with open_sink(kind, tmp_path) as sink:
            assert isinstance(sink, cc.Sink)
            assert isinstance(sink, DurableSink)


class TestMemorySink:
    def test_full_sink_refuses_with_advice(self) -> None:
        """A full memory sink raises SinkError; it never drops an event silently."""
        sink = cc.MemorySink(capacity=2)
        sink.write_many([make(0), make(1)])
        with pytest.raises(cc.SinkError, match="full"):
            sink.write(make(2))
        with pytest.raises(cc.SinkError, match="full"):
            sink.write_many([make(3)])
        assert [e.call_id for e in sink.events()] == ["call-0", "call-1"]

    def test_evicting_sink_keeps_the_newest_and_counts(self) -> None:
        """With evict=True the oldest events make room, and evicted counts them."""
        sink = cc.MemorySink(capacity=2, evict=True)
        for n in range(5):
            sink.write(make(n))
        assert [e.call_id for e in sink.events()] == ["call-3", "call-4"]
        assert sink.evicted == 3

    def test_clear_empties(self) -> None:
        """clear drops every event held."""
        sink = cc.MemorySink()
        sink.write(make(0))
        sink.clear()
        assert (len(sink), sink.events()) == (0, [])

    @pytest.mark.parametrize("capacity", [0, -1, 1.5, "10"])
    def test_bad_capacity(self, capacity: object) -> None:
        """A capacity below 1 or not an integer is refused."""
        with pytest.raises(cc.InvalidValueError, match="capacity"):
            cc.MemorySink(capacity)  # type: ignore[arg-type]


class TestSyncs:
    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_every_event_syncs_each_write(self, kind: str, tmp_path: Path) -> None:
        """Under every_event, each acknowledged write was synced."""
        with open_sink(kind, tmp_path, cc.FlushPolicy.every_event()) as sink:
            for n in range(3):
                sink.write(make(n))
            assert isinstance(sink, FileSink)
            assert sink._syncs == 3

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_group_syncs_after_n_events(self, kind: str, tmp_path: Path) -> None:
        """Under group(N), the N-th event since the last sync triggers a sync."""
        clock = FakeClock()
        with open_sink(kind, tmp_path, cc.FlushPolicy.group(5, None), clock=clock) as sink:
            assert isinstance(sink, FileSink)
            sink.write_many([make(n) for n in range(4)])
            assert sink._syncs == 0
            sink.write(make(4))
            assert sink._syncs == 1

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_group_syncs_when_the_time_bound_passes(self, kind: str, tmp_path: Path) -> None:
        """Under group(N, T), a write T ms after the oldest unsynced event syncs them all."""
        clock = FakeClock()
        with open_sink(kind, tmp_path, cc.FlushPolicy.group(1000, 50), clock=clock) as sink:
            assert isinstance(sink, FileSink)
            sink.write(make(0))
            clock.now = 0.049
            sink.write(make(1))
            assert sink._syncs == 0
            clock.now = 0.050
            sink.write(make(2))
            assert sink._syncs == 1

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_timer_syncs_when_writes_stop(self, kind: str, tmp_path: Path) -> None:
        """Under group(N, T), the sink's timer syncs an idle tail once T has passed."""
        synced = threading.Event()
        base = cc.JsonlSink if kind == "jsonl" else cc.SqliteSink

        class Watched(base):  # type: ignore[misc, valid-type]
            def _sync(self) -> None:
                super()._sync()
                synced.set()

        clock = FakeClock()
        sink = Watched(log_path(kind, tmp_path), cc.FlushPolicy.group(1000, 5), clock=clock)
        try:
            sink.write(make(0))
            assert not synced.is_set()
            clock.now = 1.0
            assert synced.wait(timeout=60), "the timer never synced"
            assert sink._unsynced == 0
        finally:
            sink.close()

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_close_while_the_timer_waits_to_sync(self, kind: str, tmp_path: Path) -> None:
        """Closing while the sync timer waits for a writer finishes: close never blocks it."""
        timer_waiting = threading.Event()
        base = cc.JsonlSink if kind == "jsonl" else cc.SqliteSink

        class Watched(base):  # type: ignore[misc, valid-type]
            def _exclusive(self, action: object) -> None:
                if threading.current_thread() is self._timer:
                    timer_waiting.set()
                super()._exclusive(action)

        clock = FakeClock()
        for round_ in range(10):
            timer_waiting.clear()
            sink = Watched(log_path(kind, tmp_path), cc.FlushPolicy.group(1000, 1), clock=clock)
            sink.write(make(round_))
            with sink._cond:
                sink._busy = True  # as if a leader were writing
            clock.now += 1.0  # the tail is due: the timer comes and waits for the "leader"
            assert timer_waiting.wait(timeout=60), "the timer never tried to sync"
            closer = threading.Thread(target=sink.close, daemon=True)
            closer.start()
            with sink._cond:
                sink._busy = False  # the "leader" is done; close and the timer race for I/O
                sink._cond.notify_all()
            closer.join(timeout=60)
            assert not closer.is_alive(), f"close hung in round {round_}"
        assert len(list(cc.read_events(log_path(kind, tmp_path)))) == 10

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_flush_and_close_sync_the_tail(self, kind: str, tmp_path: Path) -> None:
        """flush syncs what was written since the last sync; close syncs the rest."""
        sink = open_sink(kind, tmp_path, cc.FlushPolicy.group(1000, None))
        assert isinstance(sink, FileSink)
        sink.write(make(0))
        sink.flush()
        assert (sink._syncs, sink._unsynced) == (1, 0)
        sink.flush()
        assert sink._syncs == 1
        sink.write(make(1))
        sink.close()
        assert sink._syncs == 2


class TestDeferred:
    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_write_returns_before_the_event_is_kept(self, kind: str, tmp_path: Path) -> None:
        """A deferred write returns at once, unacknowledged; flush writes, syncs, acknowledges."""
        with open_sink(kind, tmp_path, HELD) as sink:
            assert isinstance(sink, FileSink)
            assert [sink.write(make(0)), sink.write_many([make(1), make(2)])] == [1, 3]
            assert (sink.written, sink.acknowledged) == (3, 0)
            assert list(cc.read_events(log_path(kind, tmp_path))) == []
            sink.flush()
            assert (sink.written, sink.acknowledged, sink._syncs) == (3, 3, 1)
            assert len(list(cc.read_events(log_path(kind, tmp_path)))) == 3

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_a_full_batch_is_written_and_synced(self, kind: str, tmp_path: Path) -> None:
        """The N-th waiting event makes a batch: written and synced without a flush."""
        with open_sink(kind, tmp_path, cc.FlushPolicy.deferred(5, 3_600_000)) as sink:
            assert isinstance(sink, FileSink)
            sink.write_many([make(n) for n in range(4)])
            assert sink.acknowledged == 0
            seq = sink.write(make(4))
            assert sink.wait_durable(seq, timeout=60)
            assert sink._syncs == 1
            assert len(list(cc.read_events(log_path(kind, tmp_path)))) == 5

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_time_bound_writes_a_quiet_tail(self, kind: str, tmp_path: Path) -> None:
        """T ms after the first waiting event (on the sink's clock), the flusher writes it."""
        clock = FakeClock()
        flush = cc.FlushPolicy.deferred(1000, 5)
        with open_sink(kind, tmp_path, flush, clock=clock) as sink:
            seq = sink.write(make(0))
            assert not sink.wait_durable(seq, timeout=0.05)  # the clock stands still
            clock.now = 1.0
            assert sink.wait_durable(seq, timeout=60), "the flusher never wrote the tail"

    @pytest.mark.parametrize("kind", FILE_KINDS)
    @given(st.lists(st.tuples(st.integers(0, 12), st.booleans(), st.booleans()), max_size=5))
    def test_acknowledged_events_always_read_back(
        self, kind: str, rounds: list[tuple[int, bool, bool]]
    ) -> None:
        """Whenever it is read, the log holds every event up to the watermark, in order."""
        with tempfile.TemporaryDirectory() as name:
            path = log_path(kind, Path(name))
            sink = open_sink(kind, Path(name), cc.FlushPolicy.deferred(7, 1))
            written: list[str] = []
            for size, many, flush in rounds:
                batch = [make(len(written) + n) for n in range(size)]
                if many:
                    sink.write_many(batch)
                else:
                    for event in batch:
                        sink.write(event)
                written += [e.call_id or "" for e in batch]
                if flush:
                    sink.flush()
                    assert sink.acknowledged == len(written)
                acknowledged = sink.acknowledged
                stored = [e.call_id for e in cc.read_events(path)]
                assert stored[:acknowledged] == written[:acknowledged]
            sink.close()
            assert [e.call_id for e in cc.read_events(path)] == written

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_on_durable_hears_each_watermark_in_order(self, kind: str, tmp_path: Path) -> None:
        """on_durable gets the watermark after each batch, growing, ending at the last event."""
        heard: list[int] = []
        flush = cc.FlushPolicy.deferred(10, 1)
        with open_sink(kind, tmp_path, flush, on_durable=heard.append) as sink:
            for n in range(95):
                sink.write(make(n))
        assert heard
        assert heard == sorted(set(heard))
        assert heard[-1] == 95

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_write_through_sinks_report_the_watermark_too(self, kind: str, tmp_path: Path) -> None:
        """Under a write-through policy a write returns acknowledged, and on_durable hears it."""
        heard: list[int] = []
        with open_sink(kind, tmp_path, GROUP, on_durable=heard.append) as sink:
            assert sink.write(make(0)) == 1
            assert sink.write_many([make(1), make(2)]) == 3
            assert (sink.written, sink.acknowledged) == (3, 3)
            assert sink.wait_durable(3, timeout=0)
        assert heard == [1, 3]

    @pytest.mark.parametrize("kind", KINDS)
    def test_wait_durable_refuses_numbers_never_given(self, kind: str, tmp_path: Path) -> None:
        """Waiting for an event the sink never took is misuse, not an endless wait."""
        with open_sink(kind, tmp_path, HELD) as sink:
            sink.write(make(0))
            for seq in (2, -1, "1"):
                with pytest.raises(cc.InvalidValueError, match="sequence number"):
                    sink.wait_durable(seq)  # type: ignore[arg-type]

    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_close_writes_everything_and_refuses_later_writes(
        self, kind: str, tmp_path: Path
    ) -> None:
        """close writes every event taken; after it writes raise and flush has nothing to do."""
        sink = open_sink(kind, tmp_path, HELD)
        sink.write_many([make(n) for n in range(30)])
        sink.close()
        assert sink.acknowledged == 30
        with pytest.raises(cc.SinkError, match="closed"):
            sink.write(make(30))
        sink.flush()
        sink.close()
        assert len(list(cc.read_events(log_path(kind, tmp_path)))) == 30

    @pytest.mark.slow
    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_exit_without_close_writes_everything(self, kind: str, tmp_path: Path) -> None:
        """A process that exits normally without closing its deferred sink loses nothing."""
        path = log_path(kind, tmp_path)
        result = run_writer("exit", kind, str(path), "deferred-hour", "120")
        assert (result.returncode, result.stdout) == (0, "done\n"), result.stderr
        assert [e.call_id for e in cc.read_events(path)] == [f"exit-{n}" for n in range(120)]

    def test_a_forked_child_cannot_write_the_parents_sink(self, tmp_path: Path) -> None:
        """A child forked with a deferred sink open gets SinkError, never a silent loss."""
        path = tmp_path / "events.jsonl"
        sink = cc.JsonlSink(path, HELD)
        sink.write(make(0))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what a write does, and leave without cleaning up
            try:
                sink.write(make(1))
                os.write(write_end, b"written")
            except cc.SinkError as exc:
                os.write(write_end, str(exc).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            said = pipe.read().decode()
        os.waitpid(pid, 0)
        assert "opened in the parent process, before fork()" in said
        sink.close()
        assert [e.call_id for e in cc.read_events(path)] == ["call-0"]

    def test_flusher_failure_is_never_silent(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A batch the flusher cannot write stops the sink: logged, then every call raises."""
        path = tmp_path / "events.jsonl"
        sink = cc.JsonlSink(path, HELD)
        sink.write_many([make(0), make(1)])
        sink.flush()

        def disk_full(fd: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", disk_full)
        # Capture from before the write: the flusher may fail (and log) at any moment after it.
        with caplog.at_level(logging.ERROR, logger="callcodes.events"):
            seq = sink.write(make(2))
            with pytest.raises(
                cc.SinkError, match=r"events 3 to 3 could not be written.*disk is full"
            ):
                sink.flush()
        assert "could not be written" in caplog.text
        monkeypatch.undo()
        assert (sink.written, sink.acknowledged) == (3, 2)
        with pytest.raises(cc.SinkError, match="takes no more"):
            sink.write(make(3))
        with pytest.raises(cc.SinkError, match="takes no more"):
            sink.wait_durable(seq)
        with pytest.raises(cc.SinkError, match="the 1 after them are not"):
            sink.close()
        assert [e.call_id for e in cc.read_events(path)] == ["call-0", "call-1"]
        cc.JsonlSink(path).close()  # the failed sink let go of the file


class TestConcurrency:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_four_threads_lose_and_duplicate_nothing(
        self, kind: str, policy: str, tmp_path: Path
    ) -> None:
        """Four threads writing at once: every event is stored exactly once.

        A deferred sink lets at most 16 events wait here, so writers also wait for room.
        """
        sink = open_sink(kind, tmp_path, POLICIES[policy])
        if isinstance(sink, FileSink) and sink.policy.defer:
            sink._max_pending = 16
        barrier = threading.Barrier(4)
        failures: list[BaseException] = []

        def work(thread: int) -> None:
            try:
                barrier.wait()
                for n in range(0, 200, 4):
                    batch = [make(n + i, call_id=f"t{thread}-{n + i}") for i in range(4)]
                    if n % 8:
                        sink.write_many(batch)
                    else:
                        for event in batch:
                            sink.write(event)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        source = sink if kind == "memory" else log_path(kind, tmp_path)
        sink.close()
        assert failures == []
        ids = [e.call_id for e in cc.read_events(source)]
        expected = {f"t{t}-{n}" for t in range(4) for n in range(200)}
        assert len(ids) == len(expected)
        assert set(ids) == expected

    @pytest.mark.slow
    def test_three_processes_share_one_sqlite_file(self, tmp_path: Path) -> None:
        """Three processes (one per policy) writing one SQLite log lose and duplicate nothing."""
        path = tmp_path / "events.db"
        cc.SqliteSink(path).close()  # the file exists, in WAL mode, before they start
        children = [
            subprocess.Popen(
                [sys.executable, str(WRITER), "count", "sqlite", str(path), policy, "300", name],
                stdout=subprocess.PIPE,
                text=True,
            )
            for name, policy in (("a", "every"), ("b", "group"), ("c", "deferred"))
        ]
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert (child.returncode, out) == (0, "done\n")
        ids = [e.call_id for e in cc.read_events(path)]
        assert len(ids) == 900
        assert set(ids) == {f"{p}-{n}" for p in "abc" for n in range(300)}


class ListBackend(GroupCommitSink[list[tuple[object, ...]]]):
    """A backend that keeps its commits in a list: it gives only encode, commit, sync, release."""

    def __init__(self, flush: cc.FlushPolicy, *, down: bool = False) -> None:
        super().__init__("list backend", flush, time.monotonic, None)
        self.committed: list[tuple[object, ...]] = []
        self.down = down
        self.released = False
        self._start_timer()

    def _encode(self, rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
        return list(rows)

    def _commit(self, payloads: list[list[tuple[object, ...]]], sync: bool) -> None:
        if self.down:
            raise cc.SinkError("the backend is down")
        for payload in payloads:
            self.committed.extend(payload)

    def _sync(self) -> None:
        pass

    def _release(self) -> None:
        self.released = True


class TestAnotherBackend:
    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_a_backend_needs_only_encode_commit_sync_release(self, policy: str) -> None:
        """A backend subclassing the group-commit engine keeps its promises under each policy."""
        sink = ListBackend(POLICIES[policy])
        written = [make(n) for n in range(5)]
        assert [sink.write(event) for event in written[:3]] == [1, 2, 3]
        assert sink.write_many(written[3:]) == 5
        sink.close()
        assert isinstance(sink, DurableSink)
        assert (sink.written, sink.acknowledged, sink.released) == (5, 5, True)
        assert [cc.Event(*row) for row in sink.committed] == written

    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_a_failing_backend_is_never_silent(self, policy: str) -> None:
        """A commit the backend refuses reaches the caller: at once, or at the next flush."""
        sink = ListBackend(POLICIES[policy], down=True)
        if sink.policy.defer:
            sink.write(make(0))  # taken at once: the flusher meets the failure
            with pytest.raises(cc.SinkError, match="the backend is down"):
                sink.flush()
            with pytest.raises(cc.SinkError, match="takes no more"):
                sink.write(make(1))
            with pytest.raises(cc.SinkError, match="takes no more"):
                sink.close()
        else:
            with pytest.raises(cc.SinkError, match="the backend is down"):
                sink.write(make(0))
            sink.close()
        assert (sink.acknowledged, sink.committed, sink.released) == (0, [], True)


class TestCrash:
    @pytest.mark.slow
    @pytest.mark.parametrize("kind", FILE_KINDS)
    @pytest.mark.parametrize("policy", list(POLICIES))
    def test_sigkill_loses_no_acknowledged_event(
        self, kind: str, policy: str, tmp_path: Path
    ) -> None:
        """Killed at random points, a writer loses nothing it acknowledged; the log reopens.

        Under ``deferred`` the writer acknowledges an event only once the sink's watermark
        covers it (write returns long before).
        """
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        path = log_path(kind, tmp_path)
        acknowledged: set[str] = set()
        for round_ in range(3):
            child = subprocess.Popen(
                [sys.executable, str(WRITER), "forever", kind, str(path), policy, f"r{round_}"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdout is not None
            for _ in range(rng.randint(1, 300)):
                line = child.stdout.readline()
                assert line, f"the writer stopped early (seed {seed})"
                acknowledged.add(line.strip())
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            child.stdout.close()
            stored = [e.call_id for e in cc.read_events(path)]
            assert len(stored) == len(set(stored)), f"duplicates (seed {seed})"
            missing = acknowledged - set(stored)
            assert not missing, f"lost {sorted(missing)[:5]} (seed {seed}, round {round_})"
        with open_sink(kind, tmp_path) as sink:
            sink.write(make(0, call_id="after"))
        assert list(cc.read_events(path))[-1].call_id == "after"


class TestJsonl:
    def test_torn_last_line_is_set_aside_on_open(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A last line cut short is moved to <path>.torn, never read, and appends go on."""
        path = tmp_path / "events.jsonl"
        with cc.JsonlSink(path) as sink:
            sink.write_many([make(0), make(1)])
        torn = make(2).to_json()[:37].encode()
        with path.open("ab") as file:
            file.write(torn)
        with caplog.at_level(logging.WARNING, logger="callcodes.events"):
            assert [e.call_id for e in cc.read_events(path)] == ["call-0", "call-1"]
        assert "skipped the last line" in caplog.text
        with caplog.at_level(logging.WARNING, logger="callcodes.events"):
            sink = cc.JsonlSink(path)
        assert "torn line" in caplog.text
        with sink:
            sink.write(make(3))
        assert Path(f"{path}.torn").read_bytes() == torn + b"\n"
        assert [e.call_id for e in cc.read_events(path)] == ["call-0", "call-1", "call-3"]

    def test_torn_only_line(self, tmp_path: Path) -> None:
        """A file holding only a torn line is emptied, its bytes set aside."""
        path = tmp_path / "events.jsonl"
        path.write_bytes(b'{"schema":1,"ti')
        cc.JsonlSink(path).close()
        assert path.read_bytes() == b""
        assert Path(f"{path}.torn").read_bytes() == b'{"schema":1,"ti\n'

    def test_long_unterminated_file_is_not_cut(self, tmp_path: Path) -> None:
        """A file whose last 64 KiB hold no newline is another file: refused, not truncated."""
        path = tmp_path / "photo.jpg"
        data = b"\xff\xd8" + bytes(range(256)).replace(b"\n", b"") * 400
        path.write_bytes(data)
        with pytest.raises(cc.SinkError, match="not an event log"):
            cc.JsonlSink(path)
        assert path.read_bytes() == data

    def test_corrupt_lines_are_all_reported(self, tmp_path: Path) -> None:
        """Lines that are not events make the read fail, naming every such line."""
        path = tmp_path / "events.jsonl"
        good = make(0).to_json()
        path.write_text(f"{good}\nnot json\n{good}\n{{}}\n\n{good}\n", encoding="utf-8")
        with pytest.raises(cc.BatchError) as caught:
            list(cc.read_events(path))
        assert [row.row for row in caught.value.rows] == [2, 4]
        assert "not JSON" in str(caught.value)

    def test_newer_schema_line_is_reported(self, tmp_path: Path) -> None:
        """A line from a newer schema is reported as such, with the advice to upgrade."""
        path = tmp_path / "events.jsonl"
        newer = make(1).to_json().replace('"schema":1', '"schema":2')
        path.write_text(f"{make(0).to_json()}\n{newer}\n", encoding="utf-8")
        with pytest.raises(cc.BatchError, match=r"row 2 .*newer callcodes.*upgrade"):
            list(cc.read_events(path))

    def test_second_writer_is_refused(self, tmp_path: Path) -> None:
        """A JSON Lines log has one writer: a second gets a clear error until the first closes."""
        path = tmp_path / "events.jsonl"
        first = cc.JsonlSink(path)
        with pytest.raises(cc.SinkError, match="already open for writing"):
            cc.JsonlSink(path)
        first.close()
        cc.JsonlSink(path).close()

    def test_failed_write_leaves_no_partial_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A write that fails half way is cut off: the file ends with a whole line."""
        path = tmp_path / "events.jsonl"
        sink = cc.JsonlSink(path)
        sink.write(make(0))
        real_write = os.write

        def half_then_full(fd: int, data: bytes) -> int:
            written = real_write(fd, bytes(data[: len(data) // 2]))
            monkeypatch.setattr(os, "write", disk_full)
            return written

        def disk_full(fd: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(cc.SinkError, match="disk is full"):
            sink.write(make(1))
        monkeypatch.setattr(os, "write", real_write)
        sink.write(make(2))
        sink.close()
        assert path.read_bytes().endswith(b"\n")
        assert [e.call_id for e in cc.read_events(path)] == ["call-0", "call-2"]

    def test_missing_directory(self, tmp_path: Path) -> None:
        """A path in a directory that does not exist gets a clear error."""
        with pytest.raises(cc.SinkError, match="no such directory"):
            cc.JsonlSink(tmp_path / "nowhere" / "events.jsonl")


class TestSqlite:
    def test_uses_wal_and_records_its_schema_version(self, tmp_path: Path) -> None:
        """The file is in WAL mode and callcodes_schema says events is at version 1."""
        path = tmp_path / "events.db"
        with cc.SqliteSink(path) as sink:
            sink.write(make(0))
            conn = sqlite3.connect(path)
            try:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                versions = conn.execute("SELECT component, version FROM callcodes_schema")
                assert versions.fetchall() == [("events", EVENTS_TABLE_VERSION)]
            finally:
                conn.close()

    def test_shares_a_file_with_another_component(self, tmp_path: Path) -> None:
        """The log joins a file that holds another component's tables, touching none of them."""
        path = tmp_path / "callcodes.db"
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(
                "CREATE TABLE callcodes_schema("
                "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            conn.execute("INSERT INTO callcodes_schema VALUES ('policy', 3)")
            conn.execute("CREATE TABLE policy_groups(name TEXT PRIMARY KEY)")
            conn.execute("INSERT INTO policy_groups VALUES ('acme')")
        conn.close()
        with cc.SqliteSink(path) as sink:
            sink.write(make(0))
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("SELECT * FROM callcodes_schema ORDER BY component").fetchall()
            assert rows == [("events", EVENTS_TABLE_VERSION), ("policy", 3)]
            assert conn.execute("SELECT * FROM policy_groups").fetchall() == [("acme",)]
            tables = {
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            assert tables == {"callcodes_schema", "policy_groups", "events", "events_delivered"}
        finally:
            conn.close()

    def test_a_first_version_log_is_upgraded_keeping_its_events(self, tmp_path: Path) -> None:
        """A log written before the spool's table existed gains it, and keeps every event."""
        path = tmp_path / "events.db"
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(
                "CREATE TABLE callcodes_schema("
                "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            for statement in EVENTS_V1:
                conn.execute(statement)
            conn.execute("INSERT INTO callcodes_schema VALUES ('events', 1)")
            conn.execute(INSERT, sql_row(row_of(make(0))))
        conn.close()
        with cc.SqliteSink(path) as sink:
            sink.write(make(1))
        assert [event.call_id for event in cc.read_events(path)] == ["call-0", "call-1"]
        conn = sqlite3.connect(path)
        try:
            assert conn.execute(
                "SELECT version FROM callcodes_schema WHERE component = 'events'"
            ).fetchone() == (EVENTS_TABLE_VERSION,)
            assert conn.execute("SELECT count(*) FROM events_delivered").fetchone() == (0,)
        finally:
            conn.close()

    def test_newer_schema_is_refused_to_writers_and_readers(self, tmp_path: Path) -> None:
        """A log from a newer callcodes is neither written nor read, with advice to upgrade."""
        path = tmp_path / "events.db"
        cc.SqliteSink(path).close()
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(
                "UPDATE callcodes_schema SET version = ? WHERE component = 'events'",
                (EVENTS_TABLE_VERSION + 1,),
            )
        conn.close()
        newer = EVENTS_TABLE_VERSION + 1
        with pytest.raises(
            cc.ConflictError, match=rf"version {newer}, newer than this callcodes.*upgrade"
        ):
            cc.SqliteSink(path)
        with pytest.raises(cc.ConflictError, match="newer than this callcodes"):
            cc.query_events(path, "acme")

    def test_not_a_database(self, tmp_path: Path) -> None:
        """A file that is not SQLite gets a clear error, and is left alone."""
        path = tmp_path / "events.db"
        path.write_bytes(b"this is a text file, not a database\n" * 100)
        with pytest.raises(cc.SinkError, match="not an SQLite database"):
            cc.SqliteSink(path)
        assert path.read_bytes().startswith(b"this is a text file")

    def test_corrupt_row_is_named(self, tmp_path: Path) -> None:
        """A stored row that is not a valid event fails the read, naming its id."""
        path = tmp_path / "events.db"
        with cc.SqliteSink(path) as sink:
            sink.write_many([make(0), make(1)])
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE events SET verdict = 'maybe' WHERE id = 2")
        conn.close()
        with pytest.raises(cc.BatchError, match=r"row 2 .*verdict='maybe'"):
            list(cc.read_events(path))

    def test_two_sinks_in_one_process(self, tmp_path: Path) -> None:
        """Two SqliteSinks on one file (two connections) both write."""
        path = tmp_path / "events.db"
        with cc.SqliteSink(path) as one, cc.SqliteSink(path, GROUP) as two:
            one.write(make(0))
            two.write(make(1))
            one.write(make(2))
        assert len(list(cc.read_events(path))) == 3


class TestBadDisk:
    @pytest.mark.slow
    @pytest.mark.parametrize("kind", FILE_KINDS)
    def test_read_only_file(self, kind: str, shared_dir: Path) -> None:
        """A log file that may not be written gets a clear SinkError, and is unchanged."""
        path = shared_dir / ("ro.jsonl" if kind == "jsonl" else "ro.db")
        with cc.JsonlSink(path) if kind == "jsonl" else cc.SqliteSink(path) as sink:
            sink.write(make(0))
        path.chmod(0o444)
        before = path.read_bytes()
        result = run_writer("open", kind, str(path), "every")
        assert result.returncode == 0, result.stderr
        expected = "permission denied" if kind == "jsonl" else "is read-only"
        assert result.stdout.startswith("SinkError: ")
        assert expected in result.stdout
        assert path.read_bytes() == before

    @pytest.mark.slow
    @pytest.mark.parametrize("kind", FILE_KINDS)
    @pytest.mark.parametrize("policy", ["group", "deferred"])
    def test_full_disk(self, kind: str, policy: str, tmp_path: Path) -> None:
        """A writer whose file cannot grow gets SinkError; exactly what it acknowledged stays.

        Under ``deferred`` the flusher meets the full disk, and the next write raises. The limit
        (1 MB) is above a deferred sink's largest batch (1024 events here), so some are kept.
        """
        path = tmp_path / ("full.jsonl" if kind == "jsonl" else "full.db")

        def tiny_file_limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

        result = run_writer("fill", kind, str(path), policy, preexec_fn=tiny_file_limit)
        assert result.returncode == 0, result.stderr
        count, message = result.stdout.splitlines()
        assert int(count) > 0
        expected = "size limit" if kind == "jsonl" else "free space (or raise the file size limit)"
        assert message.startswith("SinkError: ")
        assert expected in message
        stored = [e.call_id for e in cc.read_events(path)]
        assert stored == [f"fill-{n}" for n in range(int(count))]
        if kind == "jsonl":
            assert path.read_bytes().endswith(b"\n")
        with cc.JsonlSink(path) if kind == "jsonl" else cc.SqliteSink(path) as sink:
            sink.write(make(0, call_id="after"))
        assert list(cc.read_events(path))[-1].call_id == "after"
