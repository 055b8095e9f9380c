"""libphonenumber's metadata compiled into digit tables: phonenumbers' answers without its regexes.

One job: answer what ``phonenumbers.parse`` followed by ``is_valid_number_for_region``,
``is_valid_number``, ``region_code_for_number`` and ``number_type`` would answer for a string of
ASCII digits (optionally after ``+``), by walking tables compiled from the same metadata, or say
that it is not sure (:data:`UNSURE`), so that the caller asks ``phonenumbers`` itself.

Each region's ``PhoneMetadata`` (and each non-geographic calling code's) is compiled once per
process, on first use, under a lock: the national number patterns of the general description
and of every number type become one automaton (``_patterns``) whose states say which of them
match, the possible lengths a table by length, the international and national prefixes a
``startswith`` when they are plain digits (their own expression otherwise), and the regions of a
shared calling code a dict of their leading digits. A region with a pattern outside the subset
``_patterns`` reads is not compiled, and every question about it is :data:`UNSURE`.

The steps copy ``phonenumbers.phonenumberutil`` (``parse``, ``_maybe_extract_country_code``,
``_maybe_strip_national_prefix_carrier_code``, ``_test_number_length``, ``_number_type_helper``,
``_region_code_for_number_from_list``) for digits only; the tests hold every answer equal to
``phonenumbers``' on every region's example numbers and on random digit strings.
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ._patterns import DIGITS, JUMP, UnsupportedError, automaton, expand, first_digits, parse

if TYPE_CHECKING:
    from phonenumbers import PhoneMetadata, PhoneNumberDesc

__all__ = [
    "UNSURE",
    "Reading",
    "Table",
    "Unsure",
    "compile_every_region",
    "kind_only",
    "read_number",
    "region_and_kind",
    "table_for",
]


class Unsure(enum.Enum):
    """The answer when the tables cannot tell: ask ``phonenumbers``."""

    UNSURE = "unsure"


UNSURE: Final = Unsure.UNSURE


# --- a prefix pattern: the international (IDD) or national prefix ---------------------------------


class _Prefix:
    """``re.match`` of a prefix pattern, by ``startswith`` when it is a list of literal strings.

    ``firsts`` holds the digits a match may start with (every digit when that is not known or
    the empty match is possible): a number starting otherwise is turned away at once.
    """

    __slots__ = ("firsts", "literal", "literals", "pattern")

    def __init__(self, pattern: str) -> None:
        parts = pattern.split("|")
        self.literals: tuple[str, ...] | None = None
        self.literal: str | None = None  # the one literal string, the most common case
        self.pattern: re.Pattern[str] | None = None
        self.firsts = frozenset(DIGITS)
        if all(part and DIGITS.issuperset(part) for part in parts):
            self.literals = tuple(parts)
            self.literal = parts[0] if len(parts) == 1 else None
            self.firsts = frozenset(part[0] for part in parts)
            return
        self.pattern = re.compile(pattern)
        self.firsts = first_digits(pattern) or self.firsts

    def match(self, number: str) -> re.Match[str] | int | None:
        """The end of the match (literals) or the match itself, ``None`` when none."""
        if self.literal is not None:
            return len(self.literal) if number.startswith(self.literal) else None
        if self.literals is not None:
            for literal in self.literals:  # re tries the alternatives in their order
                if number.startswith(literal):
                    return len(literal)
            return None
        assert self.pattern is not None
        return self.pattern.match(number)


# --- one region's table -------------------------------------------------------------------------

# The descriptions _number_type_helper reads, in its order; bit i is _DESCS[i].
_DESCS: Final = (
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
_GENERAL: Final = 1
_FIXED: Final = 1 << _DESCS.index("fixed_line")
_MOBILE: Final = 1 << _DESCS.index("mobile")
# Type names in _number_type_helper's order, for the descriptions between general and fixed line.
_SPECIAL: Final = (
    (1 << 1, "PREMIUM_RATE"),
    (1 << 2, "TOLL_FREE"),
    (1 << 3, "SHARED_COST"),
    (1 << 4, "VOIP"),
    (1 << 5, "PERSONAL_NUMBER"),
    (1 << 6, "PAGER"),
    (1 << 7, "UAN"),
    (1 << 8, "VOICEMAIL"),
)
_UNKNOWN: Final = "UNKNOWN"
_MIN_NSN: Final = 2  # phonenumbers' _MIN_LENGTH_FOR_NSN
_MAX_NSN: Final = 17  # _MAX_LENGTH_FOR_NSN
_MAX_CC: Final = 3  # _MAX_LENGTH_COUNTRY_CODE
_LENGTHS: Final = 80  # longest string a table judges (dialed text is at most 64 characters)
_NONGEO: Final = "001"


# phonenumbers' ValidationResult, as _test_number_length answers it.
_POSSIBLE, _LOCAL_ONLY, _TOO_SHORT, _INVALID, _TOO_LONG = range(5)

_KEEP_PREFIX: Final = frozenset({_TOO_SHORT, _LOCAL_ONLY, _INVALID})

#: A valid number as phonenumbers describes it: E.164 form, whether it is valid for the plan's
#: region (``is_valid_number_for_region``), ``region_code_for_number`` (``"001"`` for a
#: non-geographic code, ``None`` when no region claims it), and the name of ``number_type`` in
#: ``PhoneNumberType``.
Reading = tuple[str, bool, str | None, str]
_Parsed = tuple[int, str, "Table"]


class Table:
    """One region's (or non-geographic calling code's) metadata, compiled.

    ``sole``: the region is the only one of its calling code; ``first``: it is the first of
    several and has no leading digits; either way (``claims``) a number valid for it is its
    number, as ``region_code_for_number`` reads the list of regions in order.
    """

    __slots__ = (
        "automaton",
        "claims",
        "country",
        "country_text",
        "first",
        "idd",
        "idd_firsts",
        "kinds",
        "lengths",
        "national_prefix",
        "plus_code",
        "prefix_firsts",
        "region",
        "sole",
        "transform",
        "type_bits",
    )

    def __init__(self, region: str, metadata: PhoneMetadata) -> None:
        if metadata.country_code is None:
            raise UnsupportedError("no calling code")
        self.region = region
        self.country: int = metadata.country_code
        self.country_text = str(self.country)
        self.plus_code = f"+{self.country}"
        idd = metadata.international_prefix
        self.idd = _Prefix(idd) if idd else None
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = _Prefix(prefix) if prefix else None
        # The digits either prefix can start with (none when there is none), read in one test.
        self.idd_firsts = frozenset[str]() if self.idd is None else self.idd.firsts
        none = frozenset[str]()
        self.prefix_firsts = none if self.national_prefix is None else self.national_prefix.firsts
        self.transform: str | None = metadata.national_prefix_transform_rule or None
        general = metadata.general_desc
        if general is None or not general.possible_length:
            raise UnsupportedError("no general description")
        self.lengths = tuple(
            _test_length(length, general.possible_length, general.possible_length_local_only)
            for length in range(_LENGTHS)
        )
        descs: list[PhoneNumberDesc | None] = [getattr(metadata, name) for name in _DESCS]
        self.automaton = automaton(
            (desc.national_number_pattern, 1 << index)
            for index, desc in enumerate(descs)
            if desc is not None and desc.national_number_pattern
        )
        # The descriptions whose possible lengths allow each length (no list: any length).
        self.type_bits = tuple(
            sum(
                1 << index
                for index, desc in enumerate(descs)
                if desc is not None and (not desc.possible_length or n in desc.possible_length)
            )
            for n in range(_LENGTHS)
        )
        same = bool(metadata.same_mobile_and_fixed_line_pattern)
        found = {bits & allowed for bits in self.automaton.accept for allowed in self.type_bits}
        found |= {
            bits & allowed
            for tail in self.automaton.tails
            if tail
            for bits in tail.values()
            for allowed in self.type_bits
        }
        self.kinds = {bits: _kind(bits, same) for bits in found}
        regions = _load_regions().get(self.country, ())
        self.sole = regions == (region,)
        self.first = len(regions) > 1 and regions[0] == region and metadata.leading_digits is None
        self.claims = self.sole or self.first  # a number valid here is this region's

    def kind(self, national: str) -> str:
        """``_number_type_helper``: the type's name in ``PhoneNumberType`` (``"UNKNOWN"``)."""
        allowed = self.type_bits[len(national)]
        if not allowed & _GENERAL:  # a length the region never has: no need to walk
            return _UNKNOWN
        return self.kinds[self.automaton.match(national) & allowed]

    def general(self, number: str) -> bool:
        """``_match_national_number`` on the general description (the pattern, no lengths)."""
        return bool(self.automaton.match(number) & _GENERAL)

    def strip_national_prefix(self, number: str) -> str | Unsure:
        """``_maybe_strip_national_prefix_carrier_code``, the number it leaves."""
        prefix = self.national_prefix
        if not number or prefix is None:
            return number
        found = prefix.match(number)
        if found is None:
            return number
        if isinstance(found, int):
            if self.transform:
                return UNSURE  # phonenumbers fails on a rule without a group to rewrite
            stripped = number[found:]
        else:
            groups = found.groups()
            if self.transform and (not groups or groups[-1] is not None):
                if not groups:
                    return UNSURE
                # The rule rewrites the number (a Caribbean number dialed with 7 digits gets
                # its area code), with the substitution phonenumbers makes.
                stripped = found.re.sub(self.transform, number, count=1)
                if not DIGITS.issuperset(stripped):
                    return UNSURE
            else:
                stripped = number[found.end() :]
        if self.general(stripped) or not self.general(number):
            return stripped
        return number  # the number was viable and would not be once stripped

    def parse(self, text: str) -> _Parsed | Unsure | None:
        """``parse(text, region)`` for this table's region.

        The calling code, the national significant number and the table of the metadata
        phonenumbers reads it with; ``None`` when phonenumbers would raise. *text* is ASCII
        digits, optionally after ``+``.
        """
        if len(text) < _MIN_NSN or len(text) >= _LENGTHS:
            return None if len(text) < _MIN_NSN else UNSURE
        if text[0] != "+":
            return self._without_plus(text, False)
        if len(text) < 4:  # fewer than three digits after "+" is not viable
            return None
        found = self._after_code(text[1:])
        if found is not None:
            return found
        # phonenumbers tries once more without the "+", and refuses a number that then has no
        # calling code either.
        return self._without_plus(text[1:], True)

    def _without_plus(self, text: str, again: bool) -> _Parsed | Unsure | None:
        """``_maybe_extract_country_code`` after an IDD, else by this region's calling code."""
        if text[0] in self.idd_firsts:
            idd = self.idd
            assert idd is not None
            literal = idd.literal
            if literal is not None:
                end = len(literal) if text.startswith(literal) else -1
            else:
                found = idd.match(text)
                end = -1 if found is None else found if isinstance(found, int) else found.end()
            # A calling code never starts with 0: then the prefix is not an IDD.
            if end >= 0 and text[end : end + 1] != "0":
                after = text[end:]
                if len(after) <= _MIN_NSN:
                    return None
                return self._after_code(after)
        if text.startswith(self.country_text):
            potential = text[len(self.country_text) :]
            if potential[:1] in self.prefix_firsts:
                stripped = self.strip_national_prefix(potential)
                if not isinstance(stripped, str):
                    return UNSURE
                potential = stripped
            if self.lengths[len(text)] == _TOO_LONG or (
                not self.general(text) and self.general(potential)
            ):
                main = _mains.get(self.country) or _main_table(self.country)
                return _national(self.country, potential, main)
        if again:
            return None
        return _national(self.country, text, self)

    def _after_code(self, number: str) -> _Parsed | Unsure | None:
        """After "+" or an IDD: ``_extract_country_code``, then the rest of ``parse``.

        *number* has at least three digits, all that ``_extract_country_code`` reads.
        """
        assert _codes is not None  # loaded before the first table was compiled
        found = _codes.get(number[:_MAX_CC])
        if found is None:
            return None
        country, length = found
        main = _mains.get(country) or _main_table(country)
        return _national(country, number[length:], main)


