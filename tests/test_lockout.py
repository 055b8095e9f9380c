"""Lockout: failed entries are counted in sliding windows, and locks stop a brute-force walk."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from callcodes.core import guard
from callcodes.core.guard import Tracker
from callcodes.integrations import kamailio as kam
from callcodes.integrations.kamailio import _failures
from callcodes.store import PolicyStore
from pgserver import PostgresServer
from strategies import lockouts, settings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
R = cc.Reason
DEFAULTS = cc.Lockout()


def make_book(lockout: cc.Lockout = DEFAULTS, **options: object) -> cc.CodeBook:
    book = cc.CodeBook()
    values: dict[str, object] = {
        "mode": cc.Mode.AUTHORIZATION,
        "mandatory_users": frozenset({"alice", "bob", "carol"}),
        "lockout": lockout,
    }
    values.update(options)
    book.set_group("acme", cc.GroupSettings(**values))  # type: ignore[arg-type]
    book.add_codes("acme", [cc.CodeEntry("1234", "Sales")])
    return book


def call(user: str = "alice", call_type: cc.CallType = cc.CallType.NATIONAL) -> cc.Call:
    return cc.Call("acme", user, "12125551234", call_type)


AnyTracker = cc.FailureTracker | kam.SharedFailureTracker


@pytest.fixture(params=["memory", "shared", "postgres"])
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyTracker]:
    """The engine's own tracker, the one Kamailio's workers share in an SQLite file, and the
    one nodes share in PostgreSQL."""
    if request.param == "memory":
        yield cc.FailureTracker()
        return
    where = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    shared = kam.SharedFailureTracker(where or tmp_path / "events.db")
    try:
        yield shared
    finally:
        shared.close()


class TestFailureTracker:
    """Counting per user and per group within the windows of the Lockout settings.

    Every tracker keeps the same rules: the in-memory one, and the one Kamailio's workers share.
    """

    def test_user_is_locked_at_the_threshold(self, tracker: AnyTracker) -> None:
        """With the defaults, 9 failures lock nothing and the 10th locks the user for 30 min."""
        for i in range(9):
            assert tracker.record("acme", "alice", NOW + i * SECOND, DEFAULTS) == ()
        at = NOW + 9 * SECOND
        assert tracker.record("acme", "alice", at, DEFAULTS) == (
            cc.Lock("acme", "alice", at, at + timedelta(minutes=30)),
        )
        assert tracker.count("acme", "alice", at, DEFAULTS) == 0  # a lock starts a new count

    def test_a_failure_leaves_the_window_at_exactly_its_length(self, tracker: AnyTracker) -> None:
        """A failure counts while it is less than user_window old, not at the window's end."""
        lockout = cc.Lockout(user_attempts=2, user_window=timedelta(minutes=3))
        tracker.record("acme", "alice", NOW, lockout)
        assert tracker.count("acme", "alice", NOW + timedelta(minutes=3) - SECOND, lockout) == 1
        assert tracker.count("acme", "alice", NOW + timedelta(minutes=3), lockout) == 0
        assert tracker.record("acme", "alice", NOW + timedelta(minutes=3), lockout) == ()
        last = NOW + timedelta(minutes=3, microseconds=999_999)
        assert tracker.record("acme", "alice", last, lockout) != ()

    def test_slow_guessing_below_the_rate_is_never_locked(self, tracker: AnyTracker) -> None:
        """One failure per window never reaches a threshold of two."""
        window = timedelta(minutes=3)
        lockout = cc.Lockout(
            user_attempts=2, user_window=window, group_attempts=2, group_window=window
        )
        for i in range(100):
            assert tracker.record("acme", "alice", NOW + i * timedelta(minutes=3), lockout) == ()

    def test_manual_locks_have_no_end(self, tracker: AnyTracker) -> None:
        """With lock_for=None the lock lasts until an administrator unlocks."""
        (lock,) = tracker.record("acme", "alice", NOW, cc.Lockout(user_attempts=1, lock_for=None))
        assert lock.until is None

    def test_spread_attack_locks_the_group(self, tracker: AnyTracker) -> None:
        """Failures by many users, each below its own threshold, lock the group at its own."""
        lockout = cc.Lockout(user_attempts=10, group_attempts=6)
        locks: list[cc.Lock] = []
        for i in range(6):
            locks += tracker.record("acme", f"user{i}", NOW + i * SECOND, lockout)
        assert locks == [
            cc.Lock("acme", None, NOW + 5 * SECOND, NOW + 5 * SECOND + 30 * 60 * SECOND)
        ]

    def test_user_and_group_locks_come_together_user_first(self, tracker: AnyTracker) -> None:
        """When both thresholds are reached by one failure, both locks are due, user first."""
        locks = tracker.record("acme", "alice", NOW, cc.Lockout(user_attempts=1, group_attempts=1))
        assert [lock.user for lock in locks] == ["alice", None]

    def test_groups_are_counted_apart(self, tracker: AnyTracker) -> None:
        """Failures in one group do not count toward another group's lock."""
        lockout = cc.Lockout(user_attempts=100, group_attempts=2)
        assert tracker.record("acme", "alice", NOW, lockout) == ()
        assert tracker.record("globex", "alice", NOW, lockout) == ()

    def test_forget_starts_a_user_count_afresh(self, tracker: AnyTracker) -> None:
        """After an unlock, forget drops the count so old failures do not lock again at once."""
        lockout = cc.Lockout(user_attempts=3)
        tracker.record("acme", "alice", NOW, lockout)
        tracker.record("acme", "alice", NOW, lockout)
        tracker.forget("acme", "alice")
        assert tracker.count("acme", "alice", NOW, lockout) == 0
        assert tracker.count("acme", None, NOW, lockout) == 2
        tracker.forget("acme")
        assert tracker.count("acme", None, NOW, lockout) == 0

    def test_prune_drops_stale_counts_only(self, tracker: AnyTracker) -> None:
        """prune drops counts whose last failure is old enough and keeps recent ones."""
        tracker.record("acme", "alice", NOW, DEFAULTS)
        tracker.record("acme", "bob", NOW + timedelta(minutes=20), DEFAULTS)
        dropped = tracker.prune(NOW + timedelta(minutes=25), timedelta(minutes=10))
        assert dropped == 1  # alice's count; the group's last failure is bob's, still recent
        assert tracker.count("acme", "alice", NOW, DEFAULTS) == 0
        assert tracker.count("acme", "bob", NOW + timedelta(minutes=20), DEFAULTS) == 1

    @pytest.mark.parametrize("now", [None, datetime(2026, 1, 1), "2026-01-01"])  # noqa: DTZ001
    def test_a_time_must_be_aware(self, tracker: AnyTracker, now: object) -> None:
        """A naive or missing time is refused and nothing is counted."""
        with pytest.raises(cc.InvalidValueError, match="timezone-aware"):
            tracker.record("acme", "alice", now, DEFAULTS)  # type: ignore[arg-type]
        assert tracker.count("acme", "alice", NOW, DEFAULTS) == 0

    def test_lockout_settings_are_checked(self, tracker: AnyTracker) -> None:
        """record needs Lockout settings, not something else."""
        with pytest.raises(cc.InvalidValueError, match="must be a Lockout"):
            tracker.record("acme", "alice", NOW, None)  # type: ignore[arg-type]

    def test_threads_lose_no_failure(self, tracker: AnyTracker) -> None:
        """4 threads recording at once: exactly one lock per threshold's worth of failures."""
        rounds = 250 if isinstance(tracker, cc.FailureTracker) else 10  # a file: fewer
        lockout = cc.Lockout(user_attempts=7, group_attempts=100_000)
        locks: list[cc.Lock] = []
        start = threading.Barrier(4)

        def attack() -> None:
            start.wait()
            mine = [tracker.record("acme", "alice", NOW, lockout) for _ in range(7 * rounds)]
            locks.extend(lock for found in mine for lock in found)

        threads = [threading.Thread(target=attack) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(locks) == 4 * rounds


class TestTrackers:
    """What is particular to each tracker, and the protocol they share."""

    def test_memory_per_user_is_bounded_by_the_threshold(self) -> None:
        """However many failures arrive at once, a user's count keeps at most the threshold."""
        tracker = cc.FailureTracker()
        lockout = cc.Lockout(user_attempts=5, group_attempts=100_000)
        for _ in range(1000):
            tracker.record("acme", "alice", NOW, lockout)
        assert len(tracker._users["acme", "alice"]) < 5

    def test_two_processes_share_one_count(self, tmp_path: Path) -> None:
        """Failures recorded through two connections to one file add up to one lock."""
        lockout = cc.Lockout(user_attempts=3)
        first = kam.SharedFailureTracker(tmp_path / "events.db")
        second = kam.SharedFailureTracker(tmp_path / "events.db")
        try:
            assert first.record("acme", "alice", NOW, lockout) == ()
            assert second.record("acme", "alice", NOW + SECOND, lockout) == ()
            assert second.count("acme", "alice", NOW + SECOND, lockout) == 2
            (lock,) = first.record("acme", "alice", NOW + 2 * SECOND, lockout)
            assert lock.user == "alice"
            assert second.count("acme", "alice", NOW + 2 * SECOND, lockout) == 0
        finally:
            first.close()
            second.close()

    def test_processes_on_postgresql_lock_at_exactly_every_nth_failure(self, pg_url: str) -> None:
        """Six processes (nodes) record 25 failures each of one user at once: with a threshold
        of 7, exactly 150 // 7 locks are due, each at a 7th failure: never later, none lost."""
        child = (
            "import sys; from datetime import datetime, UTC\n"
            "import callcodes as cc\n"
            "from callcodes.integrations import kamailio as kam\n"
            "tracker = kam.SharedFailureTracker(sys.argv[1])\n"
            "lockout = cc.Lockout(user_attempts=7, group_attempts=100_000)\n"
            "now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)\n"
            "print(sum(len(tracker.record('acme', 'alice', now, lockout)) for _ in range(25)))\n"
        )
        nodes = [
            subprocess.Popen(
                [sys.executable, "-c", child, pg_url], stdout=subprocess.PIPE, text=True
            )
            for _ in range(6)
        ]
        locks = []
        for node in nodes:
            out, _ = node.communicate(timeout=300)
            assert node.returncode == 0
            locks.append(int(out))
        assert sum(locks) == 150 // 7
        shared = kam.SharedFailureTracker(pg_url)
        try:
            lockout = cc.Lockout(user_attempts=7, group_attempts=100_000)
            at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
            assert shared.count("acme", "alice", at, lockout) == 150 % 7
        finally:
            shared.close()

    def test_the_shared_table_is_versioned(self, tmp_path: Path) -> None:
        """The table records its schema version; a file from a newer callcodes is refused."""
        path = tmp_path / "events.db"
        kam.SharedFailureTracker(path).close()
        with sqlite3.connect(path) as conn:
            (version,) = conn.execute(
                "SELECT version FROM callcodes_schema WHERE component = 'guard_failures'"
            ).fetchone()
            assert version == 1
            conn.execute(
                "UPDATE callcodes_schema SET version = 9 WHERE component = 'guard_failures'"
            )
        with pytest.raises(cc.ConflictError, match="upgrade callcodes"):
            kam.SharedFailureTracker(path)

    def test_an_unusable_file_is_refused_saying_why(self, tmp_path: Path) -> None:
        """Not a database, or a folder that does not exist: InvalidValueError with the cause."""
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"not a database at all" * 100)
        with pytest.raises(cc.InvalidValueError, match="not an SQLite database"):
            kam.SharedFailureTracker(junk)
        with pytest.raises(cc.InvalidValueError, match="cannot open"):
            kam.SharedFailureTracker(tmp_path / "missing" / "events.db")

    def test_writes_are_taken_in_turns(self, tmp_path: Path) -> None:
        """With turns, each write (never a read) holds them."""
        held: list[str] = []

        class Turns:
            def __enter__(self) -> None:
                held.append("in")

            def __exit__(self, *_exc: object) -> None:
                held.append("out")

        shared = kam.SharedFailureTracker(tmp_path / "events.db", turns=Turns())
        try:
            shared.record("acme", "alice", NOW, DEFAULTS)
            shared.count("acme", "alice", NOW, DEFAULTS)
            shared.forget("acme", "alice")
            shared.prune(NOW, timedelta(minutes=1))
        finally:
            shared.close()
        assert held == ["in", "out"] * 3

    def test_both_implement_the_protocol(self, tmp_path: Path) -> None:
        """Neither derives from the other; the engine takes each as its tracker."""
        assert not issubclass(kam.SharedFailureTracker, cc.FailureTracker)
        shared = kam.SharedFailureTracker(tmp_path / "events.db")
        try:
            for tracker in (cc.FailureTracker(), shared):
                engine = cc.Engine(make_book(cc.Lockout(user_attempts=2)), tracker=tracker)
                for _ in range(2):
                    engine.decide(call(), "9999")
                assert engine.decide(call(), "1234").reason is R.LOCKED_OUT
                assert engine.tracker is tracker
        finally:
            shared.close()

    def test_the_protocol_names_what_the_engine_checks(self) -> None:
        """The methods the engine looks for are the protocol's."""
        members = {name for name in vars(Tracker) if not name.startswith("_")}
        assert members == set(guard._TRACKER_METHODS) == {"record", "count", "forget"}

    def test_any_object_with_the_methods_will_do(self) -> None:
        """A tracker of one's own, without a base class: the engine asks it to record."""

        class Counting:
            def __init__(self) -> None:
                self.failures = 0

            def record(
                self, group: str, user: str, now: datetime, lockout: cc.Lockout
            ) -> tuple[cc.Lock, ...]:
                self.failures += 1
                return (cc.Lock(group, user, now),) if self.failures >= 2 else ()

            def count(
                self, group: str, user: str | None, now: datetime, lockout: cc.Lockout
            ) -> int:
                return self.failures

            def forget(self, group: str, user: str | None = None) -> None:
                self.failures = 0

        mine = Counting()
        typed: Tracker = mine
        engine = cc.Engine(make_book(), tracker=typed)
        engine.decide(call(), "9999")
        engine.decide(call(), "9999")
        assert engine.decide(call(), "1234").reason is R.LOCKED_OUT
        assert engine.unlock("acme", "alice", actor="ann")
        assert mine.failures == 0

    @pytest.mark.parametrize(
        ("tracker", "missing"),
        [
            (object(), "record, count, forget"),
            (types.SimpleNamespace(record=print, count=print), "forget"),
            (types.SimpleNamespace(record=1, count=print, forget=print), "record"),
        ],
    )
    def test_the_engine_names_the_missing_methods(self, tracker: object, missing: str) -> None:
        """Anything else is refused when the engine is built, saying which methods lack."""
        with pytest.raises(cc.InvalidValueError, match=rf"^tracker=.*missing: {missing}$"):
            cc.Engine(make_book(), tracker=tracker)  # type: ignore[arg-type]


