"""The decision: every row of the rule table, and the rules stated as properties."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import callcodes as cc
from helpers import NOW, book_state, call, make_book
from strategies import (
    NON_ASCII_DIGITS,
    aware_times,
    calls_to_books,
    cases,
    entered_codes,
    judged_calls,
)

ALLOW, BLOCK, LOG_ONLY = cc.Verdict.ALLOW, cc.Verdict.BLOCK, cc.Verdict.LOG_ONLY
AUTHORIZATION = cc.Mode.AUTHORIZATION
R = cc.Reason
TICK = timedelta(microseconds=1)


def rule_of(decision: cc.Decision, book: cc.CodeBook, group: str = "acme") -> int:
    mode = book.group(group).mode if group in book else None
    return cc.rule_for(decision, mode).number


class TestRuleTable:
    """One test per row of SPEC.md's table; each checks verdict, reason, entry, retry and row."""

    def test_rule_1_emergency_is_allowed_even_for_a_locked_user(self) -> None:
        """Rule 1: an emergency call is allowed whatever the policy, with no code."""
        book = make_book()
        book.lock(cc.Lock("acme", None, NOW))
        decision = cc.decide(book, call(call_type=cc.CallType.EMERGENCY), now=NOW)
        assert decision == cc.Decision(ALLOW, R.EMERGENCY)
        assert rule_of(decision, book) == 1

    def test_rule_2_unknown_group_is_not_enabled(self) -> None:
        """Rule 2: a group the book does not know is not subject to codes."""
        decision = cc.decide(cc.CodeBook(), call())
        assert decision == cc.Decision(ALLOW, R.NOT_ENABLED)
        assert cc.rule_for(decision).number == 2

    def test_rule_2_deactivated_group_is_not_enabled(self) -> None:
        """Rule 2: a DEACTIVATED group allows every call, code or not."""
        book = make_book(cc.Mode.DEACTIVATED)
        assert cc.decide(book, call(), "9999") == cc.Decision(ALLOW, R.NOT_ENABLED)

    def test_rule_3_internal_call(self) -> None:
        """Rule 3: calls within the group never need a code."""
        decision = cc.decide(make_book(), call(call_type=cc.CallType.INTERNAL))
        assert decision == cc.Decision(ALLOW, R.INTERNAL_CALL)
        assert rule_of(decision, make_book()) == 3

    @pytest.mark.parametrize("call_type", [cc.CallType.LOCAL, cc.CallType.TOLL_FREE])
    def test_rule_4_local_and_toll_free_exemption(self, call_type: cc.CallType) -> None:
        """Rule 4: with allow_local_and_toll_free, local and toll-free calls need no code."""
        book = make_book(allow_local_and_toll_free=True)
        assert cc.decide(book, call(call_type=call_type)) == cc.Decision(ALLOW, R.EXEMPT_CALL_TYPE)
        strict = make_book(allow_local_and_toll_free=False)
        assert cc.decide(strict, call(call_type=call_type)).verdict is BLOCK

    def test_rule_4_call_types_outside_the_coded_set_are_exempt(self) -> None:
        """Rule 4: a call type the group does not list in coded_call_types needs no code."""
        book = make_book(coded_call_types={cc.CallType.INTERNATIONAL})
        assert cc.decide(book, call()) == cc.Decision(ALLOW, R.EXEMPT_CALL_TYPE)
        international = call(call_type=cc.CallType.INTERNATIONAL)
        assert cc.decide(book, international).reason is R.MISSING_CODE

    def test_enterprise_calls_leave_the_group_and_need_a_code(self) -> None:
        """ENTERPRISE (another group of the enterprise) is outside the group: a code is needed."""
        book = make_book()
        assert cc.decide(book, call(call_type=cc.CallType.ENTERPRISE)).verdict is BLOCK

    def test_rule_5_user_on_neither_list(self) -> None:
        """Rule 5: users on neither list are not subject to codes."""
        decision = cc.decide(make_book(), call(user="carol"), "9999")
        assert decision == cc.Decision(ALLOW, R.NOT_ENROLLED)

    @pytest.mark.parametrize("mode", [cc.Mode.ACCOUNT, cc.Mode.AUTHORIZATION])
    @pytest.mark.parametrize("code", [None, ""])
    def test_rule_6_optional_user_without_code(self, mode: cc.Mode, code: str | None) -> None:
        """Rule 6: an optional user who enters nothing (or an empty entry) is allowed."""
        decision = cc.decide(make_book(mode), call(user="bob"), code)
        assert decision == cc.Decision(ALLOW, R.NO_CODE_OPTIONAL)

    def test_rule_7_account_code_on_the_list_is_attached(self) -> None:
        """Rule 7: a listed account code is logged with its entry attached."""
        book = make_book(cc.Mode.ACCOUNT)
        decision = cc.decide(book, call(), "1234")
        assert decision == cc.Decision(LOG_ONLY, R.ACCOUNT_CODE, cc.CodeEntry("1234", "Sales"))
        assert rule_of(decision, book) == 7

    def test_rule_7_account_code_not_on_the_list_is_still_logged(self) -> None:
        """Rule 7: account codes are never validated: an unlisted well-formed code is logged."""
        decision = cc.decide(make_book(cc.Mode.ACCOUNT), call(), "7777")
        assert decision == cc.Decision(LOG_ONLY, R.ACCOUNT_CODE, None)

    def test_rule_7_optional_user_code_is_judged_like_any_other(self) -> None:
        """Rule 7: a code entered by an optional user is recorded like a mandatory user's."""
        decision = cc.decide(make_book(cc.Mode.ACCOUNT), call(user="bob"), "0042")
        assert decision.reason is R.ACCOUNT_CODE
        assert decision.entry == cc.CodeEntry("0042")

    @pytest.mark.parametrize(
        ("code", "reason"),
        [(None, R.MISSING_CODE), ("12", R.MALFORMED_CODE), ("12a4", R.MALFORMED_CODE)],
    )
    def test_rule_8_account_missing_or_malformed(self, code: str | None, reason: cc.Reason) -> None:
        """Rule 8: no or malformed account code: logged, no entry, retry while attempts remain."""
        book = make_book(cc.Mode.ACCOUNT, max_attempts=2)
        first = cc.decide(book, call(), code, attempt=1)
        assert first == cc.Decision(LOG_ONLY, reason, None, retry=True)
        assert cc.decide(book, call(), code, attempt=2) == cc.Decision(LOG_ONLY, reason, None)
        assert rule_of(first, book) == 8

    def test_rule_9_locked_user_is_blocked_without_retry(self) -> None:
        """Rule 9: a locked-out user is blocked even with a valid code, and may not retry."""
        book = make_book()
        book.lock(cc.Lock("acme", "alice", NOW, NOW + timedelta(minutes=30)))
        decision = cc.decide(book, call(), "1234", now=NOW)
        assert decision == cc.Decision(BLOCK, R.LOCKED_OUT)
        assert rule_of(decision, book) == 9
        later = cc.decide(book, call(), "1234", now=NOW + timedelta(minutes=30))
        assert later.reason is R.AUTHORIZED

    def test_rule_9_group_lock_blocks_every_enrolled_user(self) -> None:
        """Rule 9: a group lock blocks every user who needs a code; exempt calls still pass."""
        book = make_book(allow_local_and_toll_free=True)
        book.lock(cc.Lock("acme", None, NOW))
        for user in ("alice", "bob"):  # mandatory, and optional with a code
            assert cc.decide(book, call(user), "1234", now=NOW) == cc.Decision(BLOCK, R.LOCKED_OUT)
        local = call(call_type=cc.CallType.LOCAL)
        assert cc.decide(book, local, now=NOW).reason is R.EXEMPT_CALL_TYPE

    def test_rule_10_listed_code_authorizes(self) -> None:
        """Rule 10: a code on the list allows the call and carries its entry."""
        book = make_book()
        decision = cc.decide(book, call(), "1234")
        assert decision == cc.Decision(ALLOW, R.AUTHORIZED, cc.CodeEntry("1234", "Sales"))
        assert rule_of(decision, book) == 10

    @pytest.mark.parametrize(
        ("code", "reason"),
        [
            (None, R.MISSING_CODE),
            ("123", R.MALFORMED_CODE),
            ("\uff11\uff12\uff13\uff14", R.MALFORMED_CODE),  # full-width digits
            ("9999", R.INVALID_CODE),
        ],
    )
    def test_rule_11_refusals_retry_while_attempts_remain(
        self, code: str | None, reason: cc.Reason
    ) -> None:
        """Rule 11: missing, malformed or unlisted codes block, with retry before the last try."""
        book = make_book(max_attempts=3)
        for attempt, retry in [(1, True), (2, True), (3, False), (4, False)]:
            decision = cc.decide(book, call(), code, attempt=attempt)
            assert decision == cc.Decision(BLOCK, reason, None, retry), attempt
        assert rule_of(decision, book) == 11

    def test_the_table_covers_every_reason_once_per_mode(self) -> None:
        """Every Reason belongs to the table, and rule numbers run 1 to 11 in order."""
        assert [rule.number for rule in cc.RULES] == list(range(1, 12))
        assert {r for rule in cc.RULES for r in rule.reasons} == set(cc.Reason)


