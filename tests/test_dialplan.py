"""Dial plans: real-format numbers of five countries, the rules as properties, and validation."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result
from hypothesis import assume, given
from hypothesis import strategies as st

import callcodes as cc
from callcodes import cli, policyfile
from callcodes.audit import Action
from callcodes.dialplan import CLASSIFY_CACHE_LIMIT, MAX_DIALED
from callcodes.dialplan import emergency as emergency_table
from callcodes.store import SCHEMA_VERSION, PolicyStore
from strategies import dial_plans, override_keys, override_types

T = cc.CallType
# The policy schema version whose migration step added the dial plan table.
DIALPLANS_ADDED = 3

# One plan per country, as a group there would write it. Numbers below use the ranges
# libphonenumber accepts for each type (fictional where the regulator sets some aside).
PLANS = {
    "US": cc.DialPlan(
        "US",
        extensions=["1000-1999"],
        public_numbers=["+12125551000-+12125551099"],
        outside_prefix="9",
        local_prefixes=["212", "646"],
    ),
    "GB": cc.DialPlan("GB", extensions=["200-299"], outside_prefix="9", local_prefixes=["020"]),
    "DE": cc.DialPlan("DE", extensions=["10-99"], outside_prefix="0", local_prefixes=["030"]),
    "FR": cc.DialPlan("FR", extensions=["200-299"], outside_prefix="0", local_prefixes=["01"]),
    "AU": cc.DialPlan("AU", extensions=["1000-1999"], outside_prefix="0", local_prefixes=["02"]),
}

# (region, dialed, expected call type, expected E.164 destination or None)
TABLE = [
    # United States: outside line 9, extensions 1000-1999, local area codes 212 and 646.
    ("US", "911", T.EMERGENCY, None),
    ("US", "9911", T.EMERGENCY, None),
    ("US", "933", T.EMERGENCY, None),
    ("US", "9933", T.EMERGENCY, None),
    ("US", "112", T.EMERGENCY, None),
    ("US", "1234", T.INTERNAL, None),
    ("US", "12125551050", T.INTERNAL, "+12125551050"),  # the group's own public number
    ("US", "12125550123", T.LOCAL, "+12125550123"),
    ("US", "912125550123", T.LOCAL, "+12125550123"),
    ("US", "2125550123", T.LOCAL, "+12125550123"),
    ("US", "95550123", T.LOCAL, "+12125550123"),  # seven digits: completed with 212
    ("US", "13125550123", T.NATIONAL, "+13125550123"),
    ("US", "913125550123", T.NATIONAL, "+13125550123"),
    ("US", "(312) 555-0123", T.NATIONAL, "+13125550123"),
    ("US", "18002345678", T.TOLL_FREE, "+18002345678"),
    ("US", "918002345678", T.TOLL_FREE, "+18002345678"),
    ("US", "19002345678", T.PREMIUM, "+19002345678"),
    ("US", "919002345678", T.PREMIUM, "+19002345678"),
    ("US", "011442079460958", T.INTERNATIONAL, "+442079460958"),
    ("US", "9011442079460958", T.INTERNATIONAL, "+442079460958"),
    ("US", "+442079460958", T.INTERNATIONAL, "+442079460958"),
    ("US", "918765550123", T.INTERNATIONAL, "+18765550123"),  # Jamaica, inside the NANP
    # United Kingdom: outside line 9, extensions 200-299, London (020) is local.
    ("GB", "999", T.EMERGENCY, None),
    ("GB", "9999", T.EMERGENCY, None),
    ("GB", "112", T.EMERGENCY, None),
    ("GB", "9112", T.EMERGENCY, None),
    ("GB", "250", T.INTERNAL, None),
    ("GB", "020 7946 0958", T.LOCAL, "+442079460958"),
    ("GB", "902079460958", T.LOCAL, "+442079460958"),
    ("GB", "79460958", T.LOCAL, "+442079460958"),
    ("GB", "0161 496 0123", T.NATIONAL, "+441614960123"),
    ("GB", "901614960123", T.NATIONAL, "+441614960123"),
    ("GB", "07400 123456", T.NATIONAL, "+447400123456"),  # mobile
    ("GB", "907400123456", T.NATIONAL, "+447400123456"),
    ("GB", "0800 123 4567", T.TOLL_FREE, "+448001234567"),
    ("GB", "908001234567", T.TOLL_FREE, "+448001234567"),
    ("GB", "0901 234 5678", T.PREMIUM, "+449012345678"),
    ("GB", "909012345678", T.PREMIUM, "+449012345678"),
    ("GB", "00 33 1 23 45 67 89", T.INTERNATIONAL, "+33123456789"),
    ("GB", "90033123456789", T.INTERNATIONAL, "+33123456789"),
    # Germany: outside line 0, extensions 10-99, Berlin (030) is local.
    ("DE", "110", T.EMERGENCY, None),
    ("DE", "0110", T.EMERGENCY, None),
    ("DE", "112", T.EMERGENCY, None),
    ("DE", "0112", T.EMERGENCY, None),
    ("DE", "42", T.INTERNAL, None),
    ("DE", "030 123456", T.LOCAL, "+4930123456"),
    ("DE", "0030123456", T.LOCAL, "+4930123456"),
    ("DE", "089 123456", T.NATIONAL, "+4989123456"),
    ("DE", "0089123456", T.NATIONAL, "+4989123456"),
    ("DE", "01512 3456789", T.NATIONAL, "+4915123456789"),  # mobile
    ("DE", "0015123456789", T.NATIONAL, "+4915123456789"),
    ("DE", "0180 1 2345", T.NATIONAL, "+4918012345"),  # shared cost
    ("DE", "0800 1234567890", T.TOLL_FREE, "+498001234567890"),
    ("DE", "008001234567890", T.TOLL_FREE, "+498001234567890"),
    ("DE", "0900 1 234567", T.PREMIUM, "+499001234567"),
    ("DE", "009001234567", T.PREMIUM, "+499001234567"),
    ("DE", "0 0033 1 23 45 67 89", T.INTERNATIONAL, "+33123456789"),
    # France: outside line 0, extensions 200-299, Paris region (01) is local.
    ("FR", "15", T.EMERGENCY, None),
    ("FR", "17", T.EMERGENCY, None),
    ("FR", "18", T.EMERGENCY, None),
    ("FR", "018", T.EMERGENCY, None),
    ("FR", "112", T.EMERGENCY, None),
    ("FR", "0112", T.EMERGENCY, None),
    ("FR", "201", T.INTERNAL, None),
    ("FR", "01 23 45 67 89", T.LOCAL, "+33123456789"),
    ("FR", "00123456789", T.LOCAL, "+33123456789"),
    ("FR", "04 12 34 56 78", T.NATIONAL, "+33412345678"),
    ("FR", "06 12 34 56 78", T.NATIONAL, "+33612345678"),  # mobile
    ("FR", "00612345678", T.NATIONAL, "+33612345678"),
    ("FR", "0884012345", T.NATIONAL, "+33884012345"),  # shared cost
    ("FR", "0 801 23 45 67", T.TOLL_FREE, "+33801234567"),
    ("FR", "00801234567", T.TOLL_FREE, "+33801234567"),
    ("FR", "0 891 12 34 56", T.PREMIUM, "+33891123456"),
    ("FR", "00891123456", T.PREMIUM, "+33891123456"),
    ("FR", "3949", T.PREMIUM, None),  # a premium-rate short number
    ("FR", "00 44 20 7946 0958", T.INTERNATIONAL, "+442079460958"),
    ("FR", "000442079460958", T.INTERNATIONAL, "+442079460958"),
    # Australia: outside line 0, extensions 1000-1999, Sydney (02) is local.
    ("AU", "000", T.EMERGENCY, None),
    ("AU", "0000", T.EMERGENCY, None),
    ("AU", "112", T.EMERGENCY, None),
    ("AU", "0112", T.EMERGENCY, None),
    ("AU", "106", T.EMERGENCY, None),
    ("AU", "1500", T.INTERNAL, None),
    ("AU", "(02) 9876 5432", T.LOCAL, "+61298765432"),
    ("AU", "00298765432", T.LOCAL, "+61298765432"),
    ("AU", "9876 5432", T.LOCAL, "+61298765432"),  # eight digits: completed with 02
    ("AU", "03 9876 5432", T.NATIONAL, "+61398765432"),
    ("AU", "0412 345 678", T.NATIONAL, "+61412345678"),  # mobile
    ("AU", "00412345678", T.NATIONAL, "+61412345678"),
    ("AU", "1300 123 456", T.NATIONAL, "+611300123456"),  # shared cost
    ("AU", "1800 123 456", T.TOLL_FREE, "+611800123456"),
    ("AU", "01800123456", T.TOLL_FREE, "+611800123456"),
    ("AU", "1900 123 456", T.PREMIUM, "+611900123456"),
    ("AU", "01900123456", T.PREMIUM, "+611900123456"),
    ("AU", "0011 44 20 7946 0958", T.INTERNATIONAL, "+442079460958"),
    ("AU", "00011442079460958", T.INTERNATIONAL, "+442079460958"),
]


class TestRealNumbers:
    """Real-format numbers of five countries get the type and destination a PBX there gives."""

    @pytest.mark.parametrize(("region", "dialed", "call_type", "destination"), TABLE)
    def test_table(
        self, region: str, dialed: str, call_type: cc.CallType, destination: str | None
    ) -> None:
        """Each real-format number gets the call type and destination a PBX there would give."""
        found = PLANS[region].classify(dialed)
        assert (found.call_type, found.destination) == (call_type, destination), found.reason

    def test_table_covers_every_kind_in_every_country(self) -> None:
        """Each country has emergency, internal, local, national, toll-free, premium, intl rows."""
        wanted = {
            T.EMERGENCY,
            T.INTERNAL,
            T.LOCAL,
            T.NATIONAL,
            T.TOLL_FREE,
            T.PREMIUM,
            T.INTERNATIONAL,
        }
        for region in PLANS:
            assert {row[2] for row in TABLE if row[0] == region} >= wanted, region

    def test_other_region_of_the_nanp_is_international(self) -> None:
        """From the US, a Canadian number is international; a toll-free one is not."""
        us = cc.DialPlan("US")
        assert us.classify("14165550123").call_type is T.INTERNATIONAL
        assert cc.DialPlan("CA").classify("18002345678").call_type is T.TOLL_FREE

    def test_outside_prefix_is_read_first(self) -> None:
        """Digits starting with the outside prefix are read after it when that makes a number."""
        found = PLANS["DE"].classify("0033123456789")
        assert found.destination == "+4933123456789"  # 0, then 033 (Brandenburg), as dialed
        assert found.call_type is T.NATIONAL

    def test_without_the_outside_prefix_the_digits_are_read_whole(self) -> None:
        """A number that means nothing after the outside prefix is read as dialed in full."""
        found = PLANS["US"].classify("9175550123")  # 917 is a New York area code
        assert (found.call_type, found.destination) == (T.NATIONAL, "+19175550123")

    def test_local_only_number_without_local_prefixes(self) -> None:
        """Seven US digits are LOCAL even when the plan names no area code (no destination)."""
        found = cc.DialPlan("US").classify("5550123")
        assert (found.call_type, found.destination) == (T.LOCAL, None)

    def test_e164_local_prefix(self) -> None:
        """A local prefix may be written in E.164 form."""
        plan = cc.DialPlan("US", local_prefixes=["+1312"])
        assert plan.classify("13125550123").call_type is T.LOCAL

    def test_short_numbers_by_cost(self) -> None:
        """Short numbers are typed by their cost; one of unknown cost is UNKNOWN with a reason."""
        plan = cc.DialPlan("US")
        found = plan.classify("411")
        assert found.call_type is T.UNKNOWN
        assert "411" in found.reason

    def test_invalid_number_is_unknown(self) -> None:
        """Digits that make no valid number are UNKNOWN and say so."""
        found = PLANS["US"].classify("12")
        assert found.call_type is T.UNKNOWN
        assert "not a valid number" in found.reason or "not a phone number" in found.reason

    def test_feature_code_is_unknown(self) -> None:
        """A feature access code is not a number: UNKNOWN unless an override names it."""
        assert PLANS["US"].classify("*71").call_type is T.UNKNOWN
        plan = cc.DialPlan("US", overrides={"*7": "internal"})
        assert plan.classify("*71").call_type is T.INTERNAL

    def test_digits_of_other_scripts(self) -> None:
        """Digits of other scripts are read as digits: Arabic-Indic 911 is an emergency call."""
        assert PLANS["US"].classify("٩١١").call_type is T.EMERGENCY
        assert PLANS["US"].classify("٩١٢١٢٥٥٥٠١٢٣").call_type is T.LOCAL


class TestOverrides:
    """Overrides match by prefix, whole number or E.164; the longest wins; emergency stays."""

    def test_prefix_override(self) -> None:
        """A digit override matches the dialed digits, with or without the outside prefix."""
        plan = cc.DialPlan("US", outside_prefix="9", overrides={"1900": "national"})
        for dialed in ("19002345678", "919002345678"):
            found = plan.classify(dialed)
            assert (found.call_type, found.destination) == (T.NATIONAL, "+19002345678")
            assert "override 1900" in found.reason

    def test_exact_override(self) -> None:
        """A key ending in $ matches the whole number only."""
        plan = cc.DialPlan("US", overrides={"0$": "operator", "411": "directory_assistance"})
        assert plan.classify("0").call_type is T.OPERATOR
        assert plan.classify("011442079460958").call_type is T.INTERNATIONAL
        assert plan.classify("411").call_type is T.DIRECTORY_ASSISTANCE

    def test_longest_prefix_wins(self) -> None:
        """Of two matching keys, the longer one decides."""
        plan = cc.DialPlan("US", overrides={"1": "national", "1800": "premium"})
        assert plan.classify("18002345678").call_type is T.PREMIUM
        assert plan.classify("13125550123").call_type is T.NATIONAL

    def test_e164_override(self) -> None:
        """A + key matches the E.164 number however it was dialed."""
        plan = cc.DialPlan("US", outside_prefix="9", overrides={"+1416": "national"})
        for dialed in ("914165550123", "14165550123", "+14165550123", "901114165550123"):
            assert plan.classify(dialed).call_type is T.NATIONAL, dialed

    def test_enterprise_site_code(self) -> None:
        """An override can mark another group's site code as ENTERPRISE."""
        plan = cc.DialPlan("US", outside_prefix="9", overrides={"8": "enterprise"})
        assert plan.classify("82001234").call_type is T.ENTERPRISE

    def test_override_beats_extension(self) -> None:
        """Overrides are the last word on anything but emergency numbers."""
        plan = cc.DialPlan("US", extensions=["100-199"], overrides={"15": "operator"})
        assert plan.classify("150").call_type is T.OPERATOR
        assert plan.classify("120").call_type is T.INTERNAL

    def test_override_cannot_touch_emergency(self) -> None:
        """An override matching an emergency number does not change it."""
        plan = cc.DialPlan("US", outside_prefix="9", overrides={"9": "premium", "911$": "local"})
        assert plan.classify("911").call_type is T.EMERGENCY
        assert plan.classify("9911").call_type is T.EMERGENCY