def _national(country: int, national: str, table: Table | Unsure | None) -> _Parsed | Unsure | None:
    """The end of ``parse``: the national prefix stripped with the metadata of *table*."""
    if not isinstance(table, Table):
        return UNSURE
    if len(national) < _MIN_NSN:
        return None
    if national[0] in table.prefix_firsts:
        potential = table.strip_national_prefix(national)
        if not isinstance(potential, str):
            return UNSURE
        if table.lengths[len(potential)] not in _KEEP_PREFIX:
            national = potential
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    return country, national, table


def _test_length(length: int, possible: Sequence[int], local: Sequence[int]) -> int:
    """``_test_number_length`` for the general description, by the number's length."""
    if length in local:
        return _LOCAL_ONLY
    if possible[0] == length:
        return _POSSIBLE
    if possible[0] > length:
        return _TOO_SHORT
    if possible[-1] < length:
        return _TOO_LONG
    return _POSSIBLE if length in possible[1:] else _INVALID


def _kind(bits: int, same: bool) -> str:
    """``_number_type_helper`` given the descriptions a number matches, lengths included."""
    if not bits & _GENERAL:
        return _UNKNOWN
    for bit, name in _SPECIAL:
        if bits & bit:
            return name
    if bits & _FIXED:
        return "FIXED_LINE_OR_MOBILE" if same or bits & _MOBILE else "FIXED_LINE"
    if not same and bits & _MOBILE:
        return "MOBILE"
    return _UNKNOWN


