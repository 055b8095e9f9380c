"""Inline code entry: the dial string splits into code and destination, or says what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from strategies import NON_ASCII_DIGITS, code_lengths, code_prefixes, codes_of

P = cc.InlineProblem
S = cc.CodeSource
DEFAULT = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION)  # prefix *71, 4 digits


class TestDialString:
    """The code in the dial string, after the group's code prefix."""

    def test_prefix_code_destination(self) -> None:
        """'*71' then 4 digits then the number: the code and the destination come apart."""
        got = cc.parse_inline("*7112340114420712345", DEFAULT)
        assert got == cc.Inline("0114420712345", "1234", S.DIALED)
        assert got.ok

    def test_leading_zeros_are_kept(self) -> None:
        """A code that starts with zeros is taken whole: '0042' is not '42'."""
        assert cc.parse_inline("*710042911", DEFAULT).code == "0042"

    def test_no_prefix_is_plain_dialing(self) -> None:
        """Without the prefix the whole string is the destination and there is no code."""
        assert cc.parse_inline("0114420712345", DEFAULT) == cc.Inline("0114420712345", None, S.NONE)

    def test_the_group_prefix_and_length_are_used(self) -> None:
        """Another prefix and length split where that group says, and '*71' is then no prefix."""
        group = cc.GroupSettings(code_length=6, code_prefix="#55")
        assert cc.parse_inline("#55123456789", group) == cc.Inline("789", "123456", S.DIALED)
        assert cc.parse_inline("*711234789", group) == cc.Inline("*711234789", None, S.NONE)

    @pytest.mark.parametrize(
        ("dialed", "expected"),
        [
            ("*71", cc.Inline("", None, S.DIALED, P.SHORT_CODE)),
            ("*7112", cc.Inline("", "12", S.DIALED, P.SHORT_CODE)),
            ("*7112*4555", cc.Inline("555", "12*4", S.DIALED, P.NON_DIGIT_CODE)),
            ("*71+4420555", cc.Inline("0555", "+442", S.DIALED, P.NON_DIGIT_CODE)),
            (f"*7112{NON_ASCII_DIGITS[1]}4555", None),
            ("*711234", cc.Inline("", None, S.DIALED, P.NO_DESTINATION)),
        ],
    )
    def test_malformed_dial_strings_say_why(self, dialed: str, expected: cc.Inline | None) -> None:
        """Each malformed dial string gets its own problem, and no exception."""
        got = cc.parse_inline(dialed, DEFAULT)
        assert not got.ok
        if expected is None:  # a look-alike digit in the code
            assert got.problem is P.NON_DIGIT_CODE
        else:
            assert got == expected

    def test_a_malformed_inline_code_is_judged_malformed(self) -> None:
        """The code text of a malformed dial string is what decide calls a malformed code."""
        book = cc.CodeBook()
        book.set_group("acme", cc.GroupSettings(cc.Mode.AUTHORIZATION, mandatory_users={"al"}))
        the_call = cc.Call("acme", "al", "555", cc.CallType.NATIONAL)
        for dialed in ("*7112", "*7112*4555"):
            code = cc.parse_inline(dialed, book.group("acme")).code
            assert cc.decide(book, the_call, code).reason is cc.Reason.MALFORMED_CODE

    def test_no_destination_hands_out_no_code(self) -> None:
        """A code with nothing to dial is not returned, so it cannot be probed for free."""
        assert cc.parse_inline("*711234", DEFAULT).code is None