class TestProperties:
    """Generated plans: emergency numbers come first, extensions are internal, any text is typed."""

    @given(plan=dial_plans(overrides=False), data=st.data())
    def test_emergency_with_any_prefix_and_overrides(
        self, plan: cc.DialPlan, data: st.DataObject
    ) -> None:
        """An emergency number is EMERGENCY alone and after the outside prefix, any overrides."""
        number = data.draw(st.sampled_from(sorted(plan.emergency_numbers)))
        prefix = plan.outside_prefix or ""
        dialed = prefix + number
        # Overrides aimed right at the number: every prefix of it, exact and E.164 forms too.
        keys = [dialed[:i] for i in range(1, len(dialed) + 1)] + [f"{number}$", f"{dialed}$"]
        keys += data.draw(st.lists(override_keys, max_size=3))
        overrides = {key: data.draw(override_types) for key in keys}
        with_overrides = cc.DialPlan.from_dict({**plan.to_dict(), "overrides": overrides})
        for candidate in (plan, with_overrides):
            for text in {number, dialed}:
                found = candidate.classify(text)
                assert found.call_type is T.EMERGENCY, (text, found)

    @given(plan=dial_plans(overrides=False), data=st.data())
    def test_extension_is_internal(self, plan: cc.DialPlan, data: st.DataObject) -> None:
        """Any extension of the group, exact or inside a range, is INTERNAL."""
        assume(plan.extensions)
        item = data.draw(st.sampled_from(plan.extensions))
        start, _, end = item.partition("-")
        end = end or start
        value = data.draw(st.integers(int(start), int(end)))
        extension = str(value).zfill(len(start))
        assume(extension not in plan.emergency_numbers)
        found = plan.classify(extension)
        assert (found.call_type, found.destination) == (T.INTERNAL, None), found

    @given(
        plan=dial_plans(),
        text=st.text(max_size=MAX_DIALED + 4) | st.text(alphabet="0123456789+*# -()٣", max_size=24),
    )
    def test_never_raises_on_text(self, plan: cc.DialPlan, text: str) -> None:
        """Any text gets a classification; UNKNOWN always carries a reason; the cache agrees."""
        found = plan.classify(text)
        assert isinstance(found.call_type, cc.CallType)
        assert found.reason
        if found.destination is not None:
            assert found.destination.startswith("+")
            assert cc.is_code(found.destination[1:])
        assert plan.classify(text) == plan.classify_uncached(text) == found

    @given(plan=dial_plans())
    def test_dict_round_trip(self, plan: cc.DialPlan) -> None:
        """to_dict is JSON data, and from_dict rebuilds an equal plan."""
        data = json.loads(json.dumps(plan.to_dict()))
        assert cc.DialPlan.from_dict(data) == plan


