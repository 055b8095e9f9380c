"""The compiled number tables answer exactly as phonenumbers does, and answer the usual numbers.

Every classification is made twice: as the plan makes it (compiled tables first), and with the
tables switched off, through phonenumbers alone. They must be equal for libphonenumber's example
numbers of every region and number type, dialed nationally and internationally from plans of
every region, and for random digit strings (hypothesis). The number type of random digits
equals phonenumbers' own for every region. And the tables must actually be used: for the common
regions, every valid example number is classified without phonenumbers' parser.
"""

from __future__ import annotations

from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata, PhoneNumberType, phonenumberutil

import callcodes as cc
from callcodes.dialplan import _numbertables as tables
from callcodes.dialplan.plan import Classification, DialPlan

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)
#: Regions whose prefixes and patterns the tables read without phonenumbers, for every number.
COMMON = ("US", "CA", "GB", "DE", "FR", "IT", "ES", "NL", "IN", "AU", "JP", "BR", "MX", "ZA")
#: Plans of those regions, but Brazil: its international prefix names a carrier (0014...), so
#: the 00 these tests dial is not one there.
HOMES = tuple(region for region in COMMON if region != "BR")


def plan_of(region: str) -> DialPlan:
    """A plan of *region* with the outside prefix 9 (and 112 where no emergency number is known)."""
    try:
        return DialPlan(region=region, outside_prefix="9")
    except ValueError:
        return DialPlan(region=region, outside_prefix="9", extra_emergency=frozenset({"112"}))


def by_phonenumbers(plan: DialPlan, dialed: str) -> Classification:
    """The plan's classification with the compiled tables off: phonenumbers alone."""
    original = DialPlan._classify_compiled
    DialPlan._classify_compiled = lambda _self, _digits, _rest: None  # type: ignore[method-assign, assignment, return-value]
    try:
        return plan.classify_uncached(dialed)
    finally:
        DialPlan._classify_compiled = original  # type: ignore[method-assign]


def examples(region: str) -> Iterator[phonenumbers.PhoneNumber]:
    for kind in TYPES:
        found = phonenumbers.example_number_for_type(region, kind)
        if found is not None:
            yield found


def international_prefix(region: str) -> str:
    """A prefix that dials abroad from *region* (its preferred one when the rule is a pattern)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    prefix = metadata.international_prefix or ""
    if prefix.isdecimal():
        return prefix
    return metadata.preferred_international_prefix or "00"


def dial_strings(plan: DialPlan, number: phonenumbers.PhoneNumber) -> list[str]:
    nsn = phonenumbers.national_significant_number(number)
    metadata = PhoneMetadata.metadata_for_region(plan.region)
    trunk = metadata.national_prefix or ""
    idd = international_prefix(plan.region)
    forms = [nsn, trunk + nsn, f"{idd}{number.country_code}{nsn}", f"{number.country_code}{nsn}"]
    return [f"9{form}" for form in forms] + forms


@pytest.mark.parametrize("region", REGIONS)
def test_every_example_number_is_classified_alike_from_its_own_region(region: str) -> None:
    plan = plan_of(region)
    for number in examples(region):
        for dialed in dial_strings(plan, number):
            assert plan.classify_uncached(dialed) == by_phonenumbers(plan, dialed), dialed


@pytest.mark.parametrize("home", ["US", "GB", "DE", "IN", "AU", "BR", "JP"])
def test_every_region_dialed_abroad_is_classified_alike(home: str) -> None:
    plan = plan_of(home)
    idd = international_prefix(home)
    for region in REGIONS:
        for number in examples(region):
            nsn = phonenumbers.national_significant_number(number)
            for dialed in (f"9{idd}{number.country_code}{nsn}", f"{idd}{number.country_code}{nsn}"):
                assert plan.classify_uncached(dialed) == by_phonenumbers(plan, dialed), dialed


@pytest.mark.parametrize("home", HOMES)
def test_the_tables_answer_every_valid_example_without_phonenumbers(home: str) -> None:
    """Not a silent fallback: national and international examples come from the tables."""
    plan = plan_of(home)
    idd = international_prefix(home)
    answered = unanswered = 0
    for region in (home, *COMMON):
        for number in examples(region):
            if not phonenumbers.is_valid_number(number):
                continue
            nsn = phonenumbers.national_significant_number(number)
            dialed = f"9{idd}{number.country_code}{nsn}" if region != home else f"9{nsn}"
            if plan._classify_compiled(dialed, dialed[1:]) is None:
                unanswered += 1
            else:
                answered += 1
    assert unanswered == 0, f"{unanswered} of {answered + unanswered} left to phonenumbers"


DIGITS = st.text("0123456789", min_size=1, max_size=18)


@settings(max_examples=400, deadline=None)
@given(region=st.sampled_from(REGIONS), digits=DIGITS, outside=st.booleans())
def test_any_digits_are_classified_alike(region: str, digits: str, outside: bool) -> None:
    plan = plan_of(region)
    dialed = f"9{digits}" if outside else digits
    assert plan.classify_uncached(dialed) == by_phonenumbers(plan, dialed)


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    data=st.data(),
)
def test_near_example_numbers_are_classified_alike(region: str, data: st.DataObject) -> None:
    """Example numbers with a digit changed, added or dropped: valid, invalid, other types."""
    found = list(examples(region))
    if not found:
        return
    number = data.draw(st.sampled_from(found))
    nsn = phonenumbers.national_significant_number(number)
    at = data.draw(st.integers(0, len(nsn) - 1))
    edit = data.draw(st.sampled_from(["change", "add", "drop"]))
    digit = data.draw(st.sampled_from("0123456789"))
    changed = {
        "change": nsn[:at] + digit + nsn[at + 1 :],
        "add": nsn[:at] + digit + nsn[at:],
        "drop": nsn[:at] + nsn[at + 1 :],
    }[edit]
    home = data.draw(st.sampled_from(["US", "GB", region]))
    plan = plan_of(home)
    for dialed in (f"9{changed}", f"9{international_prefix(home)}{number.country_code}{changed}"):
        assert plan.classify_uncached(dialed) == by_phonenumbers(plan, dialed), dialed


@settings(max_examples=500, deadline=None)
@given(region=st.sampled_from(REGIONS), nsn=st.text("0123456789", min_size=2, max_size=17))
def test_number_types_equal_phonenumbers(region: str, nsn: str) -> None:
    compiled = tables.tables_for_region(region)
    assert compiled is not None, f"no tables for {region}"
    metadata = PhoneMetadata.metadata_for_region(region)
    # The private helper is what phonenumbers' number_type and is_valid_number both call.
    assert compiled.number_type(nsn) == phonenumberutil._number_type_helper(nsn, metadata)


def test_every_region_and_non_geographic_code_has_tables() -> None:
    assert [region for region in REGIONS if tables.tables_for_region(region) is None] == []
    non_geographic = phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    assert [c for c in non_geographic if tables.tables_for_country_code(c) is None] == []


@settings(max_examples=400, deadline=None)
@given(
    region=st.sampled_from(["US", "GB", "DE", "FR", "AU", "IN"]),
    dialed=st.text("0123456789*#+ -9", max_size=20) | st.sampled_from(["911", "9911", "112"]),
)
def test_is_emergency_is_what_classify_says(region: str, dialed: str) -> None:
    """The check a dial string after the code prefix gets equals classifying it whole."""
    plan = plan_of(region)
    expected = plan.classify_uncached(dialed).call_type is cc.CallType.EMERGENCY
    assert plan.is_emergency(dialed) is expected