class TestLimits:
    """Levels, validity windows and use limits at their boundaries (rules 10 and 11)."""

    def limited(self, **limits: object) -> cc.CodeBook:
        book = make_book(min_levels={cc.CallType.INTERNATIONAL: 5})
        book.add_codes("acme", [cc.CodeEntry("5555", **limits)])  # type: ignore[arg-type]
        return book

    def test_validity_window_is_inclusive_at_start_and_exclusive_at_end(self) -> None:
        """A code is valid from valid_from (inclusive) to valid_until (exclusive)."""
        book = self.limited(valid_from=NOW, valid_until=NOW + timedelta(hours=1))
        tick = timedelta(microseconds=1)
        end = NOW + timedelta(hours=1)
        at = [NOW - tick, NOW, end - tick, end]
        reasons = [cc.decide(book, call(), "5555", now=t).reason for t in at]
        assert reasons == [R.NOT_YET_VALID, R.AUTHORIZED, R.AUTHORIZED, R.EXPIRED]

    def test_windowed_code_without_a_time_is_refused(self) -> None:
        """Without `now` a windowed code cannot be judged and is refused, never allowed."""
        book = self.limited(valid_until=NOW)
        assert cc.decide(book, call(), "5555").reason is R.VALIDITY_UNKNOWN

    def test_use_limit_allows_exactly_max_uses_calls(self) -> None:
        """A code with max_uses=2 authorizes two consumed calls, then is used up."""
        book = self.limited(max_uses=2)
        outcomes = []
        for _ in range(3):
            decision = cc.decide(book, call(), "5555", now=NOW)
            outcomes.append(decision.reason)
            if decision.verdict is ALLOW:
                assert book.consume("acme", "5555")
        assert outcomes == [R.AUTHORIZED, R.AUTHORIZED, R.USED_UP]
        assert not book.consume("acme", "5555")
        assert book.uses("acme", "5555") == 2

    def test_level_is_checked_against_the_call_type_minimum(self) -> None:
        """A level-4 code cannot authorize an international call needing 5; a level-5 code can."""
        book = self.limited(level=4)
        book.add_codes("acme", [cc.CodeEntry("6666", level=5)])
        international = call(call_type=cc.CallType.INTERNATIONAL)
        assert cc.decide(book, international, "5555").reason is R.LEVEL_TOO_LOW
        assert cc.decide(book, international, "6666").reason is R.AUTHORIZED
        assert cc.decide(book, call(), "5555").reason is R.AUTHORIZED