class TestCache:
    """Classifications are remembered per plan, within a bound, and are not part of its value."""

    def test_repeated_digits_come_from_the_cache(self) -> None:
        """Classifying the same string twice returns the very same answer object."""
        plan = cc.DialPlan("US")
        first = plan.classify("12125550123")
        assert plan.classify("12125550123") is first
        assert plan.classify_uncached("12125550123") is not first

    def test_cache_is_bounded(self) -> None:
        """However many distinct strings are classified, the cache holds at most the limit."""
        plan = cc.DialPlan("US")
        first = plan.classify("*0")
        for value in range(1, CLASSIFY_CACHE_LIMIT + 1):
            latest = plan.classify(f"*{value}")
        assert plan.classify(f"*{CLASSIFY_CACHE_LIMIT}") is latest  # still remembering
        assert plan.classify("*0") is not first  # limit + 1 strings: the first is forgotten
        assert plan.classify("*0") == first

    def test_long_text_is_not_cached(self) -> None:
        """Text longer than MAX_DIALED is UNKNOWN and not remembered."""
        plan = cc.DialPlan("US")
        found = plan.classify("1" * (MAX_DIALED + 1))
        assert found.call_type is T.UNKNOWN
        assert "too long" in found.reason
        again = plan.classify("1" * (MAX_DIALED + 1))
        assert again == found
        assert again is not found
        assert plan.classify("1" * MAX_DIALED) is plan.classify("1" * MAX_DIALED)  # at the limit

    def test_equal_plans_ignore_the_cache(self) -> None:
        """A plan's cache is not part of its value."""
        plan = cc.DialPlan("US")
        plan.classify("911")
        assert plan == cc.DialPlan("US")