class TestSettle:
    """After a decision: failures are recorded and locks put in the book."""

    def test_failures_lock_the_user_in_the_book(self) -> None:
        """Ten invalid entries lock the user; the eleventh entry, even a valid code, is refused."""
        book, tracker = make_book(), cc.FailureTracker()
        for i in range(10):
            decision = cc.decide(book, call(), f"{i:04}", now=NOW)
            settled, locks = cc.settle(book, tracker, call(), decision, attempt=1, now=NOW)
            assert settled == attrs.evolve(decision, retry=i < 9)
            assert bool(locks) == (i == 9)
        assert book.locks("acme", NOW) == [cc.Lock("acme", "alice", NOW, NOW + 30 * 60 * SECOND)]
        assert cc.decide(book, call(), "1234", now=NOW) == cc.Decision(
            cc.Verdict.BLOCK, R.LOCKED_OUT
        )
        assert cc.decide(book, call("bob"), "1234", now=NOW).reason is R.AUTHORIZED
        later = NOW + 30 * 60 * SECOND
        assert cc.decide(book, call(), "1234", now=later).reason is R.AUTHORIZED

    @pytest.mark.parametrize(
        ("code", "counted"),
        [(None, False), ("12", True), ("9999", True), ("1234", False)],
    )
    def test_which_entries_count(self, code: str | None, counted: bool) -> None:
        """Missing codes and successes are not counted; malformed and invalid ones are."""
        book, tracker = make_book(), cc.FailureTracker()
        decision = cc.decide(book, call(), code, now=NOW)
        cc.settle(book, tracker, call(), decision, attempt=1, now=NOW)
        assert tracker.count("acme", "alice", NOW, DEFAULTS) == int(counted)
        assert cc.is_failure(decision) is counted

    def test_refusals_of_listed_codes_count(self) -> None:
        """Expired, not yet valid, used up, too-low, suspended and out-of-hours codes count: they
        reveal a code exists."""
        assert {
            R.EXPIRED,
            R.NOT_YET_VALID,
            R.USED_UP,
            R.LEVEL_TOO_LOW,
            R.INVALID_CODE,
            R.MALFORMED_CODE,
            R.SUSPENDED,
            R.OUTSIDE_HOURS,
        } == cc.FAILURE_REASONS

    def test_account_codes_are_never_counted(self) -> None:
        """In ACCOUNT mode nothing blocks, so nothing counts toward lockout."""
        book, tracker = make_book(mode=cc.Mode.ACCOUNT), cc.FailureTracker()
        for code in ("12", "9999", None):
            decision = cc.decide(book, call(), code, now=NOW)
            cc.settle(book, tracker, call(), decision, attempt=1, now=NOW)
        assert tracker.count("acme", None, NOW, DEFAULTS) == 0

    def test_the_entry_that_locks_ends_the_call(self) -> None:
        """The failure that brings a lock is not retried: another prompt would be pointless."""
        book, tracker = make_book(cc.Lockout(user_attempts=2), max_attempts=5), cc.FailureTracker()
        first = cc.decide(book, call(), "9999", 1, now=NOW)
        assert cc.settle(book, tracker, call(), first, attempt=1, now=NOW) == (first, ())
        assert first.retry is True
        second = cc.decide(book, call(), "9998", 2, now=NOW)
        settled, locks = cc.settle(book, tracker, call(), second, attempt=2, now=NOW)
        assert settled == cc.Decision(cc.Verdict.BLOCK, R.INVALID_CODE, None, False)
        assert len(locks) == 1

    def test_emergency_is_untouched(self) -> None:
        """An emergency call's decision passes through settle unchanged, even when locked."""
        book, tracker = make_book(), cc.FailureTracker()
        book.lock(cc.Lock("acme", None, NOW))
        emergency = call(call_type=cc.CallType.EMERGENCY)
        decision = cc.decide(book, emergency, now=NOW)
        assert cc.settle(book, tracker, emergency, decision, attempt=1, now=NOW) == (decision, ())

    def test_a_removed_group_is_not_an_error(self) -> None:
        """If the group was removed since the decision, settle counts nothing and returns."""
        book, tracker = make_book(), cc.FailureTracker()
        decision = cc.decide(book, call(), "9999", now=NOW)
        book.remove_group("acme")
        assert cc.settle(book, tracker, call(), decision, attempt=1, now=NOW) == (decision, ())