class TestRequirement:
    """requirement() tells the softswitch whether to prompt, before any code."""

    def test_mandatory_user_is_prompted_for_the_group_length(self) -> None:
        """A mandatory user on a coded call is prompted for code_length digits."""
        book = cc.CodeBook()
        book.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION,
                code_length=6,
                max_attempts=3,
                mandatory_users=frozenset({"alice"}),
            ),
        )
        assert cc.requirement(book, call()) == cc.Requirement(cc.Need.MANDATORY, 6, 3)

    def test_optional_user_may_enter_a_code(self) -> None:
        """An optional user is offered the code, not forced."""
        assert cc.requirement(make_book(), call("bob")) == cc.Requirement(cc.Need.OPTIONAL, 4, 2)

    @pytest.mark.parametrize(
        ("user", "call_type", "reason"),
        [
            ("alice", cc.CallType.EMERGENCY, R.EMERGENCY),
            ("alice", cc.CallType.INTERNAL, R.INTERNAL_CALL),
            ("carol", cc.CallType.NATIONAL, R.NOT_ENROLLED),
        ],
    )
    def test_no_prompt_says_why(self, user: str, call_type: cc.CallType, reason: cc.Reason) -> None:
        """When no code is needed, the requirement carries decide's reason."""
        assert cc.requirement(make_book(), call(user, call_type)) == cc.Requirement(
            cc.Need.NONE, 0, 0, reason
        )

    def test_locked_user_is_not_prompted(self) -> None:
        """A locked-out mandatory user is not prompted: the answer is already a block."""
        book = make_book()
        book.lock(cc.Lock("acme", "alice", NOW))
        assert cc.requirement(book, call(), now=NOW) == cc.Requirement(
            cc.Need.NONE, 0, 0, R.LOCKED_OUT
        )


