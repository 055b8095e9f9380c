"""The event model: validation, the mask, and lossless plain forms (dict, JSON line, row)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from callcodes._timefmt import _DAYS, _MAX_DAYS, iso
from callcodes.events.event import row_of, row_to_dict, row_to_event, row_to_json
from strategies import aware_times, books, calls, entered_codes, events

WHEN = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)


def event(**changes: object) -> cc.Event:
    fields: dict[str, object] = {
        "time": WHEN,
        "group": "acme",
        "user": "alice",
        "dialed": "011442071234567",
        "call_type": cc.CallType.INTERNATIONAL,
        "mode": cc.Mode.AUTHORIZATION,
        "verdict": cc.Verdict.ALLOW,
        "reason": cc.Reason.AUTHORIZED,
        "masked": "****",
        "description": "Sales",
    }
    fields.update(changes)
    return cc.Event(**fields)  # type: ignore[arg-type]


class TestMask:
    def test_two_digit_code_reveals_nothing(self) -> None:
        """A 2-digit code is masked whole: '**' tells only the length, which the group fixes."""
        assert cc.mask_code("42") == "**"
        assert cc.mask_code("07") == cc.mask_code("99")

    @given(st.text(min_size=1, max_size=80))
    def test_mask_keeps_no_character(self, entered: str) -> None:
        """Every mask is asterisks only, one per character up to 32."""
        masked = cc.mask_code(entered)
        assert masked == "*" * min(len(entered), 32)

    def test_nothing_entered_has_no_mask(self) -> None:
        """No code and the empty string (no code) give no mask."""
        assert cc.mask_code(None) is None
        assert cc.mask_code("") is None

    def test_non_string_entry_is_masked(self) -> None:
        """An integer passed by a careless integration is masked too, never kept."""
        assert cc.mask_code(1234) == "****"


class TestValidation:
    def test_valid_event_builds(self) -> None:
        """A well-formed event builds, with the current schema version."""
        built = event()
        assert built.schema == cc.EVENT_SCHEMA
        assert built.code is None

    def test_authorization_code_in_clear_is_refused(self) -> None:
        """Only account codes may be kept in clear: an authorized entry with a code is refused."""
        with pytest.raises(cc.InvalidValueError, match="only account codes are recorded in clear"):
            event(code="1234", masked=None)

    def test_account_code_in_clear_is_accepted(self) -> None:
        """An account-code event keeps its code in clear."""
        built = event(
            mode=cc.Mode.ACCOUNT,
            verdict=cc.Verdict.LOG_ONLY,
            reason=cc.Reason.ACCOUNT_CODE,
            code="0042",
            masked=None,
        )
        assert built.code == "0042"

    @pytest.mark.parametrize("bad", ["12a4", "١٢٣٤", "1", "123456789012345", ""])
    def test_account_code_must_be_digits(self, bad: str) -> None:
        """An account code in clear is 2 to 14 ASCII digits."""
        with pytest.raises(cc.InvalidValueError, match="code="):
            event(reason=cc.Reason.ACCOUNT_CODE, verdict=cc.Verdict.LOG_ONLY, code=bad, masked=None)

    @pytest.mark.parametrize("bad", ["12**", "", "*" * 33, "x"])
    def test_mask_must_be_asterisks(self, bad: str) -> None:
        """A mask holds asterisks only: a half-masked code is refused."""
        with pytest.raises(cc.InvalidValueError, match="masked="):
            event(masked=bad)

    def test_code_and_mask_together_are_refused(self) -> None:
        """An event keeps a code in clear or a mask, not both."""
        with pytest.raises(cc.InvalidValueError, match="not both"):
            event(reason=cc.Reason.ACCOUNT_CODE, code="1234", masked="****")

    def test_naive_time_is_refused(self) -> None:
        """A time without a timezone is refused."""
        with pytest.raises(cc.InvalidValueError, match="timezone-aware"):
            event(time=datetime(2024, 6, 1))  # noqa: DTZ001

    def test_time_before_1970_is_refused(self) -> None:
        """Event times are 1970 UTC or later (they are stored as microseconds since then)."""
        with pytest.raises(cc.InvalidValueError, match="1970"):
            event(time=datetime(1969, 12, 31, tzinfo=UTC))

    def test_other_offsets_become_utc(self) -> None:
        """A time with another offset is converted to UTC, the same instant."""
        paris = timezone(timedelta(hours=2))
        built = event(time=datetime(2024, 6, 1, 10, 30, tzinfo=paris))
        assert built.time == WHEN
        assert built.time.tzinfo is UTC

    def test_enum_values_are_accepted(self) -> None:
        """Enum fields take their members or their values (as read from JSON)."""
        built = event(call_type="local", mode=None, verdict="block", reason="invalid code")
        assert built.call_type is cc.CallType.LOCAL
        assert built.verdict is cc.Verdict.BLOCK

    def test_unknown_enum_value_names_the_choices(self) -> None:
        """An unknown verdict is refused with the list of valid ones."""
        with pytest.raises(
            cc.InvalidValueError, match="must be one of 'allow', 'block', 'log_only'"
        ):
            event(verdict="maybe")

    def test_newer_schema_is_refused_with_advice(self) -> None:
        """A record of a newer schema says it was written by a newer callcodes."""
        with pytest.raises(cc.InvalidValueError, match=r"newer callcodes.*upgrade"):
            event(schema=cc.EVENT_SCHEMA + 1)

    @pytest.mark.parametrize(
        ("field", "value"),
        [("attempt", 0), ("attempt", True), ("retry", 1), ("group", " acme"), ("user", None)],
    )
    def test_bad_fields_are_named(self, field: str, value: object) -> None:
        """Each bad field raises an InvalidValueError that names it."""
        with pytest.raises(cc.InvalidValueError) as caught:
            event(**{field: value})
        assert caught.value.field == field


class TestPlainForms:
    @given(events())
    def test_dict_round_trip(self, original: cc.Event) -> None:
        """to_dict then from_dict gives back an equal event, through real JSON text."""
        assert cc.Event.from_dict(json.loads(json.dumps(original.to_dict()))) == original

    @given(events())
    def test_json_round_trip(self, original: cc.Event) -> None:
        """to_json then from_json gives back an equal event; the line is one ASCII line."""
        line = original.to_json()
        assert "\n" not in line
        assert line.isascii()
        assert cc.Event.from_json(line) == original

    @given(events())
    def test_hand_written_json_matches_the_json_module(self, original: cc.Event) -> None:
        """The fast line writer gives exactly json.dumps of the dict form."""
        row = row_of(original)
        expected = json.dumps(row_to_dict(row), separators=(",", ":"), ensure_ascii=True)
        assert row_to_json(row) == expected

    @given(
        st.datetimes(
            min_value=datetime(1970, 1, 1),  # noqa: DTZ001  # hypothesis attaches the zone
            max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),  # noqa: DTZ001
            timezones=st.just(UTC),
        )
        | st.sampled_from(
            [WHEN, WHEN.replace(year=1970, month=1, day=1), datetime.max.replace(tzinfo=UTC)]
        )
    )
    def test_time_text_is_fixed_width_iso(self, when: datetime) -> None:
        """Any UTC time is written as ISO 8601 with six-digit microseconds, even zero ones."""
        when = when.replace(tzinfo=UTC)
        text = event(time=when).to_dict()["time"]
        assert text == when.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        assert len(text) == len("2024-06-01T08:30:00.000000+00:00")

    @given(aware_times, st.integers(-23 * 60, 23 * 60))
    def test_time_text_of_another_offset_is_utc(self, when: datetime, minutes: int) -> None:
        """A time in any offset is written as the same instant in UTC, as isoformat says."""
        shifted = when.astimezone(timezone(timedelta(minutes=minutes)))
        assert iso(shifted) == when.astimezone(UTC).isoformat(timespec="microseconds")

    def test_day_texts_kept_are_bounded(self) -> None:
        """The days' texts kept for speed never grow past their bound, and stay right."""
        start = datetime(2000, 1, 1, tzinfo=UTC)
        for n in range(_MAX_DAYS + 10):
            day = start + timedelta(days=n, microseconds=n)
            assert iso(day) == day.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            assert len(_DAYS) <= _MAX_DAYS

    @given(events())
    def test_row_round_trip(self, original: cc.Event) -> None:
        """A stored row gives back an equal event."""
        assert row_to_event(row_of(original)) == original

    def test_missing_and_unknown_keys_are_named(self) -> None:
        """A record with a missing and an unknown key names both."""
        data = event().to_dict()
        del data["dialed"]
        data["colour"] = "red"
        with pytest.raises(cc.InvalidValueError, match="missing dialed; unknown colour"):
            cc.Event.from_dict(data)

    def test_newer_record_is_reported_before_its_new_keys(self) -> None:
        """A newer record with new keys is reported as newer, not as corrupt."""
        data = event().to_dict() | {"schema": 2, "kind": "lock"}
        with pytest.raises(cc.InvalidValueError, match="newer callcodes"):
            cc.Event.from_dict(data)

    @pytest.mark.parametrize("line", ["{", "[1, 2]", "null", '{"schema": 1'])
    def test_not_an_event_line(self, line: str) -> None:
        """Text that is not an event object raises InvalidValueError."""
        with pytest.raises(cc.InvalidValueError):
            cc.Event.from_json(line)

    def test_bad_time_text_is_refused(self) -> None:
        """A time that is not ISO 8601 is refused."""
        data = event().to_dict() | {"time": "yesterday"}
        with pytest.raises(cc.InvalidValueError, match="ISO 8601"):
            cc.Event.from_dict(data)


