"""The policy model: values are valid when built, and every bad field gets a precise error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

import callcodes as cc
import callcodes.policyfile
from callcodes.core._validate import check_group_id

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def raises_invalid(field: str) -> pytest.RaisesExc[cc.InvalidValueError]:
    """The error is a library error, a ValueError, and names the field."""
    return pytest.raises(cc.InvalidValueError, match=rf"^{field}[=\[]")


class TestErrors:
    """The error tree: one root, each also the built-in a caller would catch."""

    def test_every_error_derives_from_the_root_and_a_builtin(self) -> None:
        """Each error is a CallcodesError and a ValueError or KeyError."""
        for error in (cc.InvalidValueError, cc.BatchError, cc.ConflictError):
            assert issubclass(error, cc.CallcodesError)
            assert issubclass(error, ValueError)
        assert issubclass(cc.UnknownGroupError, cc.CallcodesError)
        assert issubclass(cc.UnknownGroupError, KeyError)

    def test_unknown_group_message_is_readable(self) -> None:
        """KeyError normally quotes its message; ours says what to do."""
        assert str(cc.UnknownGroupError("acme")) == (
            "unknown group 'acme': create it first (CodeBook.set_group)"
        )

    def test_invalid_value_carries_field_value_and_problem(self) -> None:
        """An InvalidValueError exposes the field, the value and the problem separately."""
        with pytest.raises(cc.InvalidValueError) as caught:
            cc.GroupSettings(code_length=15)
        assert (caught.value.field, caught.value.value) == ("code_length", 15)
        assert "from 2 to 14" in caught.value.problem


class TestCodeEntry:
    """Codes are 2-14 ASCII digits; descriptions short and printable; limits consistent."""

    @pytest.mark.parametrize("code", ["00", "0042", "12345678901234"])
    def test_valid_codes_keep_their_leading_zeros(self, code: str) -> None:
        """Leading zeros are part of the code."""
        assert cc.CodeEntry(code).code == code

    @pytest.mark.parametrize(
        ("code", "problem"),
        [
            ("", "ASCII digits 0-9 only"),
            ("1", "2 to 14 digits, not 1"),
            ("123456789012345", "2 to 14 digits, not 15"),
            ("\u0661\u0662\u0663\u0664", "ASCII digits 0-9 only"),  # Arabic-Indic
            ("\uff11\uff12\uff13\uff14", "ASCII digits 0-9 only"),  # full-width
            ("12 4", "ASCII digits 0-9 only"),
            ("+123", "ASCII digits 0-9 only"),
            ("-123", "ASCII digits 0-9 only"),
            ("12\u00b2", "ASCII digits 0-9 only"),  # superscript two: isdigit() says yes
            (1234, "a string of ASCII digits"),
        ],
    )
    def test_malformed_codes_are_refused(self, code: object, problem: str) -> None:
        """Anything but 2-14 ASCII digits is refused, naming the code field."""
        with raises_invalid("code") as caught:
            cc.CodeEntry(code)  # type: ignore[arg-type]
        assert problem in str(caught.value)

    def test_description_limits(self) -> None:
        """A description has at most 80 characters; empty means none."""
        assert cc.CodeEntry("1234", "x" * 80).description == "x" * 80
        assert cc.CodeEntry("1234", "").description is None
        with raises_invalid("description") as caught:
            cc.CodeEntry("1234", "x" * 81)
        assert "at most 80 characters, not 81" in str(caught.value)

    @pytest.mark.parametrize("char", ["\n", "\t", "\x00", "\x1b", "\u202e", "\u2028"])
    def test_control_characters_are_refused_in_descriptions(self, char: str) -> None:
        """Controls, bidi overrides and line separators cannot hide in a description."""
        with raises_invalid("description") as caught:
            cc.CodeEntry("1234", f"Sales{char}")
        assert f"U+{ord(char):04X}" in str(caught.value)

    def test_unicode_text_is_welcome_in_descriptions(self) -> None:
        """Printable non-ASCII text (accents, scripts, emoji) is a fine description."""
        text = "Vertrieb Zürich, 営業 ☎"
        assert cc.CodeEntry("1234", text).description == text

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"level": 256}, "level"),
            ({"level": -1}, "level"),
            ({"level": True}, "level"),
            ({"max_uses": 0}, "max_uses"),
            ({"valid_from": datetime(2026, 1, 1)}, "valid_from"),  # noqa: DTZ001 - naive on purpose
            ({"valid_from": NOW, "valid_until": NOW}, "valid_until"),
        ],
    )
    def test_bad_limits_are_refused(self, options: dict[str, object], field: str) -> None:
        """Levels 0-255, max_uses >= 1, aware times, and a non-empty window."""
        with raises_invalid(field):
            cc.CodeEntry("1234", **options)  # type: ignore[arg-type]

    def test_entries_are_immutable(self) -> None:
        """A CodeEntry cannot be changed once built."""
        entry = cc.CodeEntry("1234")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            entry.code = "9999"  # type: ignore[misc]


class TestGroupSettings:
    """Settings are validated as a whole; the defaults are BroadWorks'."""

    def test_defaults(self) -> None:
        """Deactivated, 4 digits, no exemption, no users, 2 attempts, every outside type coded."""
        settings = cc.GroupSettings()
        assert (settings.mode, settings.code_length, settings.max_attempts) == (
            cc.Mode.DEACTIVATED,
            4,
            2,
        )
        assert not settings.allow_local_and_toll_free
        assert settings.mandatory_users == settings.optional_users == frozenset()
        assert settings.coded_call_types == cc.OUTSIDE_CALL_TYPES
        assert cc.CallType.ENTERPRISE in settings.coded_call_types
        assert settings.code_prefix == "*71"

    def test_a_user_on_both_lists_is_named(self) -> None:
        """Putting users on both lists fails and names them."""
        with raises_invalid("optional_users") as caught:
            cc.GroupSettings(
                mandatory_users=frozenset({"alice", "bob"}),
                optional_users=frozenset({"bob", "carol"}),
            )
        assert caught.value.value == ["bob"]

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"code_length": 1}, "code_length"),
            ({"code_length": 15}, "code_length"),
            ({"code_length": "4"}, "code_length"),
            ({"max_attempts": 0}, "max_attempts"),
            ({"max_attempts": 11}, "max_attempts"),
            ({"allow_local_and_toll_free": "yes"}, "allow_local_and_toll_free"),
            ({"mandatory_users": "alice"}, "users"),
            ({"optional_users": {""}}, "users"),
            ({"coded_call_types": {"emergency"}}, "coded_call_types"),
            ({"coded_call_types": {"lunar"}}, "coded_call_types"),
            ({"min_levels": {"international": 300}}, "min_levels"),
            ({"min_levels": {"lunar": 3}}, "min_levels"),
            ({"min_levels": [("international", 3)]}, "min_levels"),
            ({"lockout": {"user_attempts": 3}}, "lockout"),
            ({"code_prefix": "71"}, "code_prefix"),
            ({"code_prefix": "*7a"}, "code_prefix"),
        ],
    )
    def test_bad_settings_are_refused(self, options: dict[str, object], field: str) -> None:
        """Each out-of-range or ill-typed setting is refused, naming the field."""
        with raises_invalid(field):
            cc.GroupSettings(**options)  # type: ignore[arg-type]

    def test_mode_is_given_by_name_or_member(self) -> None:
        """Mode accepts the enum or its value; anything else is refused."""
        assert cc.GroupSettings(mode="account").mode is cc.Mode.ACCOUNT  # type: ignore[arg-type]
        with raises_invalid("mode") as caught:
            cc.GroupSettings(mode="both")  # type: ignore[arg-type]
        assert "must be one of 'account', 'authorization', 'deactivated'" in str(caught.value)

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"user_attempts": 0}, "user_attempts"),
            ({"user_window": timedelta(0)}, "user_window"),
            ({"lock_for": timedelta(seconds=-1)}, "lock_for"),
        ],
    )
    def test_bad_lockout_settings_are_refused(self, options: dict[str, object], field: str) -> None:
        """Lockout thresholds are positive and windows are positive durations."""
        with raises_invalid(field):
            cc.Lockout(**options)  # type: ignore[arg-type]

    def test_local_and_toll_free_shortcut(self) -> None:
        """allow_local_and_toll_free exempts LOCAL and TOLL_FREE, and nothing else."""
        settings = cc.GroupSettings(allow_local_and_toll_free=True)
        exempt = {t for t in cc.CallType if not settings.needs_code(t)}
        assert exempt == {
            cc.CallType.EMERGENCY,
            cc.CallType.INTERNAL,
            cc.CallType.LOCAL,
            cc.CallType.TOLL_FREE,
        }