class Clock:
    """A settable clock for an Engine."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def guarded(**options: object) -> tuple[cc.Engine, cc.MemorySink, Clock, list[cc.LockEvent]]:
    changes: list[cc.LockEvent] = []
    sink, clock = cc.MemorySink(), Clock()
    engine = cc.Engine(make_book(**options), sink, clock, on_lock=changes.append)
    return engine, sink, clock, changes


class TestEngine:
    """The Engine counts failures, locks, records lock events, alerts, and unlocks."""

    def test_tenth_failure_locks_records_and_alerts(self) -> None:
        """Ten bad entries: the hook hears of the lock, and the log holds it after the entry."""
        engine, sink, clock, changes = guarded()
        for i in range(10):
            engine.decide(call(), f"{i:04}")
            clock.now += SECOND
        last = NOW + 9 * SECOND
        lock = cc.Lock("acme", "alice", last, last + timedelta(minutes=30))
        assert changes == [cc.LockEvent(cc.LockChange.LOCKED, lock, last, cc.GUARD_ACTOR, call())]
        assert engine.locks("acme") == [lock]
        *_, failure, locked = sink.events()
        assert failure.reason is R.INVALID_CODE
        assert (locked.verdict, locked.reason, locked.user, locked.time) == (
            cc.Verdict.BLOCK,
            R.LOCKED_OUT,
            "alice",
            last,
        )
        assert locked.description == f"user locked until {(last + 30 * 60 * SECOND).isoformat()}"
        assert locked.masked is None
        assert locked.code is None
        assert engine.decide(call(), "1234").reason is R.LOCKED_OUT

    def test_emergency_and_exempt_calls_pass_while_locked(self) -> None:
        """A locked group still makes emergency calls, and exempt call types need no code."""
        engine, *_ = guarded(allow_local_and_toll_free=True)
        engine.book.lock(cc.Lock("acme", None, NOW))
        assert engine.decide(call(call_type=cc.CallType.EMERGENCY)).reason is R.EMERGENCY
        assert engine.decide(call(call_type=cc.CallType.LOCAL)).reason is R.EXEMPT_CALL_TYPE
        assert engine.decide(call(), "1234").reason is R.LOCKED_OUT

    def test_spread_attack_locks_the_group(self) -> None:
        """Failures spread over users lock the group; the group lock's event has no user."""
        engine, sink, _, changes = guarded(lockout=cc.Lockout(user_attempts=10, group_attempts=3))
        for user in ("alice", "bob", "carol"):
            engine.decide(call(user), "9999")
        assert [(c.lock.user, c.call.user if c.call else None) for c in changes] == [
            (None, "carol")
        ]
        assert sink.events()[-1].user == ""
        assert sink.events()[-1].description.startswith("group locked until ")  # type: ignore[union-attr]
        assert engine.decide(call("alice"), "1234").reason is R.LOCKED_OUT

    def test_manual_lock_says_so(self) -> None:
        """With lock_for=None the event says the lock lasts until unlocked."""
        engine, sink, *_ = guarded(lockout=cc.Lockout(user_attempts=1, lock_for=None))
        engine.decide(call(), "9999")
        assert sink.events()[-1].description == "user locked until unlocked"

    def test_unlock_lifts_records_alerts_and_forgets(self) -> None:
        """An administrator's unlock: the call goes through, the log and the hook say who."""
        engine, sink, clock, changes = guarded(lockout=cc.Lockout(user_attempts=2))
        engine.decide(call(), "9999")
        engine.decide(call(), "9998")
        clock.now += SECOND
        assert engine.unlock("acme", "alice", actor="root") is True
        assert changes[-1].change is cc.LockChange.UNLOCKED
        assert (changes[-1].actor, changes[-1].time, changes[-1].call) == ("root", clock.now, None)
        unlocked = sink.events()[-1]
        assert (unlocked.verdict, unlocked.reason, unlocked.description) == (
            cc.Verdict.LOG_ONLY,
            R.LOCKED_OUT,
            "user unlocked by root",
        )
        assert engine.decide(call(), "1234").reason is R.AUTHORIZED
        assert engine.tracker.count("acme", "alice", clock.now, cc.Lockout()) == 0
        engine.decide(call(), "9999")
        assert engine.locks("acme") == []  # a fresh count: one failure does not lock again

    def test_unlock_without_a_lock_changes_nothing(self) -> None:
        """Unlocking a user who is not locked returns False and records nothing."""
        engine, sink, _, changes = guarded()
        assert engine.unlock("acme", "alice", actor="root") is False
        assert engine.unlock("acme", actor="root") is False
        assert (sink.events(), changes) == ([], [])

    @pytest.mark.parametrize("actor", ["", "  ", None])
    def test_unlock_names_its_actor(self, actor: object) -> None:
        """An unlock without an actor is refused and the lock stays."""
        engine, *_ = guarded()
        engine.book.lock(cc.Lock("acme", "alice", NOW))
        with pytest.raises(cc.InvalidValueError, match="name who unlocks"):
            engine.unlock("acme", "alice", actor=actor)  # type: ignore[arg-type]
        assert len(engine.locks("acme")) == 1

    def test_a_failing_alert_hook_never_stops_a_call(self) -> None:
        """A hook that raises is logged; the decision and the lock stand."""

        def broken(change: cc.LockEvent) -> None:
            raise RuntimeError("pager down")

        engine = cc.Engine(make_book(lockout=cc.Lockout(user_attempts=1)), on_lock=broken)
        assert engine.decide(call(), "9999").reason is R.INVALID_CODE
        assert engine.decide(call(), "1234").reason is R.LOCKED_OUT

    def test_bad_hooks_and_stores_are_refused(self) -> None:
        """on_lock must be callable and a store must have consume, lock and unlock."""
        with pytest.raises(cc.InvalidValueError, match="on_lock"):
            cc.Engine(make_book(), on_lock="pager")  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="consume, lock and unlock"):
            cc.Engine(make_book(), store=object())  # type: ignore[arg-type]

    def test_collector_through_the_engine_records_every_entry(self) -> None:
        """Engine.collector judges each entry with the engine: every entry is an event."""
        engine, sink, *_ = guarded(max_attempts=3)
        collector = engine.collector(call())
        collector.send_keys("9999")
        done = collector.send_keys("#1234")
        assert isinstance(done, cc.Finished)
        assert done.decision.reason is R.AUTHORIZED
        assert [(e.reason, e.attempt, e.masked) for e in sink.events()] == [
            (R.INVALID_CODE, 1, "****"),
            (R.AUTHORIZED, 2, "****"),
        ]
        assert engine.tracker.count("acme", "alice", NOW, cc.Lockout()) == 1

    def test_collector_attempts_count_toward_lockout(self) -> None:
        """Failures in collected entries lock the user, which ends the collection at once."""
        engine, _, _, changes = guarded(max_attempts=3, lockout=cc.Lockout(user_attempts=2))
        collector = engine.collector(call())
        collector.send_keys("1111")
        collector.send_keys("2222")
        assert collector.finished
        assert collector.outcome is not None
        assert collector.outcome.decision == cc.Decision(cc.Verdict.BLOCK, R.INVALID_CODE)
        assert collector.attempt == 2
        assert len(changes) == 1
        assert engine.collector(call()).outcome.decision.reason is R.LOCKED_OUT  # type: ignore[union-attr]