class TestField:
    """The code in a separate field (a SIP header), with a plain dial string."""

    def test_code_from_the_field(self) -> None:
        """A well-formed field code is taken; spaces and tabs around it are ignored."""
        assert cc.parse_inline("5551234", DEFAULT, " 1234\t") == cc.Inline(
            "5551234", "1234", S.FIELD
        )

    @pytest.mark.parametrize("field", [None, "", "  "])
    def test_empty_field_is_no_code(self, field: str | None) -> None:
        """A missing or blank field is no code at all."""
        assert cc.parse_inline("5551234", DEFAULT, field) == cc.Inline("5551234", None, S.NONE)

    @pytest.mark.parametrize(
        ("field", "problem"),
        [
            ("123", P.WRONG_LENGTH),
            ("12345", P.WRONG_LENGTH),
            ("12a4", P.NON_DIGIT_CODE),
            ("12 34", P.NON_DIGIT_CODE),
            (NON_ASCII_DIGITS[10:14], P.NON_DIGIT_CODE),
        ],
    )
    def test_bad_field_says_why(self, field: str, problem: cc.InlineProblem) -> None:
        """A field of the wrong length or with non-digits is refused with its own problem."""
        got = cc.parse_inline("5551234", DEFAULT, field)
        assert (got.problem, got.code, got.destination) == (problem, field, "5551234")

    def test_code_in_both_places(self) -> None:
        """A code in the dial string and in the field is ambiguous: refused, no code handed out."""
        got = cc.parse_inline("*7112345551234", DEFAULT, "9999")
        assert got == cc.Inline("5551234", None, S.NONE, P.TWO_CODES)


class TestMisuse:
    """Only programming errors raise; secrets stay out of repr."""

    @pytest.mark.parametrize(
        ("dialed", "settings", "field", "match"),
        [
            (None, DEFAULT, None, "dial string is a str"),
            (5551234, DEFAULT, None, "dial string is a str"),
            ("555", DEFAULT, 1234, "code field is a str"),
            ("555", None, None, "must be a GroupSettings"),
        ],
    )
    def test_wrong_types_raise(
        self, dialed: object, settings: object, field: object, match: str
    ) -> None:
        """A dial string or field that is not a str, or missing settings, is a clear error."""
        with pytest.raises(cc.InvalidValueError, match=match):
            cc.parse_inline(dialed, settings, field)  # type: ignore[arg-type]

    def test_repr_hides_the_code(self) -> None:
        """An Inline can be logged without revealing the code."""
        assert "1234" not in repr(cc.parse_inline("*7112345550000", DEFAULT))


class TestProperties:
    """Splitting is exact for every prefix, length, code and destination, and never raises."""

    @given(
        prefix=code_prefixes,
        length=code_lengths,
        data=st.data(),
        destination=st.text(alphabet="0123456789*#+", min_size=1, max_size=20),
    )
    def test_round_trip(
        self, prefix: str, length: int, data: st.DataObject, destination: str
    ) -> None:
        """prefix + code + destination parses back to exactly that code and destination."""
        code = data.draw(codes_of(length))
        group = cc.GroupSettings(code_length=length, code_prefix=prefix)
        got = cc.parse_inline(prefix + code + destination, group)
        assert got == cc.Inline(destination, code, S.DIALED)

    @given(prefix=code_prefixes, length=code_lengths, data=st.data())
    def test_never_raises_and_is_consistent(
        self, prefix: str, length: int, data: st.DataObject
    ) -> None:
        """Any text: an answer, never an exception; an ok answer has a well-formed code or none."""
        keyed = st.text(alphabet="0123456789*#+", max_size=30)
        # Any text, dial strings, and dial strings after the prefix, some led by a good code.
        dialed = data.draw(
            st.text(max_size=30)
            | keyed
            | keyed.map(lambda k: prefix + k)
            | st.tuples(codes_of(length), keyed).map(lambda t: prefix + t[0] + t[1])
        )
        # No field, any text, digits with blanks, and well-formed codes.
        field = data.draw(
            st.none()
            | st.text(max_size=16)
            | st.text(alphabet="0123456789 \t", max_size=16)
            | codes_of(length).map(lambda c: f" {c}")
        )
        group = cc.GroupSettings(code_length=length, code_prefix=prefix)
        got = cc.parse_inline(dialed, group, field)
        if not dialed.startswith(prefix):
            assert got.destination == dialed
        if got.ok:
            assert got.code is None or cc.is_code(got.code, length)
            assert (got.code is None) == (got.source is S.NONE)
            if got.source is S.DIALED:
                assert dialed == prefix + got.code + got.destination  # type: ignore[operator]
        else:
            assert got.code is None or not cc.is_code(got.code, length)
