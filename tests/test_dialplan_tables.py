"""Compiled number tables: the answers of phonenumbers itself, and really taken for valid numbers.

Every check compares with ``phonenumbers`` (the dial plan's reference path, or its functions),
never with a value written here: libphonenumber's example numbers of every type of every region,
random digit strings, and dialed strings built from the examples with random changes. The tables
must also answer by themselves: a valid number that falls back to phonenumbers fails the tests.
"""

from __future__ import annotations

import itertools
import re
import threading

import attrs
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import (
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberDesc,
    PhoneNumberFormat,
    PhoneNumberType,
    phonenumberutil,
)

import callcodes as cc
from callcodes.dialplan import _numbertables as tables
from callcodes.dialplan import _patterns as patterns
from callcodes.dialplan.plan import _Path
from strategies import dial_plans

NAMES = {
    getattr(PhoneNumberType, name): name
    for name in dir(PhoneNumberType)
    if name.isupper() and isinstance(getattr(PhoneNumberType, name), int)
}
TYPES = sorted(kind for kind in NAMES if NAMES[kind] != "UNKNOWN")
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
NONGEO = sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
# The descriptions phonenumbers' _number_type_helper reads, in its order.
DESCS = (
    "general_desc",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _examples() -> dict[str, list[PhoneNumber]]:
    """Every example number of every type, by region ("001+<code>" for non-geographic codes)."""
    found: dict[str, list[PhoneNumber]] = {}
    for region in REGIONS:
        numbers = (phonenumbers.example_number_for_type(region, kind) for kind in TYPES)
        found[region] = [number for number in numbers if number is not None]
    for code in NONGEO:
        metadata = PhoneMetadata.metadata_for_nongeo_region(code)
        assert metadata is not None
        texts = {
            desc.example_number
            for name in DESCS[1:]
            if (desc := getattr(metadata, name)) is not None and desc.example_number
        }
        found[f"001+{code}"] = [phonenumbers.parse(f"+{code}{text}") for text in sorted(texts)]
    return found


EXAMPLES = _examples()
ALL_EXAMPLES = [number for numbers in EXAMPLES.values() for number in numbers]


def _plan(region: str, **fields: object) -> cc.DialPlan:
    """A plan for *region*; the five regions without emergency numbers get one."""
    extra = [] if cc.emergency_numbers(region) else ["5555"]
    return cc.DialPlan(region, extra_emergency=extra, **fields)


def _idd(region: str) -> str:
    """How a caller in *region* dials abroad: its IDD when it is plain digits, else "00"."""
    metadata = PhoneMetadata.metadata_for_region(region)
    for prefix in (metadata.preferred_international_prefix, metadata.international_prefix):
        if prefix and re.fullmatch("[0-9]+", prefix):
            return prefix
    return "00"


def _digits(text: str) -> str:
    return "".join(char for char in text if char in "+0123456789")


def _nsn(number: PhoneNumber) -> str:
    return phonenumbers.national_significant_number(number)


def _number(country: int, national: str) -> PhoneNumber:
    """The PhoneNumber whose calling code and national significant number are these."""
    zeros = min(len(national) - len(national.lstrip("0")), len(national) - 1)
    return PhoneNumber(
        country_code=country,
        national_number=int(national),
        italian_leading_zero=zeros > 0 or None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )


def _both_paths(plan: cc.DialPlan, dialed: str) -> tuple[cc.Classification, object]:
    """The reference answer, after checking classify_uncached and the tables agree with it."""
    reference = plan._classify(dialed, _Path.REFERENCE)
    assert plan.classify_uncached(dialed) == reference, dialed
    fast = plan._classify(dialed, _Path.TABLES)
    assert fast is None or fast == reference, dialed
    assert reference is not None
    return reference, fast


# --- (a) libphonenumber's example numbers, every region ------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_example_numbers_classify_the_same_and_by_the_tables(region: str) -> None:
    """Examples dialed nationally, after the IDD and with "+", with and without the outside
    prefix: the tables give the reference answer, and give it by themselves."""
    idd = _idd(region)
    dialings: list[str] = []
    plus: list[str] = []
    for number in EXAMPLES[region]:
        national = _digits(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
        dialings += [national, _nsn(number), f"{idd}{number.country_code}{_nsn(number)}"]
        plus.append(f"+{number.country_code}{_nsn(number)}")
    # Numbers of other regions and of non-geographic codes, dialed from here.
    keys = sorted(EXAMPLES)
    at = keys.index(region)
    for other in (keys[(at + step * 37) % len(keys)] for step in range(1, 5)):
        for number in EXAMPLES[other]:
            dialings.append(f"{idd}{number.country_code}{_nsn(number)}")
            plus.append(f"+{number.country_code}{_nsn(number)}")
    plain, outside = _plan(region), _plan(region, outside_prefix="9")
    cases = [(plan, text) for text in dialings + plus for plan in (plain, outside)]
    cases += [(outside, f"9{text}") for text in dialings]
    for plan, text in cases:
        reference, fast = _both_paths(plan, text)
        if reference.destination is not None:
            # A valid number (no override, local prefix or own number in these plans): the
            # tables must have read it, not handed it on.
            assert fast is not None, (region, text, reference)
    for text in plus:
        # An example number in E.164 is valid by definition: read by the tables everywhere.
        assert plain._classify(text, _Path.TABLES) is not None, text
        assert outside._classify(text, _Path.TABLES) is not None, text


@pytest.mark.parametrize("home", ["US", "GB", "DE", "IN", "AU", "BR", "JP"])
def test_every_region_dialed_abroad(home: str) -> None:
    """Every example of every region and code, dialed from a few countries: the same answer,
    from the tables."""
    plan = _plan(home, outside_prefix="9")
    idd = _idd(home)
    for number in ALL_EXAMPLES:
        nsn = _nsn(number)
        for dialed in (f"9{idd}{number.country_code}{nsn}", f"{idd}{number.country_code}{nsn}"):
            reference, fast = _both_paths(plan, dialed)
            assert (fast is None) == (reference.destination is None), (dialed, reference)


def test_every_region_compiles() -> None:
    """No region falls back for want of a pattern the tables understand."""
    for key in sorted(EXAMPLES):
        region, _, code = key.partition("+")
        table = tables.table_for(region, int(code or 0))
        assert isinstance(table, tables.Table), key


# --- (b) the compiled number types, against phonenumbers' functions ------------------------------

_KEYS = sorted(EXAMPLES)


def _country(key: str) -> int:
    region, _, code = key.partition("+")
    return int(code) if code else PhoneMetadata.metadata_for_region(region).country_code


def _metadata(key: str) -> PhoneMetadata:
    region, _, code = key.partition("+")
    if code:
        return PhoneMetadata.metadata_for_nongeo_region(int(code))
    return PhoneMetadata.metadata_for_region(region)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """*text* with up to three digits changed, inserted or deleted."""
    chars = list(text)
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(("change", "insert", "delete")))
        if edit == "insert":
            chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from("0123456789")))
        elif chars:
            at = draw(st.integers(0, len(chars) - 1))
            if edit == "change":
                chars[at] = draw(st.sampled_from("0123456789"))
            else:
                del chars[at]
    return "".join(chars)