# --- the tables of the process -------------------------------------------------------------------

_lock = threading.Lock()
# Region code (or "001+<calling code>") -> its table; None when it has no metadata, UNSURE when
# its patterns are outside the subset.
_tables: dict[str, Table | Unsure | None] = {}
# Calling code -> the table of its main region, as parse reads a number with that code.
_mains: dict[int, Table | Unsure | None] = {}
_regions_of: dict[int, tuple[str, ...]] | None = None
# Three digits -> the calling code a number starting with them has, and its length (as
# _extract_country_code finds it: the shortest code that is known; none starts with 0).
_codes: dict[str, tuple[int, int]] | None = None


def _load_regions() -> dict[int, tuple[str, ...]]:
    global _regions_of, _codes  # noqa: PLW0603  # loaded once, on first use: phonenumbers is optional
    found = _regions_of
    if found is None:
        from phonenumbers import COUNTRY_CODE_TO_REGION_CODE  # noqa: PLC0415  # optional

        found = dict(COUNTRY_CODE_TO_REGION_CODE)
        codes: dict[str, tuple[int, int]] = {}
        for number in range(100, 1000):
            text = str(number)
            for length in range(1, _MAX_CC + 1):
                if int(text[:length]) in found:
                    codes[text] = (int(text[:length]), length)
                    break
        _codes = codes
        _regions_of = found
    return found