class TestCall:
    """A call names its group, user, dialed digits and type."""

    def test_call_type_from_its_value(self) -> None:
        """The call type may be given by value, as a softswitch sends it."""
        assert cc.Call("acme", "alice", "911", "emergency").call_type is cc.CallType.EMERGENCY  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (("", "alice", "911", cc.CallType.EMERGENCY), "group"),
            ((" acme", "alice", "911", cc.CallType.EMERGENCY), "group"),
            (("acme", None, "911", cc.CallType.EMERGENCY), "user"),
            (("acme", "alice", 911, cc.CallType.EMERGENCY), "dialed"),
        ],
    )
    def test_bad_calls_are_refused(self, args: tuple[object, ...], field: str) -> None:
        """Ill-typed call fields are refused, naming the field."""
        with raises_invalid(field):
            cc.Call(*args)  # type: ignore[arg-type]

    def test_unknown_call_type_is_refused(self) -> None:
        """A call type outside the enum is a ValueError that names the value."""
        with raises_invalid("call_type") as caught:
            cc.Call("acme", "alice", "1", "lunar")  # type: ignore[arg-type]
        assert "'international'" in str(caught.value)

    def test_bad_attempt_is_refused(self) -> None:
        """decide() counts attempts from 1."""
        call = cc.Call("acme", "alice", "1", cc.CallType.NATIONAL)
        with raises_invalid("attempt"):
            cc.decide(cc.CodeBook(), call, "1234", attempt=0)