national_numbers = st.text(alphabet="0123456789", min_size=2, max_size=17) | st.sampled_from(
    ALL_EXAMPLES
).flatmap(lambda number: mutated(_nsn(number))).filter(lambda text: 2 <= len(text) <= 17)


@settings(max_examples=400)
@given(key=st.sampled_from(_KEYS), national=national_numbers)
def test_compiled_types_equal_phonenumbers(key: str, national: str) -> None:
    """For a region and digits: the type, the region phonenumbers names and its type."""
    country = _country(key)
    region = key.partition("+")[0]
    # The private helper is what number_type, is_valid_number and its region search all call.
    expected = NAMES[phonenumberutil._number_type_helper(national, _metadata(key))]
    assert tables.kind_only(region, national, country) == expected
    number = _number(country, national)
    assert _nsn(number) == national
    assert tables.region_and_kind(country, national) == (
        phonenumbers.region_code_for_number(number),
        NAMES[phonenumbers.number_type(number)],
    )


def test_type_precedence_is_phonenumbers() -> None:
    """Numbers matching several descriptions at once get phonenumbers' type, for every mix
    (a fixed-line and a mobile pattern that are equal make phonenumbers' "same pattern" case)."""
    for chosen in itertools.product((False, True), repeat=len(DESCS) - 1):
        descs = {
            name: PhoneNumberDesc(
                national_number_pattern="[1-9]\\d{3}" if wanted else "0\\d{3}",
                possible_length=(4,),
            )
            for name, wanted in zip(DESCS[1:], chosen, strict=True)
        }
        metadata = PhoneMetadata(
            id="XY",
            country_code=999,
            general_desc=PhoneNumberDesc(national_number_pattern="\\d{4}", possible_length=(4,)),
            register=False,
            **descs,
        )
        table = tables.Table("XY", metadata)
        for number in ("1234", "0123"):
            assert (
                table.kind(number) == NAMES[phonenumberutil._number_type_helper(number, metadata)]
            )