def table_for(region: str, country: int = 0) -> Table | Unsure | None:
    """The compiled table of *region* (``"001"`` with *country* for a non-geographic code).

    Compiled on first use and kept for the process; ``None`` when phonenumbers has no metadata,
    ``UNSURE`` when its patterns are outside what the tables compile.
    """
    key = f"{_NONGEO}+{country}" if region == _NONGEO else region
    found = _tables.get(key, UNSURE)
    if found is not UNSURE or key in _tables:
        return found
    from phonenumbers import PhoneMetadata  # noqa: PLC0415  # optional dependency

    with _lock:  # one thread compiles; the others wait and read its table
        if key in _tables:
            return _tables[key]
        metadata = (
            PhoneMetadata.metadata_for_nongeo_region(country, None)
            if region == _NONGEO
            else PhoneMetadata.metadata_for_region(region, None)
        )
        table: Table | Unsure | None = None
        if metadata is not None:
            try:
                table = Table(region, metadata)
            except UnsupportedError:
                table = UNSURE
        _tables[key] = table
        return table


def compile_every_region() -> None:
    """Compile now the table of every region and non-geographic calling code phonenumbers knows.

    For a process that forks after this: international numbers then find their tables built
    and shared, instead of each child compiling (and importing the metadata of) every country
    it meets. About a second and 10 MB for the 245 regions.
    """
    for country, regions in _load_regions().items():
        _main_table(country)
        for region in regions:
            table_for(region, country)


def _main_table(country: int) -> Table | Unsure | None:
    """The table of the main region of *country*, the metadata ``parse`` reads its numbers with."""
    if country in _mains:
        return _mains[country]
    regions = _load_regions().get(country)
    table = table_for(regions[0], country) if regions else None
    if isinstance(table, Table) and table.country != country:
        table = UNSURE  # metadata that disagrees with the list of calling codes
    _mains[country] = table
    return table


class _Code:
    """The regions of one calling code, as ``_region_code_for_number_from_list`` reads them.

    In their order: the strings each region's leading digits stand for, and the regions
    without leading digits, whose numbers are told apart by their patterns.
    """

    __slots__ = ("leading", "lengths", "plain", "regions")

    def __init__(self, regions: tuple[str, ...]) -> None:
        from phonenumbers import PhoneMetadata  # noqa: PLC0415  # optional dependency

        self.regions = regions
        self.leading: dict[str, int] = {}  # a leading string -> the first region that has it
        plain: list[tuple[int, str]] = []
        for index, region in enumerate(regions):
            metadata = PhoneMetadata.metadata_for_region(region, None)
            if metadata is None:
                continue  # phonenumbers skips it too
            if metadata.leading_digits is None:
                plain.append((index, region))
                continue
            for text in expand(parse(metadata.leading_digits)):
                self.leading.setdefault(text, index)
        self.plain = tuple(plain)
        self.lengths = tuple(sorted({len(text) for text in self.leading}))

    def region_and_kind(
        self, country: int, national: str, known: Table | None, kind: str
    ) -> tuple[str | None, str] | Unsure:
        """``region_code_for_number`` and ``number_type``, for a code of several regions."""
        leading = self.leading
        first: int | None = None
        for length in self.lengths:
            # re.match of leading digits finds a match when one of their strings starts it.
            index = leading.get(national[:length]) if length <= len(national) else None
            if index is not None and (first is None or index < first):
                first = index
        for index, region in self.plain:
            if first is not None and index > first:
                break
            table = table_for(region, country)
            if not isinstance(table, Table):
                return UNSURE
            found = kind if table is known else table.kind(national)
            if found != _UNKNOWN:
                return region, found
        if first is None:
            return None, _UNKNOWN
        region = self.regions[first]
        table = table_for(region, country)
        if not isinstance(table, Table):
            return UNSURE
        return region, kind if table is known else table.kind(national)


