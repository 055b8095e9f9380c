"""The digit collector: entries end at the length, on '#' or a timeout, and agree with decide."""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import callcodes as cc
import helpers
from helpers import NOW, call
from strategies import NON_ASCII_DIGITS, books, calls, judged_calls, key_events

ALLOW, BLOCK, LOG_ONLY = cc.Verdict.ALLOW, cc.Verdict.BLOCK, cc.Verdict.LOG_ONLY
R = cc.Reason
TIMEOUT = cc.Timeout()
# Three attempts: room for two re-prompts before the last entry.
make_book = partial(helpers.make_book, max_attempts=3)


class Recorder:
    """A judge that asks decide and remembers every (code, attempt) it was asked about."""

    def __init__(self, book: cc.CodeBook, the_call: cc.Call) -> None:
        self.book, self.call = book, the_call
        self.asked: list[tuple[str | None, int, cc.Decision]] = []

    def __call__(self, code: str | None, attempt: int) -> cc.Decision:
        decision = cc.decide(self.book, self.call, code, attempt, now=NOW)
        self.asked.append((code, attempt, decision))
        return decision


def collector(book: cc.CodeBook, the_call: cc.Call) -> tuple[cc.Collector, Recorder]:
    judge = Recorder(book, the_call)
    return cc.Collector(cc.requirement(book, the_call, now=NOW), judge), judge


class TestEntry:
    """How one entry starts and ends."""

    def test_a_listed_code_authorizes_at_the_last_digit(self) -> None:
        """Entry ends by itself at code_length digits and the call is authorized."""
        book = make_book()
        col = cc.Collector.for_call(book, call(), now=NOW)
        assert col.state is cc.CollectorState.COLLECTING
        assert col.send(cc.Key("1")) == cc.NeedDigits(1, 1)
        assert col.send_keys("23") == cc.NeedDigits(1, 3)
        done = col.send(cc.Key("4"))
        assert isinstance(done, cc.Finished)
        assert (done.decision.verdict, done.decision.reason) == (ALLOW, R.AUTHORIZED)
        assert (done.attempt, done.code) == (1, "1234")
        assert col.finished
        assert col.state is cc.CollectorState.FINISHED

    def test_hash_ends_entry_early(self) -> None:
        """'#' ends the entry with the digits so far: a short entry is a malformed code."""
        col, judge = collector(make_book(), call())
        answer = col.send_keys("12#")
        assert isinstance(answer, cc.Reprompt)
        assert answer.decision == cc.Decision(BLOCK, R.MALFORMED_CODE, None, True)
        assert answer.attempt == 2
        assert [(c, a) for c, a, _ in judge.asked] == [("12", 1)]

    def test_timeout_ends_entry_with_the_digits_so_far(self) -> None:
        """A timeout ends the entry: the digits keyed so far are judged."""
        col, judge = collector(make_book(), call())
        col.send_keys("99")
        assert isinstance(col.send(TIMEOUT), cc.Reprompt)
        assert judge.asked[0][:2] == ("99", 1)

    def test_timeout_without_digits_is_a_missing_code(self) -> None:
        """A timeout before any key is an entry without a code."""
        col, _ = collector(make_book(), call())
        answer = col.send(TIMEOUT)
        assert isinstance(answer, cc.Reprompt)
        assert answer.decision.reason is R.MISSING_CODE

    def test_star_is_a_key_that_makes_the_entry_malformed(self) -> None:
        """'*' counts as a key of the entry, which is then judged malformed."""
        col, judge = collector(make_book(), call())
        answer = col.send_keys("12*4")
        assert isinstance(answer, cc.Reprompt)
        assert answer.decision.reason is R.MALFORMED_CODE
        assert judge.asked[0][0] == "12*4"

    def test_a_trailing_hash_after_a_full_entry_is_ignored(self) -> None:
        """The habitual '#' after a full, rejected entry does not burn the next attempt."""
        col, judge = collector(make_book(), call())
        assert isinstance(col.send_keys("9999"), cc.Reprompt)
        assert col.send(cc.Key("#")) == cc.NeedDigits(2, 0)
        done = col.send_keys("1234")
        assert isinstance(done, cc.Finished)
        assert done.decision.reason is R.AUTHORIZED
        assert [(c, a) for c, a, _ in judge.asked] == [("9999", 1), ("1234", 2)]

    def test_a_second_hash_is_an_empty_entry(self) -> None:
        """Only one '#' is forgiven: a second one ends an empty entry."""
        col, judge = collector(make_book(), call())
        col.send_keys("9999#")
        answer = col.send(cc.Key("#"))
        assert isinstance(answer, cc.Reprompt)
        assert judge.asked[-1][:2] == (None, 2)

    def test_a_hash_after_a_short_entry_is_not_forgiven(self) -> None:
        """After an entry ended by '#', the next '#' is an empty entry."""
        col, judge = collector(make_book(), call())
        col.send_keys("12#")
        col.send(cc.Key("#"))
        assert [(c, a) for c, a, _ in judge.asked] == [("12", 1), (None, 2)]