class TestCall:
    """A plan builds the Call that decide takes, straight from the dialed digits."""

    def test_call_carries_the_classified_type(self) -> None:
        """plan.call builds the Call that decide takes, typed by the plan."""
        call = PLANS["US"].call("acme", "alice", "9011442079460958", call_id="c1")
        assert call == cc.Call("acme", "alice", "9011442079460958", T.INTERNATIONAL, "c1")

    def test_one_line_from_digits_to_a_decision(self) -> None:
        """A softswitch goes from dialed digits to a decision in one call."""
        book = cc.CodeBook()
        book.set_group(
            "acme",
            cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"})),
        )
        book.add_codes("acme", [cc.CodeEntry("1234")])
        plan = PLANS["US"]
        assert cc.decide(book, plan.call("acme", "alice", "9011442079460958"), "1234").verdict is (
            cc.Verdict.ALLOW
        )
        assert cc.decide(book, plan.call("acme", "alice", "9011442079460958")).verdict is (
            cc.Verdict.BLOCK
        )
        assert cc.decide(book, plan.call("acme", "alice", "9911")).reason is cc.Reason.EMERGENCY
        assert cc.decide(book, plan.call("acme", "alice", "1500")).reason is (
            cc.Reason.INTERNAL_CALL
        )


class TestValidation:
    """Each bad field of a plan is refused by name; good plans round trip through data."""

    @pytest.mark.parametrize(
        ("field", "kwargs"),
        [
            ("region", {"region": "XX"}),
            ("region", {"region": 1}),
            ("extensions", {"extensions": "1000"}),
            ("extensions", {"extensions": ["12a"]}),
            ("extensions", {"extensions": ["199-100"]}),
            ("extensions", {"extensions": ["100-1999"]}),
            ("extensions", {"extensions": ["\uff11\uff12\uff13"]}),
            ("extensions", {"extensions": [1000]}),
            ("public_numbers", {"public_numbers": ["12125551000"]}),
            ("public_numbers", {"public_numbers": ["+12125551099-+12125551000"]}),
            ("outside_prefix", {"outside_prefix": "*9"}),
            ("outside_prefix", {"outside_prefix": "12345"}),
            ("outside_prefix", {"outside_prefix": 9}),
            ("extra_emergency", {"extra_emergency": ["91a"]}),
            ("local_prefixes", {"local_prefixes": ["+"]}),
            ("local_prefixes", {"local_prefixes": ["2 12"]}),
            ("overrides", {"overrides": ["1900"]}),
            ("overrides", {"overrides": {"19a": "premium"}}),
            ("overrides", {"overrides": {"": "premium"}}),
            ("overrides[1900]", {"overrides": {"1900": "expensive"}}),
            ("overrides[9]", {"overrides": {"9": "emergency"}}),
            ("extensions", {"extensions": ["900-999"], "outside_prefix": "9"}),
            ("extensions", {"extensions": ["9"], "outside_prefix": "9"}),
            ("extra_emergency", {"region": "GN"}),
        ],
    )
    def test_bad_field_is_refused_by_name(self, field: str, kwargs: dict[str, object]) -> None:
        """Each bad field raises InvalidValueError naming the field."""
        arguments: dict[str, object] = {"region": "US", **kwargs}
        with pytest.raises(cc.InvalidValueError) as caught:
            cc.DialPlan(**arguments)  # type: ignore[arg-type]
        assert caught.value.field == field

    def test_region_is_case_insensitive(self) -> None:
        """A lower-case region is accepted and stored upper-case."""
        assert cc.DialPlan("gb").region == "GB"

    def test_region_without_table_entry_with_extra_emergency(self) -> None:
        """A region with no known emergency number is accepted once the plan names some."""
        plan = cc.DialPlan("GN", extra_emergency=["117"])
        assert plan.classify("117").call_type is T.EMERGENCY

    def test_extension_range_may_border_the_prefix(self) -> None:
        """Extensions that do not start with the outside prefix are fine next to it."""
        plan = cc.DialPlan("US", extensions=["800-899", "1000-1999"], outside_prefix="9")
        assert plan.classify("899").call_type is T.INTERNAL

    def test_non_string_dialed_is_misuse(self) -> None:
        """Dialed digits that are not a string are refused with an InvalidValueError."""
        with pytest.raises(cc.InvalidValueError, match="dialed"):
            PLANS["US"].classify(911)  # type: ignore[arg-type]
        with pytest.raises(cc.InvalidValueError, match="dialed"):
            PLANS["US"].classify(["911"])  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "data",
        [
            {"region": "US", "colour": "red"},
            {"extensions": ["100"]},
            ["US"],
        ],
    )
    def test_from_dict_refuses_bad_data(self, data: object) -> None:
        """Unknown keys, a missing region and non-mappings are refused."""
        with pytest.raises(cc.InvalidValueError):
            cc.DialPlan.from_dict(data)  # type: ignore[arg-type]

    def test_to_dict_leaves_out_a_missing_prefix(self) -> None:
        """A plan without an outside prefix has no outside_prefix key (TOML has no null)."""
        assert "outside_prefix" not in cc.DialPlan("US").to_dict()
        assert cc.DialPlan("US", outside_prefix="9").to_dict()["outside_prefix"] == "9"