def by_the_table(
    book: cc.CodeBook, call: cc.Call, code: str | None, attempt: int, now: datetime | None
) -> tuple[int, cc.Decision]:
    """The row of the table that applies and the decision it gives, read plainly off the table.

    A second reading of the rules, row by row, that shares nothing with decide or RULES.
    """
    kind, user, code = call.call_type, call.user, code or None
    if kind is cc.CallType.EMERGENCY:
        return 1, cc.Decision(ALLOW, R.EMERGENCY)
    if call.group not in book or book.group(call.group).mode is cc.Mode.DEACTIVATED:
        return 2, cc.Decision(ALLOW, R.NOT_ENABLED)
    policy = book.group(call.group)
    if kind is cc.CallType.INTERNAL:
        return 3, cc.Decision(ALLOW, R.INTERNAL_CALL)
    local = kind in (cc.CallType.LOCAL, cc.CallType.TOLL_FREE)
    if kind not in policy.coded_call_types or (local and policy.allow_local_and_toll_free):
        return 4, cc.Decision(ALLOW, R.EXEMPT_CALL_TYPE)
    if user not in policy.mandatory_users and user not in policy.optional_users:
        return 5, cc.Decision(ALLOW, R.NOT_ENROLLED)
    if code is None and user in policy.optional_users:
        return 6, cc.Decision(ALLOW, R.NO_CODE_OPTIONAL)
    retry = attempt < policy.max_attempts
    problem: cc.Reason | None = None
    if code is None:
        problem = R.MISSING_CODE
    elif len(code) != policy.code_length or not set(code) <= set("0123456789"):
        problem = R.MALFORMED_CODE
    entry = None if code is None or problem else book.get(call.group, code)
    if policy.mode is cc.Mode.ACCOUNT:
        if problem is None:
            return 7, cc.Decision(LOG_ONLY, R.ACCOUNT_CODE, entry)
        return 8, cc.Decision(LOG_ONLY, problem, None, retry)
    if any(lock.user in (None, user) for lock in book.locks(call.group, now)):
        return 9, cc.Decision(BLOCK, R.LOCKED_OUT)
    if problem is None and entry is None:
        problem = R.INVALID_CODE
    elif entry is not None:
        start, end = entry.valid_from, entry.valid_until
        if entry.hours is not None and now is None:
            problem = R.VALIDITY_UNKNOWN
        elif entry.hours is not None and not entry.hours.allows(now, policy.time_zone):  # type: ignore[arg-type]
            problem = R.OUTSIDE_HOURS
        elif now is None and (start is not None or end is not None):
            problem = R.VALIDITY_UNKNOWN
        elif now is not None and start is not None and now < start:
            problem = R.NOT_YET_VALID
        elif now is not None and end is not None and now >= end:
            problem = R.EXPIRED
        elif entry.max_uses is not None and book.uses(call.group, entry.code) >= entry.max_uses:
            problem = R.USED_UP
        elif entry.level < policy.min_levels.get(kind, 0):
            problem = R.LEVEL_TOO_LOW
    if problem is not None:
        return 11, cc.Decision(BLOCK, problem, None, retry)
    return 10, cc.Decision(ALLOW, R.AUTHORIZED, entry)