class TestAttempts:
    """Re-prompts while max_attempts allow, then a final decision."""

    def test_last_attempt_is_final_and_blocked(self) -> None:
        """After max_attempts rejected entries the call is blocked without retry."""
        col, judge = collector(make_book(max_attempts=2), call())
        assert isinstance(col.send_keys("1111"), cc.Reprompt)
        done = col.send_keys("2222")
        assert isinstance(done, cc.Finished)
        assert done.decision == cc.Decision(BLOCK, R.INVALID_CODE, None, False)
        assert done.attempt == 2
        assert len(judge.asked) == 2

    def test_one_attempt_means_no_reprompt(self) -> None:
        """With max_attempts=1 the first rejected entry ends the call."""
        col, _ = collector(make_book(max_attempts=1), call())
        assert isinstance(col.send(TIMEOUT), cc.Finished)

    def test_events_after_the_end_repeat_the_outcome(self) -> None:
        """A stray key or timeout after the end gets the same Finished and judges nothing."""
        col, judge = collector(make_book(), call())
        done = col.send_keys("1234")
        assert col.send(cc.Key("#")) is done
        assert col.send(TIMEOUT) is done
        assert col.send_keys("5678") is done
        assert col.outcome is done
        assert len(judge.asked) == 1

    def test_a_judge_that_allows_more_retries_is_cut_at_max_attempts(self) -> None:
        """The requirement's max_attempts bounds the entries even if the judge says retry."""

        def lenient(code: str | None, attempt: int) -> cc.Decision:
            return cc.Decision(BLOCK, R.INVALID_CODE, None, retry=True)

        requirement = cc.Requirement(cc.Need.MANDATORY, 4, 2)
        col = cc.Collector(requirement, lenient)
        col.send(TIMEOUT)
        done = col.send(TIMEOUT)
        assert isinstance(done, cc.Finished)
        assert done.decision.retry is False
        assert col.attempt == 2

    def test_a_lock_during_the_call_ends_it(self) -> None:
        """If the user is locked between entries, the next entry is final: locked out."""
        book = make_book()
        col = cc.Collector.for_call(book, call(), now=NOW)
        col.send_keys("1111")
        book.lock(cc.Lock("acme", "alice", NOW))
        done = col.send_keys("1234")
        assert isinstance(done, cc.Finished)
        assert done.decision == cc.Decision(BLOCK, R.LOCKED_OUT)


