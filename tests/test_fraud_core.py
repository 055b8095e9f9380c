"""Toll fraud beyond guessing, in the core and the engine: hours, use limits, redirected legs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
import helpers
from callcodes._timefmt import zone
from callcodes.core.hours import DAYS
from helpers import NOW
from strategies import hours_texts, limits_values, settings, zones

ALLOW, BLOCK = cc.Verdict.ALLOW, cc.Verdict.BLOCK
R = cc.Reason
T = cc.CallType
PARIS = zone("Europe/Paris")
TIMES = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001  # hypothesis bounds are naive
    max_value=datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
# Five users, so that distinct-user limits meet more users than they allow.
USERS = ("alice", "bob", "carol", "dave", "erin")
COSTLY_OR_NOT = st.sampled_from([T.NATIONAL, T.INTERNATIONAL, T.PREMIUM, T.LOCAL])


def book_with(*entries: cc.CodeEntry, **settings: object) -> cc.CodeBook:
    """acme in AUTHORIZATION mode, every user mandatory, holding *entries* (1234 by default)."""
    return helpers.make_book(
        codes=entries or (cc.CodeEntry("1234"),),
        mandatory_users=frozenset(USERS),
        optional_users=frozenset(),
        **settings,
    )


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# -- allowed hours ---------------------------------------------------------------------------------


def plainly_inside(text: str, local: datetime) -> bool:
    """Whether *local* falls inside the spans written in *text*: a second, naive reading."""
    minute = local.hour * 60 + local.minute
    today = local.weekday()
    for part in text.split(","):
        days_text, times = part.split()
        first, _, last = days_text.partition("-")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days = [(a + i) % 7 for i in range((b - a) % 7 + 1)]
        start_text, end_text = times.split("-")
        start = int(start_text[:2]) * 60 + int(start_text[3:])
        end = int(end_text[:2]) * 60 + int(end_text[3:])
        if end > start and today in days and start <= minute < end:
            return True
        if end <= start and (
            (today in days and minute >= start) or ((today - 1) % 7 in days and minute < end)
        ):
            return True
    return False


class TestHours:
    """Allowed hours: read, written back, and judged in the group's zone."""

    @given(hours_texts)
    def test_text_reads_back_the_same(self, text: str) -> None:
        """The text of parsed hours is the text that was parsed, and reads to equal hours."""
        hours = cc.parse_hours(text)
        assert str(hours) == text
        assert cc.parse_hours(str(hours)) == hours

    @given(hours_texts, TIMES, zones)
    def test_a_time_is_judged_in_the_zone_as_its_local_clock_says(
        self, text: str, now: datetime, where: object
    ) -> None:
        """allows() agrees with a naive reading of the text at the zone's local time."""
        hours = cc.parse_hours(text)
        local = now.astimezone(where)  # type: ignore[arg-type]
        assert hours.allows(now, where) is plainly_inside(text, local)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("", "spans like"),
            ("mon-fri", "cannot read"),
            ("mon-fri 08:00-08:00", "is empty"),
            ("mon-fri 25:00-26:00", "not a time of day"),
            ("mon-fri 08:60-09:00", "not a time of day"),
            ("xyz 08:00-09:00", "is not a day"),
            ("mon 24:00-01:00", "not a time of day"),
            (", ".join(["mon 08:00-09:00"] * 15), "at most 14 spans"),
            ("mon 08:00-09:00" + " " * 400, "at most 400 characters"),
        ],
    )
    def test_bad_hours_are_refused_saying_what_to_write(self, text: str, problem: str) -> None:
        """Each malformed text is refused with InvalidValueError that says what is wrong."""
        with pytest.raises(cc.InvalidValueError, match=problem):
            cc.parse_hours(text)

    def test_summer_time_moves_the_hours_with_the_local_clock(self) -> None:
        """09:00-17:00 in Paris is 07:00-15:00 UTC in July and 08:00-16:00 UTC in January."""
        hours = cc.parse_hours("mon-sun 09:00-17:00")
        july, january = datetime(2026, 7, 1, 7, tzinfo=UTC), datetime(2026, 1, 7, 7, tzinfo=UTC)
        assert hours.allows(july, PARIS)
        assert not hours.allows(january, PARIS)
        assert hours.allows(january + timedelta(hours=1), PARIS)

    def test_a_code_authorizes_a_call_type_only_inside_its_hours(self) -> None:
        """Outside its hours an international call is refused, inside it is authorized."""
        book = book_with(
            hours={T.INTERNATIONAL: "mon-fri 08:00-18:00"}, time_zone=PARIS, max_attempts=3
        )
        call = helpers.call(call_type=T.INTERNATIONAL)
        saturday_night = datetime(2026, 11, 28, 23, tzinfo=UTC)
        monday_noon = datetime(2026, 11, 30, 11, tzinfo=UTC)
        outside = cc.decide(book, call, "1234", now=saturday_night)
        assert outside == cc.Decision(BLOCK, R.OUTSIDE_HOURS, None, True)
        assert cc.decide(book, call, "1234", now=monday_noon).reason is R.AUTHORIZED
        assert cc.decide(book, call, "1234").reason is R.VALIDITY_UNKNOWN  # no time: refused
        national = helpers.call(call_type=T.NATIONAL)  # no hours for this type
        assert cc.decide(book, national, "1234", now=saturday_night).reason is R.AUTHORIZED

    def test_a_code_with_hours_authorizes_only_inside_them(self) -> None:
        """A night-shift code works 22:00-06:00 in Paris, for every call type; another code
        without hours works at any time; the entry refuses bad hours."""
        night = cc.CodeEntry("5555", hours="mon-sun 22:00-06:00")
        book = book_with(cc.CodeEntry("1234"), night, time_zone=PARIS, max_attempts=3)
        call = helpers.call()
        noon, late = datetime(2026, 3, 2, 11, tzinfo=UTC), datetime(2026, 3, 2, 23, tzinfo=UTC)
        assert cc.decide(book, call, "5555", now=late).reason is R.AUTHORIZED
        refused = cc.decide(book, call, "5555", now=noon)
        assert refused == cc.Decision(BLOCK, R.OUTSIDE_HOURS, None, True)
        assert cc.decide(book, call, "5555").reason is R.VALIDITY_UNKNOWN
        assert cc.decide(book, call, "1234", now=noon).reason is R.AUTHORIZED
        assert night.limited
        book._check()
        with pytest.raises(cc.InvalidValueError, match="hours"):
            cc.CodeEntry("5555", hours="nights")

    def test_settings_refuse_hours_for_emergency_and_bad_zones(self) -> None:
        """Emergency calls take no hours; a zone must be a real zone object."""
        with pytest.raises(cc.InvalidValueError, match="no hours"):
            cc.GroupSettings(hours={T.EMERGENCY: "mon 08:00-09:00"})
        with pytest.raises(cc.InvalidValueError, match=r"hours\[international\]"):
            cc.GroupSettings(hours={T.INTERNATIONAL: "always"})
        with pytest.raises(cc.InvalidValueError, match="IANA"):
            cc.GroupSettings(time_zone="Europe/Paris")  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="not a known time zone"):
            zone("Mars/Olympus_Mons")