def listed_codes(book: cc.CodeBook, group: str) -> list[str]:
    return [entry.code for entry in book.codes(group, limit=None)] if group in book else []


def near_miss(code: str) -> str:
    """The code with its last digit changed: well-formed, and most likely not on the list."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


class TestProperties:
    """The rules of the table over generated policies, calls and entries."""

    @given(cases(), entered_codes, st.integers(1, 12))
    def test_emergency_calls_are_always_allowed(
        self, case: tuple[cc.CodeBook, cc.Call], code: str | None, attempt: int
    ) -> None:
        """Whatever the policy, code and attempt, an emergency call is allowed."""
        book, call = case
        emergency = cc.Call(call.group, call.user, call.dialed, cc.CallType.EMERGENCY)
        assert cc.decide(book, emergency, code, attempt) == cc.Decision(ALLOW, R.EMERGENCY)

    @given(cases(cc.Mode.ACCOUNT), entered_codes, st.integers(1, 12))
    def test_account_codes_never_block(
        self, case: tuple[cc.CodeBook, cc.Call], code: str | None, attempt: int
    ) -> None:
        """In ACCOUNT mode no entry of any kind blocks a call."""
        book, call = case
        assert cc.decide(book, call, code, attempt).verdict is not BLOCK

    @given(judged_calls(cc.Mode.AUTHORIZATION, limits=True), st.data())
    def test_a_code_not_on_the_list_never_authorizes(
        self, case: tuple[cc.CodeBook, cc.Call], data: st.DataObject
    ) -> None:
        """An entered code that is not on the group's list never yields AUTHORIZED."""
        book, call = case
        listed_code = st.sampled_from(listed_codes(book, call.group))
        kind = data.draw(st.sampled_from(["near miss", "listed", "anything"]))
        code = data.draw(
            {"near miss": listed_code.map(near_miss), "listed": listed_code}.get(
                kind, entered_codes
            )
        )
        listed = code is not None and book.get(call.group, code) is not None
        decision = cc.decide(book, call, code, now=data.draw(st.none() | st.just(NOW)))
        if not listed:
            assert decision.reason is not R.AUTHORIZED
            assert decision.entry is None
        elif decision.reason is R.AUTHORIZED:
            assert decision.entry == book.get(call.group, code)  # type: ignore[arg-type]

    @given(cases(limits=True), entered_codes, st.integers(1, 12))
    def test_decide_is_deterministic_and_leaves_the_book_unchanged(
        self, case: tuple[cc.CodeBook, cc.Call], code: str | None, attempt: int
    ) -> None:
        """Deciding twice gives equal decisions and no change to the book."""
        book, call = case
        before = (book_state(book), book.version)
        first = cc.decide(book, call, code, attempt, now=NOW)
        assert cc.decide(book, call, code, attempt, now=NOW) == first
        assert (book_state(book), book.version) == before
        book._check()

    @given(
        cases(),
        st.text(min_size=1, max_size=14).filter(lambda s: not set(s) <= set("0123456789")),
        st.integers(1, 12),
    )
    def test_a_code_with_any_non_ascii_digit_is_never_accepted(
        self, case: tuple[cc.CodeBook, cc.Call], code: str, attempt: int
    ) -> None:
        """A code holding any character other than 0-9 is never authorized nor recorded."""
        book, call = case
        decision = cc.decide(book, call, code, attempt)
        assert decision.reason not in (R.AUTHORIZED, R.ACCOUNT_CODE)
        assert decision.entry is None

    @given(judged_calls(), st.sampled_from(NON_ASCII_DIGITS), st.data())
    def test_look_alike_digits_are_malformed(
        self, case: tuple[cc.CodeBook, cc.Call], digit: str, data: st.DataObject
    ) -> None:
        """Replacing one digit of a listed code by a look-alike digit makes it malformed."""
        book, call = case
        listed = data.draw(st.sampled_from(listed_codes(book, call.group)))
        where = data.draw(st.integers(0, len(listed) - 1))
        forged = listed[:where] + digit + listed[where + 1 :]
        decision = cc.decide(book, call, forged)
        account = book.group(call.group).mode is cc.Mode.ACCOUNT
        assert decision == cc.Decision(
            LOG_ONLY if account else BLOCK,
            R.MALFORMED_CODE,
            None,
            book.group(call.group).max_attempts > 1,
        )

    @given(
        # Mostly AUTHORIZATION, where locks apply, so that they often meet rows 4 to 6 there.
        calls_to_books(AUTHORIZATION) | calls_to_books() | judged_calls(AUTHORIZATION),
        entered_codes,
        st.integers(1, 12),
        st.sampled_from(["group", "caller", "someone else"]),
    )
    def test_a_lock_changes_only_what_rows_9_to_11_decide(
        self, case: tuple[cc.CodeBook, cc.Call], code: str | None, attempt: int, whom: str
    ) -> None:
        """A lock leaves every decision of rows 1 to 8 as it was and turns later ones LOCKED_OUT."""
        book, call = case
        before = cc.decide(book, call, code, attempt, now=NOW)
        row = cc.rule_for(before, book.group(call.group).mode).number
        user = {"group": None, "caller": call.user, "someone else": "mallory"}[whom]
        assume(user != call.user or whom == "caller")  # mallory may be the caller
        book.lock(cc.Lock(call.group, user, NOW - TICK))
        after = cc.decide(book, call, code, attempt, now=NOW)
        if row < 9 or whom == "someone else":
            assert after == before
        else:
            assert after == cc.Decision(BLOCK, R.LOCKED_OUT)

    @given(cases(limits=True) | judged_calls(limits=True), st.integers(1, 12), st.data())
    def test_every_decision_is_what_its_table_row_gives(
        self, case: tuple[cc.CodeBook, cc.Call], attempt: int, data: st.DataObject
    ) -> None:
        """Each decision is the one a plain reading of the table gives, and names that row."""
        book, call = case
        codes = listed_codes(book, call.group)
        code = data.draw(entered_codes)
        if codes:  # half the time a listed code (used a few times), else a near miss or anything
            listed = st.sampled_from(codes)
            code = data.draw(listed | listed | listed.map(near_miss) | st.just(code))
            for _ in range(data.draw(st.integers(0, 5))):
                book.consume(call.group, code)  # counted only for a code with a use limit
        if call.group in book:  # some locks, on the group, the caller or someone else
            locked = st.lists(st.sampled_from((None, call.user, "mallory")), max_size=2)
            for user in data.draw(st.just([]) | locked):
                until = data.draw(st.none() | st.sampled_from([NOW, NOW + timedelta(hours=1)]))
                book.lock(cc.Lock(call.group, user, NOW - timedelta(hours=1), until))
        entry = book.get(call.group, code) if code in codes else None
        edges = [] if entry is None else [entry.valid_from, entry.valid_until]
        instants = [t + d for t in edges if t for d in (-TICK, timedelta(0))]  # window edges
        now = data.draw(st.none() | st.just(NOW) | aware_times | st.sampled_from([NOW, *instants]))
        row, expected = by_the_table(book, call, code, attempt, now)
        decision = cc.decide(book, call, code, attempt, now=now)
        assert decision == expected, row
        mode = book.group(call.group).mode if call.group in book else None
        assert cc.rule_for(decision, mode).number == row