class TestNoPrompt:
    """Calls that need no code are decided when the collector is built."""

    @pytest.mark.parametrize(
        ("user", "call_type", "reason"),
        [
            ("alice", cc.CallType.EMERGENCY, R.EMERGENCY),
            ("alice", cc.CallType.INTERNAL, R.INTERNAL_CALL),
            ("carol", cc.CallType.NATIONAL, R.NOT_ENROLLED),
        ],
    )
    def test_finished_from_the_start(
        self, user: str, call_type: cc.CallType, reason: cc.Reason
    ) -> None:
        """No prompt: the collector is finished and the judge was asked once, without a code."""
        col, judge = collector(make_book(), call(user, call_type))
        assert col.finished
        assert col.outcome is not None
        assert col.outcome.decision == cc.Decision(ALLOW, reason)
        assert [(c, a) for c, a, _ in judge.asked] == [(None, 1)]
        assert col.send(cc.Key("1")) is col.outcome

    def test_locked_user_is_blocked_before_any_prompt(self) -> None:
        """A locked-out mandatory user is not prompted: the call is blocked at once."""
        book = make_book()
        book.lock(cc.Lock("acme", "alice", NOW))
        col = cc.Collector.for_call(book, call(), now=NOW)
        assert col.finished
        assert col.outcome is not None
        assert col.outcome.decision == cc.Decision(BLOCK, R.LOCKED_OUT)

    def test_optional_user_may_let_the_timer_run_out(self) -> None:
        """An optional user who keys nothing is allowed without a code."""
        col = cc.Collector.for_call(make_book(), call("bob"), now=NOW)
        done = col.send(TIMEOUT)
        assert isinstance(done, cc.Finished)
        assert done.decision == cc.Decision(ALLOW, R.NO_CODE_OPTIONAL)


class TestAccountMode:
    """Account codes are collected the same way and never block."""

    def test_malformed_account_code_is_reprompted_then_logged(self) -> None:
        """A short account code re-prompts; a well-formed one ends the call as LOG_ONLY."""
        col = cc.Collector.for_call(make_book(cc.Mode.ACCOUNT), call(), now=NOW)
        first = col.send_keys("5#")
        assert isinstance(first, cc.Reprompt)
        assert first.decision.verdict is LOG_ONLY
        done = col.send_keys("5555")
        assert isinstance(done, cc.Finished)
        assert (done.decision.verdict, done.decision.reason, done.code) == (
            LOG_ONLY,
            R.ACCOUNT_CODE,
            "5555",
        )


class TestMisuse:
    """Programming errors raise from the library's error tree; secrets stay out of repr."""

    @pytest.mark.parametrize(
        "key", ["a", "", "12", NON_ASCII_DIGITS[0], NON_ASCII_DIGITS[10], " ", 1, None]
    )
    def test_key_accepts_only_keypad_keys(self, key: object) -> None:
        """A Key is one of 0-9, '*', '#'; anything else is refused."""
        with pytest.raises(cc.InvalidValueError, match="a key is one of"):
            cc.Key(key)  # type: ignore[arg-type]

    def test_send_refuses_other_objects(self) -> None:
        """Sending a bare string instead of a Key is refused and changes nothing."""
        col, judge = collector(make_book(), call())
        with pytest.raises(cc.InvalidValueError, match="send a Key or a Timeout"):
            col.send("1")  # type: ignore[arg-type]
        assert col.send_keys("1234").decision.reason is R.AUTHORIZED  # type: ignore[union-attr]
        assert len(judge.asked) == 1

    def test_requirement_and_judge_are_checked(self) -> None:
        """A collector needs a Requirement that asks for digits, and a callable judge."""
        with pytest.raises(cc.InvalidValueError, match="must be a Requirement"):
            cc.Collector(None, lambda c, a: cc.Decision(ALLOW, R.AUTHORIZED))  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="must be a callable"):
            cc.Collector(cc.Requirement(cc.Need.MANDATORY, 4, 2), None)  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="at least 1 digit"):
            cc.Collector(
                cc.Requirement(cc.Need.MANDATORY, 0, 2),
                lambda c, a: cc.Decision(ALLOW, R.AUTHORIZED),
            )

    def test_repr_never_shows_the_code(self) -> None:
        """Keys and rejected outcomes can be logged without leaking what was keyed."""
        col = cc.Collector.for_call(make_book(max_attempts=1), call(), now=NOW)
        done = col.send_keys("9876")
        assert repr(cc.Key("7")) == "Key()"
        assert isinstance(done, cc.Finished)
        assert done.code == "9876"
        assert "9876" not in repr(done)