def _reference_reading(region: str, text: str) -> tuple[str, bool, str | None, str] | None:
    """What the dial plan's phonenumbers path finds in *text* (parse, then validity)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    domestic = phonenumbers.is_valid_number_for_region(number, region)
    if not (domestic or phonenumbers.is_valid_number(number)):
        return None
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        domestic,
        phonenumbers.region_code_for_number(number),
        NAMES[phonenumbers.number_type(number)],
    )


@st.composite
def dialed_in(draw: st.DrawFn, region: str) -> str:
    """An example number dialed from *region* in some form, then changed at random."""
    number = draw(st.sampled_from(ALL_EXAMPLES))
    code, nsn = str(number.country_code), _nsn(number)
    forms = {
        "national": _digits(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)),
        "nsn": nsn,
        "idd": f"{_idd(region)}{code}{nsn}",
        "code": f"{code}{nsn}",
        "plus": f"+{code}{nsn}",
        "random": draw(st.text(alphabet="0123456789", min_size=1, max_size=18)),
    }
    text = forms[draw(st.sampled_from(sorted(forms)))]
    plus, body = text.startswith("+"), text.lstrip("+")
    lead = draw(st.sampled_from(("", "", "0", "1", "00", "+")))
    if lead == "+":
        plus, lead = True, ""
    body = draw(mutated(lead + body))
    return ("+" if plus else "") + body


@settings(max_examples=400)
@given(data=st.data(), region=st.sampled_from(REGIONS))
def test_readings_equal_phonenumbers(data: st.DataObject, region: str) -> None:
    """parse, validity, region and type of dialed text, as phonenumbers finds them."""
    text = data.draw(dialed_in(region))
    if not text.lstrip("+"):
        return
    table = tables.table_for(region)
    assert isinstance(table, tables.Table)
    # Every region compiles and every digit string is understood: never "not sure" today.
    assert tables.read_number(table, text) == _reference_reading(region, text), text


# --- (c) whole plans: classify_uncached equals the reference path --------------------------------


def _forms(number: PhoneNumber, region: str) -> list[str]:
    """Ways to dial *number* from *region*: nationally, without trunk prefix, after the IDD."""
    code, nsn = number.country_code, _nsn(number)
    national = _digits(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
    return [national, nsn, f"{_idd(region)}{code}{nsn}", f"+{code}{nsn}"]


@st.composite
def plans_and_dialed(draw: st.DrawFn) -> tuple[cc.DialPlan, str]:
    """A plan with overrides, local areas and own numbers taken from example numbers, and digits
    dialed there: any example, the plan's own number or an override's digits, often changed."""
    plan = draw(dial_plans())
    region = plan.region
    mine = [n for n in EXAMPLES[region] if phonenumbers.is_valid_number_for_region(n, region)]
    texts = [draw(dialed_in(region))]
    if mine:
        number = draw(st.sampled_from(mine))
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        national = _nsn(number)
        area = national[: draw(st.integers(1, min(4, len(national))))]
        kind = draw(st.sampled_from(sorted(set(cc.CallType) - {cc.CallType.EMERGENCY})))
        plan = attrs.evolve(
            plan,
            public_numbers=draw(st.sampled_from([[], [e164], [f"{e164[:-2]}00-{e164[:-2]}99"]])),
            local_prefixes=[*plan.local_prefixes, *draw(st.sampled_from([[], [area]]))],
            overrides={
                **plan.overrides,
                **draw(st.sampled_from([{}, {e164[: draw(st.integers(3, len(e164)))]: kind}])),
            },
        )
        form = draw(st.sampled_from(_forms(number, region)))
        texts.append(form if draw(st.booleans()) else draw(mutated(form.lstrip("+"))))
    keys = [key.rstrip("$") for key in plan.overrides if not key.startswith("+")]
    if keys:
        key = draw(st.sampled_from(keys))
        texts.append(key + draw(st.sampled_from(["", "", draw(st.text("0123456789"))])))
    text = draw(st.sampled_from(texts))
    if plan.outside_prefix is not None and draw(st.booleans()):
        text = plan.outside_prefix + text
    return plan, text


@settings(max_examples=300)
@given(case=plans_and_dialed())
def test_classify_uncached_equals_the_reference(case: tuple[cc.DialPlan, str]) -> None:
    """Any plan, any dialed string: the same classification as the phonenumbers path."""
    plan, dialed = case
    _both_paths(plan, dialed)


@pytest.mark.parametrize(
    ("region", "dialed"),
    [
        ("US", "913125550123"),
        ("US", "13125550123"),
        ("US", "3125550123"),
        ("US", "9011442079460958"),
        ("US", "+442079460958"),
        ("US", "918765550123"),  # Jamaica: another region of +1
        ("US", "914165550123"),  # Canada
        ("CA", "14165550123"),
        ("GB", "902079460958"),
        ("GB", "0079460958"),
        ("DE", "0030123456"),
        ("FR", "00123456789"),
        ("IT", "0212345678"),  # the Italian leading zero
        ("AG", "4601234"),  # seven digits: the area code is added by the transform rule
        ("AR", "01143211234"),
        ("BR", "0211123456789"),
        ("US", "+0442079460958"),  # "+" then no calling code: read again without the "+"
        ("GB", "+0044 20 7946 0958"),
        ("US", "٩١٣١٢٥٥٥٠١٢٣"),  # digits of another script
        # A national prefix kept because the rest would be too short (phonenumbers' rule).
        ("JE", "0800123456"),
        ("PR", "13101234"),
        # The calling code read off a number too long without it.
        ("AX", "3580884012345"),
        ("JE", "4401234567890"),
        ("BS", "113123456789"),
    ],
)
def test_shapes_the_tables_answer(region: str, dialed: str) -> None:
    """Known shapes: the tables read them (when the reference finds a number) as phonenumbers."""
    plan = _plan(region, outside_prefix="9")
    reference, fast = _both_paths(plan, dialed)
    assert (fast is not None) == (reference.destination is not None), reference


def test_every_local_prefix_counts() -> None:
    """A number in the second local area is local too, whichever path reads it (both share
    the rules applied to a valid number, so this one is stated outright)."""
    plan = _plan("US", outside_prefix="9", local_prefixes=["212", "646"])
    for path in (_Path.TABLES, _Path.REFERENCE):
        found = plan._classify("916465550123", path)
        assert found == cc.Classification(cc.CallType.LOCAL, "+16465550123", "local area +1646")


def test_invalid_and_short_numbers_go_to_phonenumbers() -> None:
    """Short numbers, numbers without their area code and invalid ones: phonenumbers decides."""
    plan = _plan("US", outside_prefix="9", local_prefixes=["212"])
    for dialed in ("95550123", "9411", "91234", "9013312345678901"):
        reference, fast = _both_paths(plan, dialed)
        assert fast is None, reference
    assert plan.classify("95550123").call_type is cc.CallType.LOCAL


def test_a_region_the_tables_cannot_read_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A region whose table could not be compiled: every number goes to phonenumbers."""
    monkeypatch.setitem(tables._tables, "NZ", tables.UNSURE)
    plan = _plan("NZ")
    for number in EXAMPLES["NZ"]:
        for form in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL):
            reference, fast = _both_paths(plan, phonenumbers.format_number(number, form))
            assert fast is None
            assert reference.destination is not None


