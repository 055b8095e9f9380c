"""The engine facade: one event per decision, the pure decision unchanged, emergencies safe."""

from __future__ import annotations

import errno
import logging
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from strategies import aware_times, books, calls, entered_codes

WHEN = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
EMERGENCY = cc.Call("acme", "alice", "911", cc.CallType.EMERGENCY, "sos")
NATIONAL = cc.Call("acme", "alice", "12125551234", cc.CallType.NATIONAL, "c-1")


def book_with(mode: cc.Mode) -> cc.CodeBook:
    book = cc.CodeBook()
    book.set_group("acme", cc.GroupSettings(mode=mode, mandatory_users=frozenset({"alice"})))
    book.add_codes("acme", [cc.CodeEntry("1234", "Sales")])
    return book


class BrokenSink:
    """A sink whose every write fails the way a full disk does."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or cc.SinkError("disk full")

    def write(self, event: cc.Event) -> None:
        raise self.error

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


class ListSink:
    """A third-party sink: a list, to check that it receives real Event objects."""

    def __init__(self) -> None:
        self.received: list[object] = []

    def write(self, event: cc.Event) -> None:
        self.received.append(event)

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


class TestDecide:
    @given(books(limits=True), calls, entered_codes, aware_times)
    def test_same_decision_as_the_pure_core_and_one_event(
        self, book: cc.CodeBook, call: cc.Call, code: str | None, when: datetime
    ) -> None:
        """Engine.decide returns what decide returns at the clock's time, and records it once."""
        sink = cc.MemorySink()
        engine = cc.Engine(book, sink, clock=lambda: when)
        expected = cc.decide(book, call, code, 1, now=when)
        assert engine.decide(call, code) == expected
        [recorded] = sink.events()
        mode = book.group(call.group).mode if call.group in book else None
        assert recorded == cc.Event.from_decision(when, call, expected, mode=mode, code=code)

    @given(books(mode=cc.Mode.AUTHORIZATION), calls, entered_codes)
    def test_authorization_codes_never_recorded_in_clear(
        self, book: cc.CodeBook, call: cc.Call, code: str | None
    ) -> None:
        """In an authorization group, no recorded event holds a code in clear."""
        sink = cc.MemorySink()
        cc.Engine(book, sink, clock=lambda: WHEN).decide(call, code)
        [recorded] = sink.events()
        assert recorded.code is None
        assert recorded.masked == cc.mask_code(code)

    def test_account_code_recorded_in_clear(self) -> None:
        """A well-formed account code is recorded in clear with the group's mode."""
        sink = cc.MemorySink()
        engine = cc.Engine(book_with(cc.Mode.ACCOUNT), sink, clock=lambda: WHEN)
        decision = engine.decide(NATIONAL, "0042", attempt=2)
        assert decision.verdict is cc.Verdict.LOG_ONLY
        [recorded] = sink.events()
        assert (recorded.code, recorded.mode, recorded.attempt, recorded.time) == (
            "0042",
            cc.Mode.ACCOUNT,
            2,
            WHEN,
        )

    def test_unknown_group_records_no_mode(self) -> None:
        """A call from an unknown group is allowed and recorded with mode None."""
        sink = cc.MemorySink()
        engine = cc.Engine(cc.CodeBook(), sink, clock=lambda: WHEN)
        assert engine.decide(NATIONAL).reason is cc.Reason.NOT_ENABLED
        assert sink.events()[0].mode is None

    def test_without_a_sink_nothing_is_recorded(self) -> None:
        """With no sink the engine only decides."""
        engine = cc.Engine(book_with(cc.Mode.AUTHORIZATION), clock=lambda: WHEN)
        assert engine.sink is None
        assert engine.decide(NATIONAL, "1234").reason is cc.Reason.AUTHORIZED

    def test_third_party_sink_receives_events(self) -> None:
        """A sink of the caller's own receives validated Event objects."""
        sink = ListSink()
        engine = cc.Engine(book_with(cc.Mode.AUTHORIZATION), sink, clock=lambda: WHEN)
        engine.decide(NATIONAL, "9999")
        [recorded] = sink.received
        assert isinstance(recorded, cc.Event)
        assert recorded.masked == "****"
        assert recorded.reason is cc.Reason.INVALID_CODE

    def test_clock_is_read_for_each_decision(self) -> None:
        """Each decision takes the clock's current time (a validity window is judged by it)."""
        book = cc.CodeBook()
        book.set_group(
            "acme",
            cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"})),
        )
        book.add_codes("acme", [cc.CodeEntry("1234", valid_until=WHEN)])
        times = iter([WHEN - timedelta(seconds=1), WHEN])
        engine = cc.Engine(book, cc.MemorySink(), clock=lambda: next(times))
        assert engine.decide(NATIONAL, "1234").reason is cc.Reason.AUTHORIZED
        assert engine.decide(NATIONAL, "1234").reason is cc.Reason.EXPIRED

    def test_default_clock_is_utc_now(self) -> None:
        """Without a clock the engine records the current UTC time."""
        sink = cc.MemorySink()
        before = datetime.now(UTC)
        cc.Engine(book_with(cc.Mode.AUTHORIZATION), sink).decide(NATIONAL, "1234")
        assert before <= sink.events()[0].time <= datetime.now(UTC)

    def test_other_offsets_are_recorded_in_utc(self) -> None:
        """A clock in another timezone is converted: events are in UTC."""
        paris = timezone(timedelta(hours=2))
        sink = cc.MemorySink()
        engine = cc.Engine(
            book_with(cc.Mode.AUTHORIZATION), sink, clock=lambda: WHEN.astimezone(paris)
        )
        engine.decide(NATIONAL, "1234")
        assert sink.events()[0].time == WHEN
        assert sink.events()[0].time.tzinfo is UTC

    def test_naive_clock_is_misuse(self) -> None:
        """A clock without a timezone is refused on a normal call, recording nothing."""
        sink = cc.MemorySink()
        engine = cc.Engine(book_with(cc.Mode.AUTHORIZATION), sink, clock=datetime.now)
        with pytest.raises(cc.InvalidValueError, match="timezone-aware"):
            engine.decide(NATIONAL, "1234")
        assert len(sink) == 0

    def test_bad_attempt_is_misuse(self) -> None:
        """Attempt 0 raises, as the pure decide does, and records nothing."""
        sink = cc.MemorySink()
        engine = cc.Engine(book_with(cc.Mode.AUTHORIZATION), sink, clock=lambda: WHEN)
        with pytest.raises(cc.InvalidValueError, match="attempt"):
            engine.decide(NATIONAL, "1234", attempt=0)
        assert len(sink) == 0

    @pytest.mark.parametrize(
        ("argument", "value"),
        [("book", {}), ("sink", object()), ("clock", "now"), ("on_error", 3)],
    )
    def test_bad_construction(self, argument: str, value: object) -> None:
        """A wrong book, sink, clock or hook is refused when the engine is built."""
        arguments: dict[str, object] = {"book": cc.CodeBook()} | {argument: value}
        with pytest.raises(cc.InvalidValueError) as caught:
            cc.Engine(**arguments)  # type: ignore[arg-type]
        assert caught.value.field == argument