class TestEmergencyTable:
    """The emergency table holds what the issue names and all that libphonenumber knows."""

    def test_issue_examples(self) -> None:
        """The table holds the numbers the issue names, country by country."""
        expected = {
            "US": {"911", "933"},
            "CA": {"911"},
            "GB": {"999", "112"},
            "AU": {"000", "112"},
            "NZ": {"111"},
            "DE": {"112"},
            "FR": {"112"},
        }
        for region, numbers in expected.items():
            assert cc.emergency_numbers(region) >= numbers, region

    def test_eu_members_have_112(self) -> None:
        """Every EU member state lists 112."""
        eu = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
        for region in eu.split():
            assert "112" in cc.emergency_numbers(region), region

    def test_unknown_region_has_none(self) -> None:
        """A region that is not in the table has no emergency numbers (and no plan)."""
        assert cc.emergency_numbers("XX") == frozenset()

    def test_table_holds_everything_libphonenumber_knows(self) -> None:
        """Every emergency number of the installed phonenumbers is in the table."""
        derived = emergency_table.derive_from_libphonenumber()
        missing = {
            region: set(numbers) - cc.emergency_numbers(region)
            for region, numbers in derived.items()
            if set(numbers) - cc.emergency_numbers(region)
        }
        assert not missing

    def test_additions_are_not_already_there(self) -> None:
        """Each addition is really missing from libphonenumber's metadata, so it earns its line."""
        from phonenumbers.shortnumberinfo import is_emergency_number

        for region, numbers in emergency_table.ADDITIONS.items():
            for number in numbers:
                assert not is_emergency_number(number, region), (region, number)