# -- use limits ------------------------------------------------------------------------------------

calls_in_a_day = st.lists(
    st.tuples(
        st.integers(0, 24 * 3600),  # seconds after NOW
        st.sampled_from(USERS),
        COSTLY_OR_NOT,
        st.sampled_from(["1234", "5678"]),
    ),
    max_size=40,
).map(sorted)


def over_in_window(
    authorized: list[tuple[datetime, str, cc.CallType, str]], limits: cc.Limits
) -> list[str]:
    """Every limit that the authorized calls break inside some window: a plain recount."""
    broken = []
    for when, _, _, _ in authorized:
        inside = [c for c in authorized if when - limits.window < c[0] <= when]
        for code in {c[3] for c in inside}:
            mine = [c for c in inside if c[3] == code]
            dear = [c for c in mine if c[2] in (T.INTERNATIONAL, T.PREMIUM)]
            if limits.calls_per_code is not None and len(mine) > limits.calls_per_code:
                broken.append("calls")
            if limits.users_per_code is not None and len({c[1] for c in mine}) > (
                limits.users_per_code
            ):
                broken.append("users")
            if limits.costly_per_code is not None and len(dear) > limits.costly_per_code:
                broken.append("costly")
        for user in USERS:
            dear = [c for c in inside if c[1] == user and c[2] in (T.INTERNATIONAL, T.PREMIUM)]
            if limits.costly_per_user is not None and len(dear) > limits.costly_per_user:
                broken.append("user costly")
    return broken