_code_info: dict[int, _Code | Unsure] = {}


def _code(country: int, regions: tuple[str, ...]) -> _Code | Unsure:
    found = _code_info.get(country)
    if found is None:
        with _lock:
            found = _code_info.get(country)
            if found is None:
                try:
                    found = _Code(regions)
                except UnsupportedError:
                    found = UNSURE
                _code_info[country] = found
    return found


def region_and_kind(country: int, national: str) -> tuple[str | None, str] | Unsure:
    """``region_code_for_number`` and the name of ``number_type``, for a parsed number."""
    return _region_and_kind(country, national, None, _UNKNOWN)


def _region_and_kind(
    country: int, national: str, known: Table | None, kind: str
) -> tuple[str | None, str] | Unsure:
    """``region_code_for_number`` and ``number_type``: the region, and the type it gives.

    *kind* is the type already read with the *known* table, reused when that table is read.
    """
    regions = _load_regions().get(country)
    if regions is None:
        return None, _UNKNOWN
    if len(regions) == 1:
        table = table_for(regions[0], country)
        if not isinstance(table, Table):
            # No metadata: number_type says UNKNOWN; patterns outside the subset: not sure.
            return UNSURE if table is UNSURE else (regions[0], _UNKNOWN)
        return regions[0], kind if table is known else table.kind(national)
    code = _code(country, regions)
    if not isinstance(code, _Code):
        return UNSURE
    return code.region_and_kind(country, national, known, kind)


def _valid_in(region: str | None, country: int, kind: str) -> bool:
    """``is_valid_number`` given ``region_code_for_number`` and the type read with its table."""
    if region is None or kind == _UNKNOWN:
        return False
    if region == _NONGEO:
        return True
    table = table_for(region)
    return isinstance(table, Table) and table.country == country


def read_number(home: Table, text: str) -> Reading | Unsure | None:
    """What the dial plan's phonenumbers path finds in *text*, dialed in *home*'s region.

    A :data:`Reading` when ``parse(text, region)`` gives a number valid for the region or valid
    at all; ``None`` when it raises or gives an invalid number; ``UNSURE`` when the tables
    cannot tell. *text* is ASCII digits, optionally after ``+``.
    """
    if _MIN_NSN <= len(text) < _LENGTHS and text[0] != "+":  # parse's common case, directly
        parsed = home._without_plus(text, False)
    else:
        parsed = home.parse(text)
    if not isinstance(parsed, tuple):
        return parsed
    country, national, table = parsed
    # _Automaton.match, inlined: this walk is most of the cost of reading a number.
    automaton = table.automaton
    tails = automaton.tails
    if len(national) >= JUMP:
        state = automaton.jump.get(national[:JUMP], 0)
        at = JUMP
    else:
        state = automaton.start
        at = 0
    tail = tails[state]
    while tail is None:
        if at == len(national):
            break
        state = automaton.steps[state][national[at]]  # type: ignore[index]  # tail is None
        at += 1
        tail = tails[state]
    bits = automaton.accept[state] if tail is None else tail.get(len(national) - at, 0)
    kind = table.kinds[bits & table.type_bits[len(national)]]
    if table is home:
        domestic = kind != _UNKNOWN
    else:
        domestic = country == home.country and home.kind(national) != _UNKNOWN
    if kind != _UNKNOWN and table.claims:
        # Valid, and of the region region_code_for_number finds first: the usual case.
        return table.plus_code + national, domestic, table.region, kind
    found = _region_and_kind(country, national, table, kind)
    if not isinstance(found, tuple):
        return UNSURE
    where, kind = found
    if not (domestic or _valid_in(where, country, kind)):
        return None
    return table.plus_code + national, domestic, where, kind


def kind_only(region: str, national: str, country: int = 0) -> str | Unsure:
    """``_number_type_helper(national, metadata of region)``, for tests and measurements."""
    table = table_for(region, country)
    if not isinstance(table, Table):
        return UNSURE
    return table.kind(national)