# Run in a fresh interpreter so that the test process's own phonenumbers does not leak in.
_HIDDEN = textwrap.dedent(
    """
    import sys
    sys.modules["phonenumbers"] = None  # as if the package were not installed
    import callcodes as cc
    plan = cc.DialPlan("US", outside_prefix="9", extensions=["1000-1999"])
    assert plan.classify("9911").call_type is cc.CallType.EMERGENCY
    assert plan.call("acme", "alice", "911").call_type is cc.CallType.EMERGENCY
    try:
        plan.classify("912125550123")
    except cc.MissingDependencyError as exc:
        assert isinstance(exc, ImportError) and isinstance(exc, cc.CallcodesError)
        print(exc)
    else:
        raise SystemExit("no error without phonenumbers")
    """
)


@pytest.mark.slow
class TestWithoutPhonenumbers:
    """Without the phone extra emergency numbers still classify; the rest says what to install."""

    def test_import_does_not_load_phonenumbers(self) -> None:
        """import callcodes leaves phonenumbers unimported."""
        probe = "import sys, callcodes; print('phonenumbers' in sys.modules)"
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
        )
        assert done.stdout.strip() == "False"

    def test_clear_install_error_and_emergency_still_works(self) -> None:
        """Without phonenumbers, emergency numbers still classify and others say what to install."""
        done = subprocess.run(
            [sys.executable, "-c", _HIDDEN],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "pip install 'callcodes[phone]'" in done.stdout


def _store(path: Path) -> PolicyStore:
    return PolicyStore(path, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))


