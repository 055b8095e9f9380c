"""Richer codes at their boundaries: validity instants, the last use, levels, coded call types."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
import helpers
from helpers import NOW, call

TICK = timedelta(microseconds=1)
PLUS_ONE = timezone(timedelta(hours=1))
ALLOW, BLOCK = cc.Verdict.ALLOW, cc.Verdict.BLOCK
R = cc.Reason


def make_book(*entries: cc.CodeEntry, **options: object) -> cc.CodeBook:
    """acme holding just *entries*, with alice and bob both mandatory and three attempts."""
    return helpers.make_book(
        codes=entries,
        mandatory_users=frozenset({"alice", "bob"}),
        optional_users=frozenset(),
        max_attempts=3,
        **options,
    )


def place(
    book: cc.CodeBook,
    code: str,
    now: datetime = NOW,
    attempt: int = 1,
    the_call: cc.Call | None = None,
) -> cc.Decision:
    """Decide and settle one entry, as a facade does on the call path."""
    the_call = the_call or call()
    decision = cc.decide(book, the_call, code, attempt, now=now)
    return cc.settle(book, cc.FailureTracker(), the_call, decision, attempt=attempt, now=now)[0]


class TestValidity:
    """valid_from is inclusive, valid_until exclusive, to the microsecond."""

    def test_valid_until_is_exclusive(self) -> None:
        """Allowed one microsecond before valid_until, expired at that exact instant."""
        book = make_book(cc.CodeEntry("1234", valid_until=NOW))
        assert place(book, "1234", NOW - TICK).reason is R.AUTHORIZED
        assert place(book, "1234", NOW) == cc.Decision(BLOCK, R.EXPIRED, None, True)
        assert place(book, "1234", NOW + TICK).reason is R.EXPIRED

    def test_valid_from_is_inclusive(self) -> None:
        """Not yet valid one microsecond before valid_from, allowed at that exact instant."""
        book = make_book(cc.CodeEntry("1234", valid_from=NOW))
        assert place(book, "1234", NOW - TICK) == cc.Decision(BLOCK, R.NOT_YET_VALID, None, True)
        assert place(book, "1234", NOW).reason is R.AUTHORIZED

    def test_the_smallest_window(self) -> None:
        """A window of one microsecond allows exactly one instant."""
        book = make_book(cc.CodeEntry("1234", valid_from=NOW, valid_until=NOW + TICK))
        reasons = [place(book, "1234", NOW + d * TICK).reason for d in (-1, 0, 1)]
        assert reasons == [R.NOT_YET_VALID, R.AUTHORIZED, R.EXPIRED]

    def test_other_time_zones_compare_as_instants(self) -> None:
        """An end given in another zone is the same instant: UTC+1 13:00 is 12:00 UTC."""
        end = datetime(2026, 11, 29, 13, tzinfo=PLUS_ONE)
        book = make_book(cc.CodeEntry("1234", valid_until=end))
        assert place(book, "1234", NOW - TICK).reason is R.AUTHORIZED
        assert place(book, "1234", NOW).reason is R.EXPIRED

    def test_last_attempt_refusal_is_final(self) -> None:
        """On the last attempt an expired code is refused without retry."""
        book = make_book(cc.CodeEntry("1234", valid_until=NOW))
        assert place(book, "1234", NOW, attempt=3) == cc.Decision(BLOCK, R.EXPIRED)


class TestUses:
    """max_uses counts calls the code allows; the last use is allowed, the next refused."""

    def test_the_last_use_is_allowed_and_the_next_refused(self) -> None:
        """With max_uses=3, three calls are allowed and the fourth is USED_UP."""
        book = make_book(cc.CodeEntry("1234", max_uses=3))
        outcomes = [place(book, "1234").reason for _ in range(4)]
        assert outcomes == [R.AUTHORIZED] * 3 + [R.USED_UP]
        assert book.uses("acme", "1234") == 3

    def test_one_time_code(self) -> None:
        """A one-time code authorizes one call only, whoever dials next."""
        book = make_book(cc.CodeEntry("1234", max_uses=1))
        assert place(book, "1234").reason is R.AUTHORIZED
        assert place(book, "1234", the_call=call("bob")).reason is R.USED_UP

    def test_a_race_for_the_last_use_has_one_winner(self) -> None:
        """Two calls decided before either is settled: the second loses the last use."""
        book = make_book(cc.CodeEntry("1234", max_uses=1))
        first = cc.decide(book, call(), "1234", now=NOW)
        second = cc.decide(book, call("bob"), "1234", now=NOW)
        assert first.reason is second.reason is R.AUTHORIZED
        tracker = cc.FailureTracker()
        won, _ = cc.settle(book, tracker, call(), first, attempt=1, now=NOW)
        lost, _ = cc.settle(book, tracker, call("bob"), second, attempt=1, now=NOW)
        assert won.verdict is ALLOW
        assert lost == cc.Decision(BLOCK, R.USED_UP, None, True)
        assert tracker.count("acme", "bob", NOW, cc.Lockout()) == 1

    def test_refusals_do_not_use_the_code(self) -> None:
        """A refusal (level too low, expired) leaves the use count as it was."""
        book = make_book(
            cc.CodeEntry("1234", max_uses=1, level=1, valid_until=NOW + TICK),
            min_levels={cc.CallType.INTERNATIONAL: 2},
        )
        assert place(book, "1234", the_call=call(call_type=cc.CallType.INTERNATIONAL)).reason is (
            R.LEVEL_TOO_LOW
        )
        assert place(book, "1234", NOW + TICK).reason is R.EXPIRED
        assert book.uses("acme", "1234") == 0
        assert place(book, "1234").reason is R.AUTHORIZED

    def test_codes_without_a_limit_are_not_counted(self) -> None:
        """A code without max_uses allows any number of calls and keeps no count."""
        book = make_book(cc.CodeEntry("1234"))
        assert all(place(book, "1234").verdict is ALLOW for _ in range(50))
        assert book.uses("acme", "1234") == 0

    @given(max_uses=st.integers(1, 12), calls=st.integers(0, 20))
    def test_exactly_max_uses_calls_are_allowed(self, max_uses: int, calls: int) -> None:
        """For any limit and number of calls, min(calls, max_uses) are allowed."""
        book = make_book(cc.CodeEntry("1234", max_uses=max_uses))
        allowed = sum(place(book, "1234").verdict is ALLOW for _ in range(calls))
        assert allowed == min(calls, max_uses)
        assert book.uses("acme", "1234") == allowed


class TestLevels:
    """A code's level must be at least the call type's minimum; 0 and 255 are the ends."""

    @pytest.mark.parametrize(
        ("level", "minimum", "reason"),
        [
            (5, 5, R.AUTHORIZED),
            (4, 5, R.LEVEL_TOO_LOW),
            (0, 0, R.AUTHORIZED),
            (255, 255, R.AUTHORIZED),
            (254, 255, R.LEVEL_TOO_LOW),
            (0, 1, R.LEVEL_TOO_LOW),
        ],
    )
    def test_level_boundary(self, level: int, minimum: int, reason: cc.Reason) -> None:
        """A level equal to the minimum passes; one below is refused."""
        book = make_book(
            cc.CodeEntry("1234", level=level), min_levels={cc.CallType.INTERNATIONAL: minimum}
        )
        got = place(book, "1234", the_call=call(call_type=cc.CallType.INTERNATIONAL))
        assert got.reason is reason

    def test_minimums_apply_per_call_type(self) -> None:
        """A minimum for INTERNATIONAL does not apply to NATIONAL calls (no entry: minimum 0)."""
        book = make_book(cc.CodeEntry("1234", level=0), min_levels={cc.CallType.INTERNATIONAL: 200})
        assert place(book, "1234").reason is R.AUTHORIZED
        international = call(call_type=cc.CallType.INTERNATIONAL)
        assert place(book, "1234", the_call=international).reason is R.LEVEL_TOO_LOW

    @pytest.mark.parametrize("level", [-1, 256, True, 1.0])
    def test_levels_outside_0_to_255_are_refused(self, level: object) -> None:
        """A level is an integer from 0 to 255."""
        with pytest.raises(cc.InvalidValueError, match="level"):
            cc.CodeEntry("1234", level=level)  # type: ignore[arg-type]


class TestCodedCallTypes:
    """Which call types need a code: a per-type setting, with the BroadWorks shortcut on top."""

    def test_default_is_every_type_outside_the_group(self) -> None:
        """By default every call type but EMERGENCY and INTERNAL needs a code."""
        book = make_book(cc.CodeEntry("1234"))
        for call_type in cc.OUTSIDE_CALL_TYPES:
            assert cc.requirement(book, call(call_type=call_type)).need is cc.Need.MANDATORY

    def test_only_listed_types_need_a_code(self) -> None:
        """With coded_call_types={INTERNATIONAL, PREMIUM}, only those are prompted."""
        book = make_book(
            coded_call_types={cc.CallType.INTERNATIONAL, cc.CallType.PREMIUM},
        )
        needs = {
            t for t in cc.CallType if cc.requirement(book, call(call_type=t)).need.value != "none"
        }
        assert needs == {cc.CallType.INTERNATIONAL, cc.CallType.PREMIUM}

    def test_local_and_toll_free_shortcut_applies_on_top(self) -> None:
        """allow_local_and_toll_free exempts LOCAL and TOLL_FREE even when listed."""
        book = make_book(allow_local_and_toll_free=True)
        for call_type in (cc.CallType.LOCAL, cc.CallType.TOLL_FREE):
            decision = cc.decide(book, call(call_type=call_type))
            assert decision == cc.Decision(ALLOW, R.EXEMPT_CALL_TYPE)
        assert cc.decide(book, call()).verdict is BLOCK

    def test_exempt_calls_pass_while_locked(self) -> None:
        """A locked user's exempt and emergency calls still go through."""
        book = make_book(coded_call_types={cc.CallType.INTERNATIONAL})
        book.lock(cc.Lock("acme", None, NOW))
        assert cc.decide(book, call(), now=NOW).reason is R.EXEMPT_CALL_TYPE
        emergency = call(call_type=cc.CallType.EMERGENCY)
        assert cc.decide(book, emergency, now=NOW).reason is R.EMERGENCY
        international = call(call_type=cc.CallType.INTERNATIONAL)
        assert cc.decide(book, international, "1234", now=NOW).reason is R.LOCKED_OUT