class TestFromDecision:
    @given(books(), calls, entered_codes, aware_times)
    def test_only_account_codes_are_kept_in_clear(
        self, book: cc.CodeBook, call: cc.Call, code: str | None, when: datetime
    ) -> None:
        """For any decision, the event holds the code in clear only for rule 7, else its mask."""
        decision = cc.decide(book, call, code, now=when)
        mode = book.group(call.group).mode if call.group in book else None
        recorded = cc.Event.from_decision(when, call, decision, mode=mode, code=code)
        if decision.reason is cc.Reason.ACCOUNT_CODE:
            assert recorded.code == code
            assert recorded.masked is None
        else:
            assert recorded.code is None
            assert recorded.masked == cc.mask_code(code)
        assert (recorded.verdict, recorded.reason, recorded.retry) == (
            decision.verdict,
            decision.reason,
            decision.retry,
        )

    @given(books(mode=cc.Mode.AUTHORIZATION), calls, aware_times)
    def test_listed_authorization_code_never_appears(
        self, book: cc.CodeBook, call: cc.Call, when: datetime
    ) -> None:
        """A code on an authorization list is never in the event's code, mask or JSON code."""
        if call.group not in book or not book.count(call.group):
            return
        code = book.codes(call.group, limit=1)[0].code
        decision = cc.decide(book, call, code, now=when)
        recorded = cc.Event.from_decision(
            when, call, decision, mode=cc.Mode.AUTHORIZATION, code=code
        )
        assert recorded.code is None
        assert set(recorded.masked or "*") == {"*"}
        assert json.loads(recorded.to_json())["code"] is None

    def test_description_of_matched_entry_is_kept(self) -> None:
        """The matched entry's description is recorded, so a report can name the code."""
        book = cc.CodeBook()
        settings = cc.GroupSettings(
            mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"})
        )
        book.set_group("acme", settings)
        book.add_codes("acme", [cc.CodeEntry("1234", "Sales")])
        call = cc.Call("acme", "alice", "0114420", cc.CallType.INTERNATIONAL)
        decision = cc.decide(book, call, "1234")
        recorded = cc.Event.from_decision(
            WHEN, call, decision, mode=cc.Mode.AUTHORIZATION, code="1234"
        )
        assert (recorded.description, recorded.masked, recorded.code) == ("Sales", "****", None)