class TestSharedTracker:
    """Engines given one failure tracker count failed entries together."""

    def test_two_engines_lock_on_their_combined_failures(self) -> None:
        """Five bad entries on each of two engines lock a user whose limit is ten."""
        book = book_with(cc.Mode.AUTHORIZATION)
        shared = cc.FailureTracker()
        engines = [cc.Engine(book, clock=lambda: WHEN, tracker=shared) for _ in range(2)]
        for n in range(10):
            engines[n % 2].decide(NATIONAL, "9999")
        assert [lock.user for lock in book.locks("acme", WHEN)] == ["alice"]

    def test_a_tracker_must_be_a_failure_tracker(self) -> None:
        """Anything else is refused, naming the argument."""
        with pytest.raises(cc.InvalidValueError, match=r"^tracker="):
            cc.Engine(cc.CodeBook(), tracker=object())  # type: ignore[arg-type]


class TestRequirement:
    @given(books(), calls, aware_times)
    def test_same_as_the_pure_core_and_records_nothing(
        self, book: cc.CodeBook, call: cc.Call, when: datetime
    ) -> None:
        """Engine.requirement answers like requirement at the clock's time; nothing recorded."""
        sink = cc.MemorySink()
        engine = cc.Engine(book, sink, clock=lambda: when)
        assert engine.requirement(call) == cc.requirement(book, call, now=when)
        assert len(sink) == 0

    def test_emergency_requirement_survives_a_broken_clock(self) -> None:
        """Even with a failing clock, an emergency call needs no code."""

        def broken() -> datetime:
            raise RuntimeError("clock lost")

        engine = cc.Engine(book_with(cc.Mode.AUTHORIZATION), clock=broken)
        assert engine.requirement(EMERGENCY).need is cc.Need.NONE
        with pytest.raises(RuntimeError):
            engine.requirement(NATIONAL)