def stored(path: Path, **options: object) -> PolicyStore:
    """A policy store file holding group "acme" as make_book builds it."""
    store = PolicyStore(path)
    book = make_book(**options)
    store.set_group("acme", book.group("acme"), actor="admin")
    store.add_codes("acme", book.codes("acme", limit=None), actor="admin")
    return store


ATTACK = """
import sys
from datetime import UTC, datetime, timedelta
import callcodes as cc
from callcodes.core import guard
from callcodes.core.guard import Tracker
from callcodes.integrations import kamailio as kam
from callcodes.store import PolicyStore

store = PolicyStore(sys.argv[1])
now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
engine = cc.Engine(store.load(), clock=lambda: now, store=store)
call = cc.Call("acme", "alice", "0114420712345", "international")
for guess in range(10):
    print(engine.decide(call, f"{guess:04}").reason)
"""


class TestStore:
    """With a policy store, locks and use counts are written through and survive a restart."""

    def test_a_lock_survives_a_restart(self, tmp_path: Path) -> None:
        """A real process is locked out and exits; a new store on the file still holds the lock."""
        path = tmp_path / "policy.db"
        stored(path).close()
        done = subprocess.run(
            [sys.executable, "-c", ATTACK, str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert done.stdout.split("\n")[:10] == ["invalid code"] * 10
        store = PolicyStore(path)
        lock = cc.Lock("acme", "alice", NOW, NOW + timedelta(minutes=30))
        assert store.locks("acme") == [lock]
        engine = cc.Engine(store.load(), clock=lambda: NOW + SECOND, store=store)
        assert engine.decide(call(), "1234").reason is R.LOCKED_OUT
        (record,) = store.audit("acme", action="lock")
        assert record.actor == cc.GUARD_ACTOR

    def test_unlock_through_the_engine_reaches_the_store(self, tmp_path: Path) -> None:
        """Engine.unlock lifts the stored lock, audited under the administrator's name."""
        store = stored(tmp_path / "policy.db", lockout=cc.Lockout(user_attempts=1))
        engine = cc.Engine(store.load(), clock=lambda: NOW, store=store)
        engine.decide(call(), "9999")
        assert len(store.locks("acme")) == 1
        assert engine.unlock("acme", "alice", actor="root") is True
        assert store.locks("acme") == []
        assert [(r.action.value, r.actor) for r in store.audit("acme", latest=2)] == [
            ("lock", cc.GUARD_ACTOR),
            ("unlock", "root"),
        ]
        assert cc.Engine(store.load(), clock=lambda: NOW).decide(call(), "1234").reason is (
            R.AUTHORIZED
        )

    def test_unlock_of_a_lock_only_the_store_knows(self, tmp_path: Path) -> None:
        """A lock another worker wrote is lifted in the store even if this book never saw it."""
        store = stored(tmp_path / "policy.db")
        engine = cc.Engine(store.load(), clock=lambda: NOW, store=store)
        store.lock(cc.Lock("acme", "alice", NOW), actor="worker-2")
        assert engine.unlock("acme", "alice", actor="root") is True
        assert store.locks("acme") == []

    def test_the_last_use_is_shared_between_workers(self, tmp_path: Path) -> None:
        """Two engines on one store file: a one-time code authorizes one call between them."""
        path = tmp_path / "policy.db"
        store = stored(path)
        store.update_codes("acme", [cc.CodeEntry("1234", max_uses=1)], actor="admin")
        other = PolicyStore(path)
        first = cc.Engine(store.load(), clock=lambda: NOW, store=store)
        second = cc.Engine(other.load(), clock=lambda: NOW, store=other)
        assert first.decide(call(), "1234").reason is R.AUTHORIZED
        assert second.decide(call("bob"), "1234").reason is R.USED_UP
        assert PolicyStore(path).uses("acme", "1234") == 1

    def test_a_group_the_store_lacks_fails_closed(self, tmp_path: Path) -> None:
        """A use-limited code in a book ahead of its store is refused rather than counted."""
        store = PolicyStore(tmp_path / "policy.db")
        engine = cc.Engine(make_book(), clock=lambda: NOW, store=store)
        engine.book.update_codes("acme", [cc.CodeEntry("1234", max_uses=5)])
        assert engine.decide(call(), "1234").reason is R.USED_UP


def in_force(book: cc.CodeBook, user: str, now: datetime) -> bool:
    return any(lock.user in (None, user) for lock in book.locks("acme", now))


class TestBruteForce:
    """An attacker walking the whole code space is stopped; emergency calls still pass."""

    @given(
        base=settings(cc.Mode.AUTHORIZATION),
        lockout=lockouts,
        length=st.sampled_from((2, 2, 3)),
        data=st.data(),
    )
    def test_walking_the_code_space_is_locked_within_n_entries(
        self, base: cc.GroupSettings, lockout: cc.Lockout, length: int, data: st.DataObject
    ) -> None:
        """Locked within N failures; no ALLOW while locked; emergency allowed throughout."""
        group = attrs.evolve(
            base,
            code_length=length,
            lockout=lockout,
            mandatory_users=base.mandatory_users | {"mallory"},
            optional_users=base.optional_users - {"mallory"},
        )
        book = cc.CodeBook()
        book.set_group("acme", group)
        valid = data.draw(
            st.lists(st.integers(0, 10**length - 1), max_size=10, unique=True), label="valid"
        )
        book.add_codes("acme", [f"{n:0{length}}" for n in valid])
        start = data.draw(st.integers(0, 10**length - 1), label="start")
        # Every N consecutive failures fall in one window, even with valid codes between them.
        # (Floor division: timedelta rounds "/" to the nearest microsecond, which can stretch
        # N gaps past a window of a few microseconds.)
        gap = lockout.user_window // (lockout.user_attempts + len(valid))
        clock = [NOW]
        changes: list[cc.LockEvent] = []
        engine = cc.Engine(book, clock=lambda: clock[0], on_lock=changes.append)
        attacker = cc.Call("acme", "mallory", "0114420712345", cc.CallType.INTERNATIONAL)
        emergency = cc.Call("acme", "mallory", "911", cc.CallType.EMERGENCY)
        since_lock, locked_once = 0, False
        for step in range(10**length):
            now = clock[0] = NOW + step * gap
            code = f"{(start + step) % 10**length:0{length}}"
            attempt = step % group.max_attempts + 1
            locked = in_force(book, "mallory", now)
            before = len(changes)
            decision = engine.decide(attacker, code, attempt)
            if locked:
                assert decision == cc.Decision(cc.Verdict.BLOCK, R.LOCKED_OUT)
            if lockout.lock_for is None and locked_once:
                assert locked
            since_lock += cc.is_failure(decision)
            if len(changes) > before:
                since_lock, locked_once = 0, True
            assert since_lock < lockout.user_attempts
            assert engine.decide(emergency) == cc.Decision(cc.Verdict.ALLOW, R.EMERGENCY)
        assert all(c.change is cc.LockChange.LOCKED and c.call == attacker for c in changes)
        assert locked_once or 10**length - len(valid) < lockout.user_attempts


ROOT = Path(__file__).resolve().parent.parent
SECURITY = ROOT / "docs" / "security.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PRINTED = re.compile(r"^print\(.*\)\s+# (?P<expected>.+)$")


def record(printed: list[str], *args: object) -> None:
    printed.append(" ".join(map(str, args)))


class TestSecurityDoc:
    """docs/security.md: its examples run as written and its simulation tables are current."""

    def test_examples_print_what_their_comments_say(self) -> None:
        """Each python block runs; a print() commented with its output prints exactly that."""
        blocks = PYTHON_BLOCK.findall(SECURITY.read_text(encoding="utf-8"))
        assert len(blocks) >= 2
        for block in blocks:
            printed: list[str] = []
            namespace: dict[str, object] = {"print": partial(record, printed)}
            expected = [m["expected"] for m in map(PRINTED.match, block.splitlines()) if m]
            exec(compile(block, str(SECURITY), "exec"), namespace)
            assert printed == expected

    def test_simulation_tables_are_current(self) -> None:
        """The brute-force script, run as a real process, finds the doc's tables up to date."""
        result = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "bruteforce.py"), "--check", str(SECURITY)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


class TestAcrossNodesThroughAnOutage:
    """Nodes share the count in PostgreSQL; while it is away a node counts alone, then merges."""

    def test_failures_counted_during_an_outage_are_merged_and_lock_on_time(
        self, postgres: PostgresServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """2 failures before, 2 while the server is killed (counted here, refused by nothing),
        and the 5th after it is back: the 5th locks, as if the database had never left."""
        monkeypatch.setattr(_failures, "RECONNECT_EVERY", 0.0)  # retry at the next failure
        lockout = cc.Lockout(user_attempts=5, group_attempts=100_000)
        tracker = kam.FallbackFailureTracker(kam.SharedFailureTracker(pg_url))
        try:
            for i in range(2):
                assert tracker.record("acme", "alice", NOW + i * SECOND, lockout) == ()
            postgres.kill()
            try:
                for i in range(2, 4):
                    assert tracker.record("acme", "alice", NOW + i * SECOND, lockout) == ()
                assert tracker.pending == 2
                assert tracker.count("acme", "alice", NOW + 3 * SECOND, lockout) == 2  # local
                with pytest.raises(cc.UnavailableError, match="unreachable"):
                    tracker.shared.count("acme", "alice", NOW, lockout)
            finally:
                postgres.start()
            at = NOW + 4 * SECOND
            assert tracker.record("acme", "alice", at, lockout) == (
                cc.Lock("acme", "alice", at, at + timedelta(minutes=30)),
            )
            assert tracker.pending == 0
            assert tracker.count("acme", "alice", at, lockout) == 0
        finally:
            tracker.close()

    def test_a_threshold_reached_during_the_outage_locks_locally(
        self, postgres: PostgresServer, pg_url: str
    ) -> None:
        """A node cut off from the others still locks at its own count."""
        lockout = cc.Lockout(user_attempts=3, group_attempts=100_000)
        tracker = kam.FallbackFailureTracker(kam.SharedFailureTracker(pg_url))
        postgres.kill()
        try:
            locks = [tracker.record("acme", "bob", NOW + i * SECOND, lockout) for i in range(3)]
        finally:
            postgres.start()
            tracker.close()
        assert [len(due) for due in locks] == [0, 0, 1]