def test_first_use_from_many_threads_compiles_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads that all need a region first get one and the same table."""
    monkeypatch.delitem(tables._tables, "NO", raising=False)
    start = threading.Barrier(8)
    found: list[object] = []

    def first_use() -> None:
        start.wait()
        found.append(tables.table_for("NO"))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    assert isinstance(found[0], tables.Table)
    assert all(table is found[0] for table in found)


@pytest.mark.parametrize("every_region", [False, True])
def test_prepare_compiles_what_a_forking_process_shares(
    monkeypatch: pytest.MonkeyPatch, every_region: bool
) -> None:
    """prepare() builds the home region's table; with every_region, every region's."""
    monkeypatch.setattr(tables, "_tables", {})
    monkeypatch.setattr(tables, "_mains", {})
    cc.DialPlan(region="GB").prepare(every_region=every_region)
    assert isinstance(tables._tables.get("GB"), tables.Table)
    compiled = {key for key, table in tables._tables.items() if isinstance(table, tables.Table)}
    if every_region:
        assert compiled >= set(EXAMPLES)
    else:
        assert compiled == {"GB"}


@settings(max_examples=400)
@given(
    region=st.sampled_from(["US", "GB", "DE", "FR", "AU", "IN"]),
    dialed=st.text("0123456789*#+ -9", max_size=20) | st.sampled_from(["911", "9911", "112"]),
)
def test_is_emergency_is_what_classify_says(region: str, dialed: str) -> None:
    """The check a dial string after the code prefix gets equals classifying it whole."""
    plan = _plan(region, outside_prefix="9")
    expected = plan.classify_uncached(dialed).call_type is cc.CallType.EMERGENCY
    assert plan.is_emergency(dialed) is expected


# --- the pattern compiler ------------------------------------------------------------------------


def _patterns() -> st.SearchStrategy[str]:
    """Patterns of the subset libphonenumber uses."""
    atoms = st.one_of(
        st.sampled_from("0123456789"),
        st.just(r"\d"),
        st.tuples(st.integers(0, 9), st.integers(0, 9)).map(
            lambda ends: f"[{min(ends)}-{max(ends)}]"
        ),
        st.lists(st.sampled_from("0123456789"), min_size=1, max_size=3, unique=True).map(
            lambda chars: f"[{''.join(chars)}]"
        ),
    )

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.lists(inner, min_size=2, max_size=3).map("".join),
            st.lists(inner, min_size=2, max_size=3).map(lambda parts: f"(?:{'|'.join(parts)})"),
            inner.map(lambda part: f"(?:{part})?"),
            st.tuples(inner, st.integers(0, 3), st.integers(0, 3)).map(
                lambda t: f"(?:{t[0]}){{{min(t[1:])},{max(t[1:])}}}"
            ),
            st.tuples(inner, st.integers(1, 3)).map(lambda t: f"(?:{t[0]}){{{t[1]}}}"),
        )

    return st.recursive(atoms, grow, max_leaves=8)


@given(data=st.data(), pattern=_patterns())
def test_automaton_matches_like_re(data: st.DataObject, pattern: str) -> None:
    """A compiled pattern accepts exactly the digit strings re.fullmatch accepts."""
    compiled = patterns.automaton([(pattern, 1)])
    expression = re.compile(pattern, re.ASCII)
    texts = st.from_regex(expression, fullmatch=True) | st.text("0123456789", max_size=8)
    for _ in range(5):
        text = data.draw(texts)
        assert bool(compiled.match(text)) == bool(expression.fullmatch(text)), text


@pytest.mark.parametrize(
    "pattern", ["1*", "1+", "1{2,}", "1{,2}", "[^1]", "a", r"\D", "1??", "(?=1)", "1$", "[1-"]
)
def test_patterns_outside_the_subset_are_refused(pattern: str) -> None:
    """Anything but the subset is refused, so that its region falls back to phonenumbers."""
    with pytest.raises(patterns.UnsupportedError):
        patterns.automaton([(pattern, 1)])