class TestLock:
    """Locks are timed or held until an administrator lifts them."""

    def test_timed_lock_ends_at_its_until(self) -> None:
        """A timed lock holds before `until` and not at it."""
        lock = cc.Lock("acme", "alice", NOW, NOW + timedelta(minutes=1))
        assert lock.active(NOW)
        assert not lock.active(NOW + timedelta(minutes=1))
        assert lock.active(None)

    def test_open_lock_holds_forever(self) -> None:
        """A lock without `until` holds until unlocked."""
        assert cc.Lock("acme", None, NOW).active(NOW + timedelta(days=3650))


class TestInputBounds:
    """Every input is bounded where it enters, and errors speak the user's terms."""

    @pytest.mark.parametrize(
        "name",
        [
            "",
            " acme",
            "acme ",
            "a\tb",
            "a\nb",
            "\x1b[31mred",
            "\x1b]0;t\x07",
            "\u202eevil",
            "x" * 31,
        ],
    )
    def test_group_ids_are_printable_and_short(self, name: str) -> None:
        """A group id is 1 to 30 printable characters without surrounding spaces."""
        with raises_invalid("group"):
            check_group_id("group", name)
        with raises_invalid("group"):
            cc.policyfile.GroupDocument.from_dict({"group": name})

    def test_group_ids_up_to_thirty_characters(self) -> None:
        """30 characters, and printable non-ASCII text, are fine."""
        assert check_group_id("group", "g" * 30) == "g" * 30
        assert check_group_id("group", "Müller & Söhne") == "Müller & Söhne"

    def test_calls_are_never_refused_for_a_names_spelling(self) -> None:
        """What a softswitch sends (a call, the lock it leads to) is not held to the limits."""
        assert cc.Call("g" * 40, "u\u00ad" * 100, "5551234", cc.CallType.LOCAL).group == "g" * 40
        assert cc.Lock("g" * 40, "u\u00ad" * 100, NOW).user == "u\u00ad" * 100

    @pytest.mark.parametrize("user", ["a\tb", "a\rb", "\x1b[2J", " bob", "u" * 162])
    def test_user_ids_are_printable_and_bounded(self, user: str) -> None:
        """User ids: up to 161 printable characters, in the lists and in locks."""
        with raises_invalid("users"):
            cc.GroupSettings(mandatory_users={user})
        assert cc.GroupSettings(mandatory_users={"u" * 161}).mandatory_users == {"u" * 161}

    def test_use_limits_and_durations_are_bounded(self) -> None:
        """max_uses up to a billion; lockout durations more than 0 and at most 366 days."""
        with raises_invalid("max_uses"):
            cc.CodeEntry("1234", max_uses=10**400)
        assert cc.CodeEntry("1234", max_uses=10**9).max_uses == 10**9
        with raises_invalid("lock_for"):
            cc.Lockout(lock_for=timedelta(days=367))
        with raises_invalid("user_window"):
            cc.Lockout(user_window=timedelta(seconds=-1))

    @pytest.mark.parametrize(
        "when",
        [
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime.fromisoformat("0001-01-01T00:00:00+01:00"),
            datetime(1, 1, 1, tzinfo=UTC),
        ],
    )
    def test_times_stay_inside_the_calendar(self, when: datetime) -> None:
        """Times at the calendar's edges are refused, not left to overflow later."""
        with raises_invalid("valid_from"):
            cc.CodeEntry("1234", valid_from=when)

    def test_messages_show_values_in_the_users_terms(self) -> None:
        """Enums by value, durations in seconds or minutes, long values cut, huge ints short."""
        with pytest.raises(cc.InvalidValueError) as caught:
            cc.Lockout(lock_for=timedelta(days=400))
        assert "datetime.timedelta" not in str(caught.value)
        assert "576000 minutes" in str(caught.value)
        with pytest.raises(cc.InvalidValueError) as caught:
            cc.CodeEntry("1234", max_uses=10**400)
        assert len(str(caught.value)) < 200
        with pytest.raises(cc.InvalidValueError) as caught:
            check_group_id("group", "x" * 10_000)
        assert len(str(caught.value)) < 200
        assert "..." in str(caught.value)

    def test_show(self) -> None:
        """The one helper that renders values in messages."""
        from callcodes._errors import show

        assert show(cc.CallType.EMERGENCY) == "'emergency'"
        assert show(timedelta(seconds=90)) == "90 seconds"
        assert show(timedelta(minutes=3)) == "3 minutes"
        assert show("a" * 100).endswith("(100 characters)")
        assert len(show("a" * 100)) < 90
        assert show(10**400) == "a number of 1329 bits"
        assert "\x1b" not in show("\x1b[31m")
        assert show({cc.CallType.EMERGENCY: timedelta(minutes=2)}) == "{'emergency': 2 minutes}"
        assert show(frozenset({cc.CallType.LOCAL})) == "['local']"

    def test_batch_rows_are_numbered_from_1(self) -> None:
        """In-memory batches number their rows from 1, as files number their lines."""
        book = cc.CodeBook()
        book.set_group("acme", cc.GroupSettings())
        with pytest.raises(cc.BatchError) as caught:
            book.add_codes("acme", ["1234", "12"])
        assert [row.row for row in caught.value.rows] == [2]
        assert "row 2 ('12')" in str(caught.value)

    @pytest.mark.parametrize(
        "text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "0001-01-01", "2" * 100]
    )
    def test_time_text_at_the_calendars_edge_is_refused(self, text: str) -> None:
        """parse_iso refuses times whose UTC form, or later arithmetic, leaves the calendar."""
        from callcodes._timefmt import parse_iso

        with raises_invalid("--since"):
            parse_iso("--since", text, assume_utc=True)