class TestUseLimits:
    """Per-code and per-user limits in a sliding window, counted by the engine."""

    @given(limits_values, calls_in_a_day)
    def test_a_code_over_its_limit_never_authorizes_inside_the_window(
        self, limits: cc.Limits, calls: list[tuple[int, str, cc.CallType, str]]
    ) -> None:
        """Whatever the calls, no window holds more authorized calls than a limit allows."""
        limits = attrs.evolve(limits, concurrent_per_code=None)  # no call ends here
        book = book_with(cc.CodeEntry("1234"), cc.CodeEntry("5678"), limits=limits)
        clock = Clock()
        engine = cc.Engine(book, clock=clock)
        authorized = []
        for offset, user, kind, code in calls:
            clock.now = NOW + timedelta(seconds=offset)
            decision = engine.decide(cc.Call("acme", user, "0044207", kind), code)
            if decision.verdict is ALLOW:
                authorized.append((clock.now, user, kind, code))
            elif book.suspended("acme").get(code) is None:
                assert decision.reason in {R.SUSPENDED, *cc.core.usage.LIMIT_REASONS}
        assert over_in_window(authorized, limits) == []

    @given(limits_values, calls_in_a_day)
    def test_limits_never_block_an_emergency_call(
        self, limits: cc.Limits, calls: list[tuple[int, str, cc.CallType, str]]
    ) -> None:
        """With every limit on and reached, emergency calls pass, with or without a code."""
        book = book_with(cc.CodeEntry("1234"), cc.CodeEntry("5678"), limits=limits)
        clock = Clock()
        engine = cc.Engine(book, clock=clock)
        for offset, user, kind, code in calls:
            clock.now = NOW + timedelta(seconds=offset)
            engine.decide(cc.Call("acme", user, "0044207", kind, f"c{offset}"), code)
            emergency = cc.Call("acme", user, "112", T.EMERGENCY)
            for entered in (None, code):
                assert engine.decide(emergency, entered) == cc.Decision(ALLOW, R.EMERGENCY)

    def test_each_limit_blocks_with_its_own_reason_and_alerts(self) -> None:
        """Reaching each limit gives its reason, no retry, and one alert naming the call."""
        cases = [
            (cc.Limits(calls_per_code=2), [("alice", T.NATIONAL)] * 3, R.CALLS_LIMIT),
            (cc.Limits(users_per_code=2), [("alice", T.NATIONAL), ("bob", T.NATIONAL),
                                           ("alice", T.NATIONAL), ("carol", T.NATIONAL)],
             R.USERS_LIMIT),
            (cc.Limits(costly_per_code=1), [("alice", T.INTERNATIONAL), ("alice", T.NATIONAL),
                                            ("bob", T.PREMIUM)], R.COSTLY_LIMIT),
        ]  # fmt: skip
        for limits, calls, reason in cases:
            alerts: list[cc.LimitEvent] = []
            engine = cc.Engine(book_with(limits=limits, max_attempts=3), on_limit=alerts.append)
            decisions = [
                engine.decide(cc.Call("acme", user, "00", kind, f"c{i}"), "1234")
                for i, (user, kind) in enumerate(calls)
            ]
            assert [d.verdict for d in decisions] == [ALLOW] * (len(calls) - 1) + [BLOCK]
            assert decisions[-1] == cc.Decision(BLOCK, reason, None, False)
            assert [(a.reason, a.call.call_id, a.suspended) for a in alerts] == [
                (reason, f"c{len(calls) - 1}", False)
            ]

    def test_the_per_user_costly_limit_counts_every_code_of_the_user(self) -> None:
        """A user's international calls count across codes; another user is not held."""
        book = book_with(cc.CodeEntry("1234"), cc.CodeEntry("5678"))
        book.set_group(
            "acme", attrs.evolve(book.group("acme"), limits=cc.Limits(costly_per_user=2))
        )
        engine = cc.Engine(book)
        intl = T.INTERNATIONAL
        alice = [engine.decide(cc.Call("acme", "alice", "00", intl), c) for c in ("1234", "5678")]
        assert [d.reason for d in alice] == [R.AUTHORIZED, R.AUTHORIZED]
        third = engine.decide(cc.Call("acme", "alice", "00", intl), "1234")
        assert third.reason is R.USER_COSTLY_LIMIT
        assert engine.decide(cc.Call("acme", "bob", "00", intl), "1234").reason is R.AUTHORIZED
        national = engine.decide(cc.Call("acme", "alice", "00", T.NATIONAL), "1234")
        assert national.reason is R.AUTHORIZED  # not a costly call

    def test_the_window_slides(self) -> None:
        """A call leaves the count once it is a whole window old, not before."""
        clock = Clock()
        limits = cc.Limits(calls_per_code=1, window=timedelta(minutes=10))
        engine = cc.Engine(book_with(limits=limits), clock=clock)
        call = helpers.call()
        assert engine.decide(call, "1234").verdict is ALLOW
        clock.now = NOW + timedelta(minutes=10) - timedelta(microseconds=1)
        assert engine.decide(call, "1234").reason is R.CALLS_LIMIT
        clock.now = NOW + timedelta(minutes=10)
        assert engine.decide(call, "1234").verdict is ALLOW

    def test_a_reached_limit_suspends_the_code_until_an_administrator_restores_it(self) -> None:
        """With suspend on, the code stays refused after the window, until restore()."""
        clock = Clock()
        alerts: list[cc.LimitEvent] = []
        limits = cc.Limits(costly_per_code=1, suspend=True)
        book = book_with(limits=limits, max_attempts=3)
        engine = cc.Engine(book, clock=clock, on_limit=alerts.append)
        intl = helpers.call(call_type=T.INTERNATIONAL)
        assert engine.decide(intl, "1234").verdict is ALLOW
        assert engine.decide(intl, "1234").reason is R.COSTLY_LIMIT
        assert [a.suspended for a in alerts] == [True]
        assert book.suspended("acme") == {"1234": NOW}
        book._check()
        clock.now = NOW + timedelta(days=2)
        for kind in (T.NATIONAL, T.INTERNATIONAL):
            refused = engine.decide(helpers.call(call_type=kind), "1234", attempt=1)
            assert refused == cc.Decision(BLOCK, R.SUSPENDED, None, True)
        assert engine.restore("acme", "1234", actor="admin") is True
        assert engine.restore("acme", "1234", actor="admin") is False
        book._check()
        assert engine.decide(intl, "1234").verdict is ALLOW

    def test_concurrent_calls_count_until_the_softswitch_reports_their_end(self) -> None:
        """A second call of a code in progress is refused; once the first ends it passes."""
        engine = cc.Engine(book_with(limits=cc.Limits(concurrent_per_code=1)))
        first, second = (cc.Call("acme", "alice", "00", T.NATIONAL, cid) for cid in ("a", "b"))
        assert engine.decide(first, "1234").verdict is ALLOW
        assert engine.decide(second, "1234").reason is R.CONCURRENT_LIMIT
        engine.end("acme", "a")
        assert engine.decide(second, "1234").verdict is ALLOW

    def test_limits_do_not_touch_groups_or_codes_they_do_not_cover(self) -> None:
        """Account mode, exempt call types and unlimited groups are never counted or refused."""
        limits = cc.Limits(calls_per_code=1, suspend=True)
        account = cc.Engine(book_with(limits=limits, mode=cc.Mode.ACCOUNT))
        for _ in range(3):
            assert account.decide(helpers.call(), "1234").reason is R.ACCOUNT_CODE
        exempt = cc.Engine(book_with(limits=limits, coded_call_types={T.INTERNATIONAL}))
        for _ in range(3):
            assert exempt.decide(helpers.call(), "1234").reason is R.EXEMPT_CALL_TYPE

    def test_limits_are_bounded_and_checked(self) -> None:
        """Zero, negative and huge limits, and a window of nothing, are refused."""
        for bad in ({"calls_per_code": 0}, {"users_per_code": 10**6}, {"suspend": 1}):
            with pytest.raises(cc.InvalidValueError):
                cc.Limits(**bad)  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="duration"):
            cc.Limits(window=timedelta(0))
        assert not cc.Limits().active
        assert cc.Limits(costly_per_user=3).active


