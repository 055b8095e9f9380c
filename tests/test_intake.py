"""Intake: from a dial string and a code field to the call to decide and its code, for adapters."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import callcodes as cc
import callcodes.dialplan.plan as plan_module
from callcodes.dialplan import Intake, emergency_destination, read_dialed
from strategies import NON_ASCII_DIGITS

US = cc.DialPlan("US", extensions=["1000-1999"], outside_prefix="9", local_prefixes=["212"])
PLANS = (
    US,
    cc.DialPlan("GB", extensions=["200-299"], outside_prefix="9", extra_emergency=["55555"]),
    cc.DialPlan("FR", outside_prefix="0"),
    cc.DialPlan("AU"),
)
DEFAULTS = cc.GroupSettings()
NATIONAL = "913125550123"
LOCAL = "912125550123"
P = cc.InlineProblem

plans = st.sampled_from(PLANS)
group_settings = st.builds(
    cc.GroupSettings,
    code_prefix=st.sampled_from(["*71", "#5", "*9", "#*1"]),
    code_length=st.integers(2, 8),
)
fields = st.none() | st.sampled_from(["", " ", "1234", " 0042 ", "12", "x1"])


def take(dialed: str, code: str | None = None, **options: object) -> Intake:
    return read_dialed(US, DEFAULTS, "acme", "1001", dialed, code=code, **options)  # type: ignore[arg-type]


class TestExamples:
    """What the Kamailio router relied on, now one function for every adapter."""

    def test_a_dialed_code_leaves_the_number(self) -> None:
        """*71 + code + number: the call is to the number, the code is the one dialed."""
        taken = take(f"*711234{NATIONAL}", call_id="c1")
        assert taken.call == cc.Call("acme", "1001", NATIONAL, cc.CallType.NATIONAL, "c1")
        assert (taken.code, taken.source, taken.problem) == ("1234", cc.CodeSource.DIALED, None)
        assert not taken.refused

    def test_a_code_field_is_taken_without_its_spaces(self) -> None:
        """A code in a separate field (a SIP header) is judged; the number stays as dialed."""
        taken = take(LOCAL, " 0042 ")
        assert taken.call is not None
        assert (taken.call.dialed, taken.call.call_type) == (LOCAL, cc.CallType.LOCAL)
        assert (taken.code, taken.source) == ("0042", cc.CodeSource.FIELD)

    def test_no_code_at_all(self) -> None:
        """No prefix, no field: no code, the whole string is the number."""
        taken = take("1500")
        assert taken.call is not None
        assert (taken.call.call_type, taken.code, taken.source) == (
            cc.CallType.INTERNAL,
            None,
            cc.CodeSource.NONE,
        )

    @pytest.mark.parametrize("dialed", ["*711234", "*7112", "*71", ""])
    def test_no_number_after_the_code_is_refused(self, dialed: str) -> None:
        """Nothing to call: refused as NO_DESTINATION, and no code is handed out."""
        taken = take(dialed)
        assert (taken.call, taken.code, taken.problem) == (None, None, P.NO_DESTINATION)
        assert taken.refused

    def test_two_codes_are_refused(self) -> None:
        """A code dialed and another in the field: refused, never a silent choice."""
        taken = take(f"*711234{NATIONAL}", "0042")
        assert (taken.call, taken.code, taken.problem) == (None, None, P.TWO_CODES)

    def test_a_malformed_code_is_judged(self) -> None:
        """A code with a non-digit goes to the decision (MALFORMED_CODE counts toward lockout)."""
        taken = take(f"*7112#4{NATIONAL}")
        assert taken.call is not None
        assert taken.call.dialed == NATIONAL
        assert (taken.code, taken.problem) == ("12#4", P.NON_DIGIT_CODE)

    @pytest.mark.parametrize(
        ("dialed", "code", "number", "entered"),
        [
            ("911", None, "911", None),
            ("9911", None, "9911", None),
            ("*719999911", None, "911", "9999"),
            ("*71911", None, "911", None),
            ("*711234911", "0042", "911", None),
            ("*71ab12911", None, "911", "ab12"),
            ("911", "oops", "911", "oops"),
        ],
    )
    def test_emergency_numbers_always_make_a_call(
        self, dialed: str, code: str | None, number: str, entered: str | None
    ) -> None:
        """Bare, after the outside prefix, after a code, after the prefix alone, with 2 codes."""
        taken = take(dialed, code)
        assert taken.call is not None
        assert (taken.call.dialed, taken.call.call_type) == (number, cc.CallType.EMERGENCY)
        assert taken.code == entered

    def test_the_code_stays_out_of_repr(self) -> None:
        """An authorization code is a secret: the intake's repr does not show it."""
        assert "1234" not in repr(take(f"*711234{NATIONAL}"))

    def test_emergency_numbers_need_no_phonenumbers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without phonenumbers, 911 still makes an emergency call; a national number raises."""

        def missing() -> None:
            raise cc.MissingDependencyError("phonenumbers", "phone", "classifying dialed digits")

        monkeypatch.setattr(plan_module, "_require_phonenumbers", missing)
        plan = cc.DialPlan("US", outside_prefix="9")  # a new plan: nothing cached
        for dialed in ("*719999911", "*71911", "9911"):
            taken = read_dialed(plan, DEFAULTS, "acme", "1001", dialed)
            assert taken.call is not None
            assert taken.call.call_type is cc.CallType.EMERGENCY
            assert emergency_destination(plan, DEFAULTS, dialed) == taken.call.dialed
        assert read_dialed(plan, DEFAULTS, "acme", "1001", "*711234").problem is P.NO_DESTINATION
        with pytest.raises(cc.MissingDependencyError):
            read_dialed(plan, DEFAULTS, "acme", "1001", f"*711234{NATIONAL}")
        assert emergency_destination(plan, DEFAULTS, f"*711234{NATIONAL}") is None

    def test_misuse_raises(self) -> None:
        """Arguments of the wrong type are programming errors, named."""
        with pytest.raises(cc.InvalidValueError, match=r"^plan="):
            read_dialed("US", DEFAULTS, "acme", "1001", "911")  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match=r"^dialed="):
            read_dialed(US, DEFAULTS, "acme", "1001", 911)  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match=r"^group="):
            read_dialed(US, DEFAULTS, " acme", "1001", NATIONAL)

    def test_emergency_destination_never_raises(self) -> None:
        """The fallback of a failed check answers None for anything, even the wrong types."""
        assert emergency_destination(US, DEFAULTS, 911) is None  # type: ignore[arg-type]
        assert emergency_destination("US", DEFAULTS, "911") is None  # type: ignore[arg-type]
        assert emergency_destination(US, DEFAULTS, NATIONAL) is None
        assert emergency_destination(US, DEFAULTS, "*7112345911") is None  # 1234 + 5911
        assert emergency_destination(US, DEFAULTS, "*719999911") == "911"

    def test_is_exported_by_the_dial_plan_package(self) -> None:
        """Adapters import it from callcodes.dialplan."""
        import callcodes.dialplan as dialplan

        assert {"Intake", "read_dialed", "emergency_destination"} <= set(dialplan.__all__)


class TestProperties:
    @given(
        plan=plans,
        settings=group_settings,
        data=st.data(),
        field=fields,
        user=st.sampled_from(["1001", "+15550001", ""]),
    )
    def test_an_emergency_number_is_always_an_emergency_call(
        self,
        plan: cc.DialPlan,
        settings: cc.GroupSettings,
        data: st.DataObject,
        field: str | None,
        user: str,
    ) -> None:
        """Bare, after the outside prefix, the code prefix, or the prefix and a whole code."""
        number = data.draw(st.sampled_from(sorted(plan.emergency_numbers)), label="number")
        prefix, length = settings.code_prefix, settings.code_length
        code = data.draw(st.text(alphabet="0123456789*#ab", min_size=length, max_size=length))
        outside = plan.outside_prefix or ""
        before = data.draw(
            st.sampled_from(
                ["", outside, prefix, prefix + outside, prefix + code, prefix + code + outside]
            ),
            label="before",
        )
        taken = read_dialed(plan, settings, "acme", user, before + number, code=field)
        assert taken.call is not None
        assert taken.call.call_type is cc.CallType.EMERGENCY
        assert taken.call.dialed in {number, outside + number}
        assert emergency_destination(plan, settings, before + number, code=field) == (
            taken.call.dialed
        )

    @given(
        plan=plans,
        settings=group_settings,
        data=st.data(),
        destination=st.text(alphabet="0123456789", min_size=1, max_size=15),
    )
    def test_prefix_code_destination_round_trips(
        self, plan: cc.DialPlan, settings: cc.GroupSettings, data: st.DataObject, destination: str
    ) -> None:
        """prefix + code + number gives back the code, and a call to the number as classified."""
        length = settings.code_length
        code = data.draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
        emergency = cc.CallType.EMERGENCY
        # Ambiguous by design: the code and the number together are an emergency number.
        assume(
            plan.classify(destination).call_type is emergency
            or plan.classify(code + destination).call_type is not emergency
        )
        taken = read_dialed(
            plan, settings, "acme", "1001", settings.code_prefix + code + destination
        )
        assert taken.call is not None
        assert taken.call.dialed == destination
        assert taken.call.call_type is plan.classify(destination).call_type
        assert (taken.code, taken.source, taken.problem) == (code, cc.CodeSource.DIALED, None)

    @given(
        plan=plans,
        settings=group_settings,
        dialed=st.text(max_size=30)
        | st.text(alphabet="0123456789*#+ -" + NON_ASCII_DIGITS, max_size=30),
        field=st.none() | st.text(max_size=8),
    )
    def test_bad_strings_never_raise(
        self, plan: cc.DialPlan, settings: cc.GroupSettings, dialed: str, field: str | None
    ) -> None:
        """Any text is an answer: a call to the end of the dial string, or a refusal."""
        taken = read_dialed(plan, settings, "acme", "1001", dialed, code=field)
        if taken.call is None:
            assert taken.problem in {P.NO_DESTINATION, P.TWO_CODES}
            assert taken.code is None
        else:
            assert dialed.endswith(taken.call.dialed)
            assert taken.call.dialed
        emergency_destination(plan, settings, dialed, code=field)