def reference_entries(events: list[cc.Key | cc.Timeout], digits: int) -> list[str | None]:
    """How a key stream splits into entries, written plainly (as if attempts never ran out)."""
    entries: list[str | None] = []
    keys = ""
    forgive_hash = False
    for event in events:
        if isinstance(event, cc.Timeout):
            entries.append(keys or None)
            keys, forgive_hash = "", False
        elif event.key == "#":
            if forgive_hash and not keys:
                forgive_hash = False
                continue
            entries.append(keys or None)
            keys, forgive_hash = "", False
        else:
            keys += event.key
            forgive_hash = False
            if len(keys) == digits:
                entries.append(keys)
                keys, forgive_hash = "", True
    return entries


@st.composite
def streams(draw: st.DrawFn, codes: list[str]) -> list[cc.Key | cc.Timeout]:
    """Key streams mixing random keys with the group's real codes, so some entries succeed."""
    chunks = draw(
        st.lists(
            st.lists(key_events, max_size=6)
            | (
                st.sampled_from(codes).map(lambda c: [cc.Key(k) for k in c])
                if codes
                else st.just([])
            ),
            max_size=8,
        )
    )
    return [event for chunk in chunks for event in chunk]


class TestProperties:
    """The collector, fed anything, ends within max_attempts entries and agrees with decide."""

    @given(case=judged_calls(), data=st.data())
    def test_ends_within_max_attempts_and_agrees_with_decide(
        self, case: tuple[cc.CodeBook, cc.Call], data: st.DataObject
    ) -> None:
        """Any key stream then enough timeouts: finished, <= max_attempts entries, decide agrees."""
        book, the_call = case
        codes = [e.code for e in book.codes(the_call.group, limit=None)]
        events = data.draw(streams(codes))
        req = cc.requirement(book, the_call, now=NOW)
        assert req.need is not cc.Need.NONE
        col, judge = collector(book, the_call)
        answers = [col.send(e) for e in events]
        for _ in range(req.max_attempts):
            answers.append(col.send(TIMEOUT))
        assert col.finished
        done = col.outcome
        assert done is not None
        assert 1 <= len(judge.asked) <= req.max_attempts
        expected = reference_entries([*events, *[TIMEOUT] * req.max_attempts], req.digits)
        assert [c for c, _, _ in judge.asked] == expected[: len(judge.asked)]
        for number, (code, attempt, decision) in enumerate(judge.asked, start=1):
            assert attempt == number
            assert decision == cc.decide(book, the_call, code, attempt, now=NOW)
        assert all(d.retry for _, _, d in judge.asked[:-1])
        assert done.decision == judge.asked[-1][2]
        assert (done.code, done.attempt) == judge.asked[-1][:2]
        reprompts = [a for a in answers if isinstance(a, cc.Reprompt)]
        assert [r.decision for r in reprompts] == [d for _, _, d in judge.asked[:-1]]
        assert all(a is done for a in answers[answers.index(done) :])

    @given(case=st.tuples(books(), calls), events=st.lists(key_events, max_size=12))
    def test_a_call_that_needs_no_code_is_decided_before_any_key(
        self, case: tuple[cc.CodeBook, cc.Call], events: list[cc.Key | cc.Timeout]
    ) -> None:
        """No prompt: finished at once with decide's answer without a code; keys change nothing."""
        book, the_call = case
        assume(cc.requirement(book, the_call, now=NOW).need is cc.Need.NONE)
        col, judge = collector(book, the_call)
        assert judge.asked == [(None, 1, cc.decide(book, the_call, None, now=NOW))]
        done = col.outcome
        assert done is not None
        assert done.decision == judge.asked[0][2]
        assert all(col.send(e) is done for e in events)
        assert len(judge.asked) == 1