class TestThroughTheEngine:
    """The Engine applies the same limits with its clock, and counts each use it allows."""

    def test_the_last_use_through_the_engine(self) -> None:
        """max_uses=2: two calls allowed and recorded, the third refused as used up."""
        sink = cc.MemorySink()
        engine = cc.Engine(make_book(cc.CodeEntry("1234", max_uses=2)), sink, lambda: NOW)
        reasons = [engine.decide(call(), "1234").reason for _ in range(3)]
        assert reasons == [R.AUTHORIZED, R.AUTHORIZED, R.USED_UP]
        assert [e.reason for e in sink.events()] == reasons
        assert engine.book.uses("acme", "1234") == 2

    def test_expiry_at_the_engine_clock_instant(self) -> None:
        """The engine's clock at valid_until exactly: expired; a microsecond before: allowed."""
        times = [NOW - TICK, NOW]
        engine = cc.Engine(make_book(cc.CodeEntry("1234", valid_until=NOW)), clock=times.pop)
        assert engine.decide(call(), "1234").reason is R.EXPIRED
        assert engine.decide(call(), "1234").reason is R.AUTHORIZED

    def test_account_codes_are_not_used_up(self) -> None:
        """In ACCOUNT mode a use-limited code is logged on every call and never counted."""
        engine = cc.Engine(
            make_book(cc.CodeEntry("1234", max_uses=1), mode=cc.Mode.ACCOUNT), clock=lambda: NOW
        )
        assert {engine.decide(call(), "1234").reason for _ in range(3)} == {R.ACCOUNT_CODE}
        assert engine.book.uses("acme", "1234") == 0