class TestFailures:
    def test_emergency_allowed_when_the_sink_fails(self, caplog: pytest.LogCaptureFixture) -> None:
        """A failing sink never stops an emergency call: allowed, logged, hook called."""
        seen: list[tuple[Exception, cc.Call]] = []
        engine = cc.Engine(
            book_with(cc.Mode.AUTHORIZATION),
            BrokenSink(),
            clock=lambda: WHEN,
            on_error=lambda exc, call: seen.append((exc, call)),
        )
        with caplog.at_level(logging.ERROR, logger="callcodes.events"):
            decision = engine.decide(EMERGENCY)
        assert (decision.verdict, decision.reason) == (cc.Verdict.ALLOW, cc.Reason.EMERGENCY)
        assert "emergency call 'sos' allowed although recording failed" in caplog.text
        assert [(str(exc), call) for exc, call in seen] == [("disk full", EMERGENCY)]

    def test_emergency_allowed_when_everything_fails(self) -> None:
        """A failing clock, a failing sink and a failing hook still allow an emergency call."""

        def broken_clock() -> datetime:
            raise RuntimeError("clock lost")

        def broken_hook(exc: Exception, call: cc.Call) -> None:
            raise ValueError("alerting is down")

        engine = cc.Engine(
            book_with(cc.Mode.AUTHORIZATION),
            BrokenSink(RuntimeError("boom")),
            clock=broken_clock,
            on_error=broken_hook,
        )
        assert engine.decide(EMERGENCY).verdict is cc.Verdict.ALLOW
        engine = cc.Engine(
            book_with(cc.Mode.AUTHORIZATION), BrokenSink(), clock=datetime.now, on_error=broken_hook
        )
        assert engine.decide(EMERGENCY, "garbage", attempt=0).verdict is cc.Verdict.ALLOW

    def test_other_calls_raise_sink_error(self) -> None:
        """For a normal call, a sink that cannot record raises SinkError (and tells the hook)."""
        seen: list[Exception] = []
        engine = cc.Engine(
            book_with(cc.Mode.ACCOUNT),
            BrokenSink(),
            clock=lambda: WHEN,
            on_error=lambda exc, call: seen.append(exc),
        )
        with pytest.raises(cc.SinkError, match="disk full"):
            engine.decide(NATIONAL, "0042")
        assert len(seen) == 1

    def test_foreign_sink_failure_becomes_sink_error(self) -> None:
        """Any exception from a caller's sink reaches the caller as SinkError."""
        engine = cc.Engine(
            book_with(cc.Mode.ACCOUNT), BrokenSink(KeyError("shard")), clock=lambda: WHEN
        )
        with pytest.raises(cc.SinkError, match="the event sink failed") as caught:
            engine.decide(NATIONAL, "0042")
        assert isinstance(caught.value.__cause__, KeyError)

    def test_deferred_sink_failure_reaches_the_next_decision(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A batch its flusher could not write: the next decision raises and tells on_error.

        An emergency call is still allowed (and the hook told).
        """
        seen: list[tuple[str, cc.Call]] = []
        sink = cc.JsonlSink(tmp_path / "events.jsonl", cc.FlushPolicy.deferred(1000, 3_600_000))
        engine = cc.Engine(
            book_with(cc.Mode.ACCOUNT),
            sink,
            clock=lambda: WHEN,
            on_error=lambda exc, call: seen.append((str(exc), call)),
        )
        engine.decide(NATIONAL, "0042")  # taken, not yet written

        def disk_full(fd: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", disk_full)
        with pytest.raises(cc.SinkError, match="disk is full"):
            sink.flush()
        monkeypatch.undo()
        with pytest.raises(cc.SinkError, match="could not be written"):
            engine.decide(NATIONAL, "0042")
        assert engine.decide(EMERGENCY).verdict is cc.Verdict.ALLOW
        assert [call for _, call in seen] == [NATIONAL, EMERGENCY]
        assert all("could not be written" in text for text, _ in seen)
        with pytest.raises(cc.SinkError):
            sink.close()

    def test_full_memory_sink_raises_for_normal_calls_only(self) -> None:
        """A full memory sink refuses a normal call's event but lets an emergency call through."""
        sink = cc.MemorySink(capacity=1)
        engine = cc.Engine(book_with(cc.Mode.AUTHORIZATION), sink, clock=lambda: WHEN)
        engine.decide(NATIONAL, "1234")
        with pytest.raises(cc.SinkError, match="full"):
            engine.decide(NATIONAL, "1234")
        assert engine.decide(EMERGENCY).verdict is cc.Verdict.ALLOW


class TestDeferred:
    def test_decide_returns_before_the_event_is_durable(self, tmp_path: Path) -> None:
        """With a deferred sink, decide returns at once; the watermark tells when it is kept."""
        path = tmp_path / "events.db"
        sink = cc.SqliteSink(path, cc.FlushPolicy.deferred(1000, 3_600_000))
        engine = cc.Engine(book_with(cc.Mode.ACCOUNT), sink, clock=lambda: WHEN)
        decision = engine.decide(NATIONAL, "0042")
        assert decision.verdict is cc.Verdict.LOG_ONLY
        seq = sink.written
        assert (seq, sink.acknowledged) == (1, 0)
        assert list(cc.read_events(path)) == []
        sink.flush()
        assert sink.wait_durable(seq, timeout=0)
        [recorded] = cc.read_events(path)
        assert (recorded.code, recorded.call_id) == ("0042", NATIONAL.call_id)
        sink.close()


class TestThreads:
    @pytest.mark.parametrize(
        "policy",
        [cc.FlushPolicy.group(100, 50), cc.FlushPolicy.deferred(100, 5)],
        ids=["group", "deferred"],
    )
    def test_four_threads_record_every_decision(
        self, tmp_path: Path, policy: cc.FlushPolicy
    ) -> None:
        """Four threads deciding through one engine and SQLite sink: one event per decision."""
        sink = cc.SqliteSink(tmp_path / "events.db", policy)
        engine = cc.Engine(book_with(cc.Mode.ACCOUNT), sink, clock=lambda: WHEN)
        barrier = threading.Barrier(4)

        def work(thread: int) -> None:
            barrier.wait()
            for n in range(100):
                call = cc.Call("acme", "alice", "0114420", cc.CallType.NATIONAL, f"{thread}-{n}")
                engine.decide(call, "1234" if n % 2 else "12")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sink.close()
        ids = [e.call_id for e in cc.read_events(tmp_path / "events.db")]
        assert sorted(ids) == sorted(f"{t}-{n}" for t in range(4) for n in range(100))


class TestInlineCodeNeverInTheLog:
    """A code keyed inline in ``dialed`` (``<prefix><code><number>``) is masked in every event."""

    @given(
        code=st.text("0123456789", min_size=4, max_size=4),
        number=st.text("0123456789", min_size=3, max_size=15),
        mode=st.sampled_from(["authorization", "account"]),
        known=st.booleans(),
    )
    def test_no_event_field_holds_the_code(
        self, code: str, number: str, mode: str, known: bool
    ) -> None:
        book = cc.CodeBook()
        book.set_group("acme", cc.GroupSettings(mode=mode, mandatory_users={"alice"}))  # type: ignore[arg-type]
        if known:
            book.add_codes("acme", [code])
        sink = cc.MemorySink()
        clock = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i) for i in range(99))
        engine = cc.Engine(book, sink, clock=lambda: next(clock))
        call = cc.Call("acme", "alice", f"*71{code}{number}", "international", "c1")
        wrong = "8888" if code == "9999" else "9999"
        for _ in range(12):  # enough wrong entries for a lock event too
            engine.decide(call, wrong)
        locked = any(event.reason == "locked out" for event in sink.events())
        assert locked == (mode == "authorization")
        for event in sink.events():
            assert event.dialed == f"*71****{number}"
            for field in ("group", "user", "call_id", "code", "masked", "description"):
                assert code not in str(getattr(event, field)), field

    def test_a_dial_string_without_the_prefix_is_kept(self) -> None:
        book = cc.CodeBook()
        book.set_group("acme", cc.GroupSettings(mode="authorization", mandatory_users={"alice"}))
        sink = cc.MemorySink()
        cc.Engine(book, sink).decide(cc.Call("acme", "alice", "0114420712345", "international"))
        assert sink.events()[0].dialed == "0114420712345"