# -- redirected legs -------------------------------------------------------------------------------


@st.composite
def redirect_cases(draw: st.DrawFn) -> tuple[cc.CodeBook, cc.Call, datetime]:
    """A group with drawn settings, codes and maybe a lock; a call of one of its users."""
    base = draw(settings())
    group = attrs.evolve(
        base,
        redirect=draw(st.sampled_from(cc.Redirect)),
        hours=draw(st.dictionaries(st.sampled_from([T.INTERNATIONAL, T.NATIONAL]), hours_texts)),
        time_zone=draw(zones),
    )
    book = cc.CodeBook()
    book.set_group("acme", group)
    user = draw(st.sampled_from(USERS))
    if draw(st.booleans()):
        book.lock(cc.Lock("acme", draw(st.none() | st.just(user)), NOW - timedelta(hours=1)))
    call = cc.Call("acme", user, "0044207", draw(st.sampled_from(cc.CallType)))
    return book, call, draw(TIMES)


class TestRedirectedLegs:
    """A forwarded or transferred leg gets its redirecting user's policy, never more."""

    @given(redirect_cases())
    def test_a_redirected_leg_never_gets_more_than_its_user_could_dial(
        self, case: tuple[cc.CodeBook, cc.Call, datetime]
    ) -> None:
        """Allowed only when the user could dial it: without a code, or under redirect allow
        with a code (prompted, not locked out, inside the call type's hours)."""
        book, call, now = case
        leg = attrs.evolve(call, redirected=True)
        decision = cc.decide(book, leg, None, now=now)
        assert not decision.retry  # nobody is there to enter a code
        if decision.verdict is not ALLOW:
            return
        own = cc.decide(book, call, None, now=now)
        if own.verdict is ALLOW:
            assert decision == own
            return
        settings_ = book.group("acme")
        assert settings_.redirect is cc.Redirect.ALLOW
        assert own.reason is R.MISSING_CODE  # the user could dial it by entering a code
        assert decision.reason is R.REDIRECT_ALLOWED
        hours = settings_.hours.get(call.call_type)
        assert hours is None or hours.allows(now, settings_.time_zone)

    @given(redirect_cases())
    def test_exempt_only_lets_through_only_call_types_that_need_no_code(
        self, case: tuple[cc.CodeBook, cc.Call, datetime]
    ) -> None:
        """Under exempt_only in AUTHORIZATION mode, a leg of a coded call type never passes."""
        book, call, now = case
        group = book.group("acme")
        book.set_group(
            "acme", attrs.evolve(group, redirect=cc.Redirect.EXEMPT_ONLY, mode="authorization")
        )
        decision = cc.decide(book, attrs.evolve(call, redirected=True), None, now=now)
        if book.group("acme").needs_code(call.call_type):
            assert decision.verdict is BLOCK
        else:
            assert decision == cc.decide(book, call, None, now=now)

    def test_each_redirect_setting_on_a_mandatory_users_forward(self) -> None:
        """Alice (mandatory) forwards to an international number: each setting's answer."""
        leg = cc.Call("acme", "alice", "0044207", T.INTERNATIONAL, redirected=True)
        expected = {
            cc.Redirect.BLOCK: cc.Decision(BLOCK, R.REDIRECT_BLOCKED),
            cc.Redirect.ALLOW: cc.Decision(ALLOW, R.REDIRECT_ALLOWED),
            cc.Redirect.EXEMPT_ONLY: cc.Decision(BLOCK, R.REDIRECT_BLOCKED),
        }
        for redirect, decision in expected.items():
            book = helpers.make_book(redirect=redirect)
            assert cc.decide(book, leg, None, now=NOW) == decision
            requirement = cc.requirement(book, leg, now=NOW)
            assert (requirement.need, requirement.reason) == (cc.Need.NONE, decision.reason)
        # bob is optional and carol on no list: only exempt_only holds their legs
        for user in ("bob", "carol"):
            other = attrs.evolve(leg, user=user)
            assert cc.decide(helpers.make_book(), other, None, now=NOW).verdict is ALLOW
            held = cc.decide(helpers.make_book(redirect="exempt_only"), other, None, now=NOW)
            assert held == cc.Decision(BLOCK, R.REDIRECT_BLOCKED)

    def test_a_redirected_leg_counts_against_the_users_costly_limit(self) -> None:
        """Under redirect allow, forwarded international legs count as the user's calls."""
        book = helpers.make_book(redirect="allow", limits=cc.Limits(costly_per_user=1))
        engine = cc.Engine(book)
        leg = cc.Call("acme", "alice", "0044207", T.INTERNATIONAL, redirected=True)
        assert engine.decide(leg).reason is R.REDIRECT_ALLOWED
        assert engine.decide(leg).reason is R.USER_COSTLY_LIMIT