class TestStored:
    """Plans in the policy store: set, read back, removed, exported, imported and upgraded."""

    def test_set_read_and_reopen(self, tmp_path: Path) -> None:
        """A plan set on a group is read back, also by a store opened later on the same file."""
        path = tmp_path / "policy.db"
        with _store(path) as store:
            store.set_group("acme", cc.GroupSettings(), actor="admin")
            before = store.version
            store.set_dialplan("acme", PLANS["US"], actor="admin")
            assert store.version > before
        with _store(path) as store:
            assert store.dialplan("acme") == PLANS["US"]
            assert store.dialplans() == {"acme": PLANS["US"]}
            change = store.audit()[-1]
            assert change.action is Action.DIALPLAN_UPDATE
            changed = change.detail["changed"]
            assert changed["dialplan.region"] == {"from": None, "to": "US"}
            assert changed["dialplan.outside_prefix"] == {"from": None, "to": "9"}
            assert "dialplan.extra_emergency" not in changed  # empty before and after

    def test_remove_plan_and_group(self, tmp_path: Path) -> None:
        """None removes a plan; removing the group removes its plan too."""
        with _store(tmp_path / "policy.db") as store:
            store.set_group("acme", cc.GroupSettings(), actor="admin")
            store.set_dialplan("acme", PLANS["GB"], actor="admin")
            store.set_dialplan("acme", None, actor="admin")
            assert store.dialplan("acme") is None
            store.set_dialplan("acme", PLANS["GB"], actor="admin")
            store.remove_group("acme", actor="admin")
            store.set_group("acme", cc.GroupSettings(), actor="admin")
            assert store.dialplan("acme") is None
            assert store.dialplans() == {}

    def test_refused_changes_change_nothing(self, tmp_path: Path) -> None:
        """An unknown group or a value that is not a plan is refused, and nothing is written."""
        with _store(tmp_path / "policy.db") as store:
            store.set_group("acme", cc.GroupSettings(), actor="admin")
            before = store.version
            with pytest.raises(cc.UnknownGroupError):
                store.set_dialplan("globex", PLANS["US"], actor="admin")
            with pytest.raises(cc.InvalidValueError):
                store.set_dialplan("acme", PLANS["US"].to_dict(), actor="admin")  # type: ignore[arg-type]
            assert store.version == before
            assert store.dialplan("acme") is None

    def test_refresh_skips_plan_changes(self, tmp_path: Path) -> None:
        """A loaded book refreshes past a plan change and keeps its groups."""
        with _store(tmp_path / "policy.db") as store:
            store.set_group("acme", cc.GroupSettings(mode=cc.Mode.ACCOUNT), actor="admin")
            book = store.load()
            store.set_dialplan("acme", PLANS["DE"], actor="admin")
            assert store.refresh(book)
            assert book.group("acme").mode is cc.Mode.ACCOUNT

    @pytest.mark.parametrize("fmt", ["json", "toml"])
    def test_export_and_import_with_the_group(self, tmp_path: Path, fmt: str) -> None:
        """A group exported as JSON or TOML carries its plan, and importing it stores the plan."""
        plan = cc.DialPlan(
            "US",
            extensions=["1000-1999"],
            outside_prefix="9",
            overrides={"0$": "operator", "+1416": "national"},
        )
        with _store(tmp_path / "a.db") as store:
            store.set_group("acme", cc.GroupSettings(), actor="admin")
            store.add_codes("acme", ["1234"], actor="admin")
            store.set_dialplan("acme", plan, actor="admin")
            text = policyfile.dumps_group(policyfile.export_group(store, "acme"), fmt)  # type: ignore[arg-type]
        document = policyfile.loads_group(text.encode(), fmt)  # type: ignore[arg-type]
        assert document.dialplan == plan
        with _store(tmp_path / "b.db") as other:
            policyfile.import_group(other, document, actor="admin")
            assert other.dialplan("acme") == plan
            # A document without a plan leaves the stored plan alone.
            policyfile.import_group(other, attrs.evolve(document, dialplan=None), actor="admin")
            assert other.dialplan("acme") == plan

    def test_bad_plan_in_a_document_is_named(self) -> None:
        """A bad dial plan in a group document is refused with the key that is wrong."""
        data = {"group": "acme", "dialplan": {"region": "US", "outside_prefix": "x"}}
        with pytest.raises(cc.InvalidValueError) as caught:
            policyfile.GroupDocument.from_dict(data)
        assert caught.value.field == "dialplan.outside_prefix"

    def test_older_store_is_upgraded(self, tmp_path: Path) -> None:
        """A store written before dial plans existed gains its plan table when opened."""
        path = tmp_path / "policy.db"
        with _store(path) as store:
            store.set_group("acme", cc.GroupSettings(), actor="admin")
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("DROP TABLE policy_dialplans")
            conn.execute(
                "UPDATE callcodes_schema SET version = ? WHERE component = 'policy'",
                (DIALPLANS_ADDED - 1,),
            )
        conn.close()
        with _store(path) as store:
            assert store.schema_version == SCHEMA_VERSION
            store.set_dialplan("acme", PLANS["FR"], actor="admin")
            assert store.dialplan("acme") == PLANS["FR"]


def _cli(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.main, ["--db", str(db), "--actor", "admin", *args])


@pytest.fixture
def acme_db(tmp_path: Path) -> Path:
    """A store whose group acme is in AUTHORIZATION mode with alice mandatory and code 1234."""
    db = tmp_path / "policy.db"
    with _store(db) as store:
        store.set_group(
            "acme",
            cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"})),
            actor="admin",
        )
        store.add_codes("acme", ["1234"], actor="admin")
    return db


class TestCli:
    """The dialplan commands, and check going from dialed digits to a decision."""

    def test_set_show_and_change_one_field(self, acme_db: Path) -> None:
        """dialplan set creates a plan, later sets change only the options given."""
        done = _cli(
            acme_db,
            *("dialplan", "set", "acme", "--region", "US", "--outside-prefix", "9"),
            *("--extensions", "1000-1999, 200", "--local-prefixes", "212,646"),
            *("--override", "0$=operator", "--override", "411=directory_assistance"),
        )
        assert done.exit_code == 0, done.output
        assert "emergency numbers: 112, 611, 911, 933, 988" in done.output
        done = _cli(
            acme_db, "dialplan", "set", "acme", "--override", "411=", "--outside-prefix", "none"
        )
        assert done.exit_code == 0, done.output
        shown = _cli(acme_db, "dialplan", "show", "acme", "--json")
        assert cc.DialPlan.from_dict(json.loads(shown.output)) == cc.DialPlan(
            "US",
            extensions=["200", "1000-1999"],
            local_prefixes=["212", "646"],
            overrides={"0$": "operator"},
        )
        done = _cli(acme_db, "dialplan", "set", "acme", "--no-overrides", "--extensions", "none")
        plan = cc.DialPlan.from_dict(
            json.loads(_cli(acme_db, "dialplan", "show", "acme", "--json").output)
        )
        assert (plan.overrides, plan.extensions) == ({}, ())

    def test_new_plan_needs_a_region(self, acme_db: Path) -> None:
        """A group without a plan gets none from set without --region; the error says so."""
        done = _cli(acme_db, "dialplan", "set", "acme", "--extensions", "1000-1999")
        assert done.exit_code == 1
        assert "--region" in done.output
        assert "Traceback" not in done.output
        assert "no dial plan" in _cli(acme_db, "dialplan", "show", "acme").output

    def test_bad_values_are_refused(self, acme_db: Path) -> None:
        """Bad lists, overrides and regions are refused in one line, and nothing is stored."""
        for args in (
            ("--region", "XX"),
            ("--region", "US", "--extensions", "100,,200"),
            ("--region", "US", "--override", "1900"),
            ("--region", "US", "--override", "9=emergency"),
            ("--region", "US", "--outside-prefix", "9", "--extensions", "900-999"),
        ):
            done = _cli(acme_db, "dialplan", "set", "acme", *args)
            assert done.exit_code == 1, args
            assert done.output.startswith("Error:"), args
        assert _cli(acme_db, "dialplan", "show", "acme", "--json").output.strip() == "null"

    def test_remove(self, acme_db: Path) -> None:
        """dialplan remove deletes the plan."""
        assert _cli(acme_db, "dialplan", "set", "acme", "--region", "GB").exit_code == 0
        done = _cli(acme_db, "dialplan", "remove", "acme")
        assert (done.exit_code, done.output) == (0, "removed the dial plan of acme\n")
        assert "no dial plan" in _cli(acme_db, "dialplan", "show", "acme").output

    def test_unknown_group(self, acme_db: Path) -> None:
        """A plan for a group that does not exist is refused, naming the group."""
        done = _cli(acme_db, "dialplan", "set", "globex", "--region", "US")
        assert done.exit_code == 1
        assert "globex" in done.output

    def test_classify(self, acme_db: Path) -> None:
        """dialplan classify shows the type each dialed string gets."""
        _cli(acme_db, "dialplan", "set", "acme", "--region", "US", "--outside-prefix", "9")
        done = _cli(acme_db, "dialplan", "classify", "acme", "9911", "9011442079460958", "--json")
        found = json.loads(done.output)
        assert [row["call_type"] for row in found] == ["emergency", "international"]
        assert found[1]["destination"] == "+442079460958"

    def test_check_with_only_the_digits(self, acme_db: Path) -> None:
        """check without --type classifies with the group's plan, then decides."""
        _cli(acme_db, "dialplan", "set", "acme", "--region", "US", "--outside-prefix", "9")
        done = _cli(acme_db, "check", "acme", "alice", "9011442079460958", "--json")
        found = json.loads(done.output)
        assert (found["call_type"], found["verdict"], found["reason"]) == (
            "international",
            "block",
            "missing code",
        )
        done = _cli(acme_db, "check", "acme", "alice", "9011442079460958", "--code", "1234")
        assert "international" in done.output
        assert "allow" in done.output
        found = json.loads(_cli(acme_db, "check", "acme", "alice", "9911", "--json").output)
        assert (found["call_type"], found["verdict"]) == ("emergency", "allow")
        # --type still wins over the plan.
        found = json.loads(
            _cli(acme_db, "check", "acme", "alice", "9911", "--type", "local", "--json").output
        )
        assert found["reason"] == "missing code"
        assert "call_type" not in found

    def test_check_without_plan_or_type(self, acme_db: Path) -> None:
        """Without a plan, check needs --type and says so."""
        done = _cli(acme_db, "check", "acme", "alice", "9011442079460958")
        assert done.exit_code == 1
        assert "--type" in done.output

    def test_group_export_and_import_carry_the_plan(self, acme_db: Path, tmp_path: Path) -> None:
        """A group exported to a file and imported into another store brings its plan along."""
        _cli(acme_db, "dialplan", "set", "acme", "--region", "FR", "--outside-prefix", "0")
        exported = tmp_path / "acme.toml"
        assert _cli(acme_db, "group", "export", "acme", str(exported)).exit_code == 0
        other = tmp_path / "other.db"
        _cli(other, "group", "set", "acme")
        done = _cli(other, "group", "import", str(exported))
        assert done.exit_code == 0, done.output
        with _store(other) as store:
            assert store.dialplan("acme") == cc.DialPlan("FR", outside_prefix="0")

    @pytest.mark.slow
    def test_real_process(self, acme_db: Path) -> None:
        """python -m callcodes goes from dialed digits to a decision in a real process."""
        _cli(acme_db, "dialplan", "set", "acme", "--region", "GB", "--outside-prefix", "9")
        command = [sys.executable, "-m", "callcodes", "--db", str(acme_db), "check"]
        done = subprocess.run(
            [*command, "acme", "alice", "9 0800 123 4567", "--json"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        found = json.loads(done.stdout)
        assert (found["call_type"], found["destination"]) == ("toll_free", "+448001234567")