# -- the book keeps suspensions --------------------------------------------------------------------


class TestSuspensionsInTheBook:
    """Suspended codes survive settings and entry changes, and go with the code."""

    def test_suspension_follows_changes_and_deletion(self) -> None:
        """A suspension stays through set_group and update_codes, and leaves with delete."""
        book = book_with(cc.CodeEntry("1234"), cc.CodeEntry("5678", max_uses=3))
        assert book.suspend("acme", "1234", NOW)
        assert book.suspend("acme", "5678", NOW)
        assert not book.suspend("acme", "9999", NOW)
        book.set_group("acme", attrs.evolve(book.group("acme"), max_attempts=5))
        book.update_codes("acme", [cc.CodeEntry("1234", "x"), cc.CodeEntry("5678")])
        book._check()
        assert set(book.suspended("acme")) == {"1234", "5678"}
        assert cc.decide(book, helpers.call(), "1234", now=NOW).reason is R.SUSPENDED
        book.delete_codes("acme", ["5678"])
        book._check()
        assert book.restore("acme", "1234")
        assert not book.restore("acme", "1234")
        book._check()
        assert book.suspended("acme") == {}
        assert cc.decide(book, helpers.call(), "1234", now=NOW).reason is R.AUTHORIZED

    def test_replace_group_keeps_the_suspensions_of_listed_codes(self) -> None:
        """replace_group takes suspensions, dropping those of codes not in the batch."""
        book = cc.CodeBook()
        settings_ = cc.GroupSettings(mode="authorization", mandatory_users={"alice"})
        book.replace_group(
            "acme", settings_, ["1234", "5555"], suspended={"1234": NOW, "0000": NOW}
        )
        book._check()
        assert book.suspended("acme") == {"1234": NOW}


class TestEngineHooks:
    """The engine's use-limit hook and tracker are checked, and a failing hook stops nothing."""

    def test_a_failing_alert_hook_is_logged_and_the_call_still_refused(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The hook raises: the refusal stands, the failure is logged, the next call is judged."""

        def broken(_event: cc.LimitEvent) -> None:
            raise RuntimeError("pager down")

        engine = cc.Engine(book_with(limits=cc.Limits(calls_per_code=1)), on_limit=broken)
        call = helpers.call()
        assert engine.decide(call, "1234").verdict is ALLOW
        with caplog.at_level("ERROR", logger="callcodes.events"):
            assert engine.decide(call, "1234").reason is R.CALLS_LIMIT
        assert "the on_limit hook failed" in caplog.text
        assert engine.decide(call, "1234").reason is R.CALLS_LIMIT

    def test_bad_trackers_and_hooks_are_refused(self) -> None:
        """A usage tracker without the protocol's methods, or a hook that is not callable."""
        book = book_with()
        with pytest.raises(cc.InvalidValueError, match="admit, end and forget"):
            cc.Engine(book, usage=object())  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="on_limit"):
            cc.Engine(book, on_limit="pager")  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="actor"):
            cc.Engine(book).restore("acme", "1234", actor=" ")


class TestLockoutCounts:
    """Which new refusals count toward lockout: those of an entered, listed code."""

    def test_suspended_and_out_of_hours_entries_count_limits_and_redirects_do_not(self) -> None:
        """A suspended code and a code outside its hours count as failures; a reached limit and
        a blocked redirected leg (no code entered) do not."""
        book = book_with(cc.CodeEntry("5555", hours="mon 08:00-09:00"), max_attempts=3)
        book.suspend("acme", "5555", NOW)
        engine = cc.Engine(book, clock=lambda: NOW)  # a Sunday: outside the hours too
        for _ in range(2):
            assert engine.decide(helpers.call(), "5555").reason is R.SUSPENDED
        book.restore("acme", "5555")
        assert engine.decide(helpers.call(), "5555").reason is R.OUTSIDE_HOURS
        assert engine.tracker.count("acme", "alice", NOW, cc.Lockout()) == 3
        leg = cc.Call("acme", "bob", "0044207", T.INTERNATIONAL, redirected=True)
        assert engine.decide(leg).reason is R.REDIRECT_BLOCKED
        limited = cc.Engine(book_with(limits=cc.Limits(calls_per_code=1)), clock=lambda: NOW)
        limited.decide(cc.Call("acme", "carol", "00", T.NATIONAL), "1234")
        refused = limited.decide(cc.Call("acme", "carol", "00", T.NATIONAL), "1234")
        assert refused.reason is R.CALLS_LIMIT
        assert engine.tracker.count("acme", "bob", NOW, cc.Lockout()) == 0
        assert limited.tracker.count("acme", "carol", NOW, cc.Lockout()) == 0
