"""libphonenumber's rules for plain dialed digits, compiled into tables: parse, validate, type.

``phonenumbers`` judges a number by running its metadata's regular expressions, looked up and
matched anew on every call (tens of microseconds a number). For the shape a SIP proxy sees
almost always (ASCII digits, maybe an international prefix), this module does the same work
from tables built once per region: every number pattern of a region (the general one and each
number type's) becomes one automaton over the digits, built as it is walked (each step once),
whose states say which patterns the digits so far complete. Parsing follows
``phonenumbers.parse`` step by step for such input (international prefix, country code,
national prefix, possible lengths); where a region's rule is a regular expression rather than
plain digits (a national prefix with carrier codes or a transform, say), the answer is
``None``: unsure, and the caller asks ``phonenumbers`` itself. The tests hold every answer
equal to ``phonenumbers``' for libphonenumber's example numbers of every region.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any, Final

__all__ = ["Tables", "region_of", "tables_for_country_code", "tables_for_region", "tables_of"]

#: The number types in the order ``phonenumbers`` tries them (``_number_type_helper``).
_SPECIAL: Final = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
_DESCS: Final = ("general_desc", *_SPECIAL, "fixed_line", "mobile")
_GENERAL: Final = 0
_FIXED: Final = len(_DESCS) - 2
_MOBILE: Final = len(_DESCS) - 1
_DIGITS: Final = frozenset("0123456789")
_MIN_NSN: Final = 2
_MAX_NSN: Final = 17
_MAX_COUNTRY_CODE: Final = 3


class _UnsupportedError(ValueError):
    """A pattern outside the subset libphonenumber's number patterns use."""


# -- patterns to automata ----------------------------------------------------------------------

# A pattern as a tree: an alternative is a list of sequences; a sequence a list of
# (atom, least, most) items; an atom a set of digits or a nested alternative.
_Atom = frozenset[str] | list[Any]


def _parse(pattern: str) -> list[list[tuple[_Atom, int, int]]]:
    r"""The tree of a pattern of digits, ``\d``, ``[...]``, ``(?:...)``, ``|``, ``?``, ``{n,m}``."""
    at = 0

    def alternative() -> list[list[tuple[_Atom, int, int]]]:
        nonlocal at
        choices = [sequence()]
        while at < len(pattern) and pattern[at] == "|":
            at += 1
            choices.append(sequence())
        return choices

    def sequence() -> list[tuple[_Atom, int, int]]:
        nonlocal at
        items: list[tuple[_Atom, int, int]] = []
        while at < len(pattern) and pattern[at] not in "|)":
            atom = single()
            least, most = 1, 1
            if at < len(pattern) and pattern[at] == "?":
                least, most, at = 0, 1, at + 1
            elif at < len(pattern) and pattern[at] == "{":
                end = pattern.index("}", at)
                low, _, high = pattern[at + 1 : end].partition(",")
                least, most = int(low), int(high or low)
                at = end + 1
            items.append((atom, least, most))
        return items

    def single() -> _Atom:
        nonlocal at
        char = pattern[at]
        if char in _DIGITS:
            at += 1
            return frozenset(char)
        if pattern.startswith("\\d", at):
            at += 2
            return _DIGITS
        if char == "[":
            end = pattern.index("]", at)
            body, found = pattern[at + 1 : end], set()
            for low, dash, high in re.findall(r"(\d)(-(\d))?", body):
                found |= {str(d) for d in range(int(low), int(high) + 1)} if dash else {low}
            if re.sub(r"\d-\d|\d", "", body):
                raise _UnsupportedError(pattern)
            at = end + 1
            return frozenset(found)
        if pattern.startswith("(?:", at):
            at += 3
            inner = alternative()
            if at >= len(pattern) or pattern[at] != ")":
                raise _UnsupportedError(pattern)
            at += 1
            return inner
        raise _UnsupportedError(pattern)

    tree = alternative()
    if at != len(pattern):
        raise _UnsupportedError(pattern)
    return tree


class _Nfa:
    """Several patterns as one nondeterministic automaton; its end states name their pattern."""

    def __init__(self, patterns: Sequence[str | None]) -> None:
        self.empty: list[list[int]] = []  # state -> states reached without a digit
        self.moves: list[list[tuple[frozenset[str], int]]] = []
        self.ends: dict[int, int] = {}  # end state -> the index of its pattern
        self.start = self._new()
        for index, pattern in enumerate(patterns):
            if pattern:
                begin = self._new()
                self.empty[self.start].append(begin)
                self.ends[self._alternative(_parse(pattern), begin)] = index

    def _new(self) -> int:
        self.empty.append([])
        self.moves.append([])
        return len(self.empty) - 1

    def _alternative(self, tree: list[list[tuple[_Atom, int, int]]], begin: int) -> int:
        end = self._new()
        for items in tree:
            self.empty[self._sequence(items, begin)].append(end)
        return end

    def _sequence(self, items: list[tuple[_Atom, int, int]], begin: int) -> int:
        at = begin
        for atom, least, most in items:
            for _ in range(least):
                at = self._atom(atom, at)
            skips = []
            for _ in range(most - least):
                skips.append(at)
                at = self._atom(atom, at)
            for skip in skips:
                self.empty[skip].append(at)
        return at

    def _atom(self, atom: _Atom, begin: int) -> int:
        if isinstance(atom, frozenset):
            end = self._new()
            self.moves[begin].append((atom, end))
            return end
        return self._alternative(atom, begin)

    def closure(self, states: set[int]) -> frozenset[int]:
        todo, seen = list(states), set(states)
        while todo:
            for following in self.empty[todo.pop()]:
                if following not in seen:
                    seen.add(following)
                    todo.append(following)
        return frozenset(seen)


class _State:
    """A state of the deterministic automaton: what the digits so far complete, and the next."""

    __slots__ = ("after", "complete", "members")

    def __init__(self, members: frozenset[int], complete: frozenset[int]) -> None:
        self.members = members
        self.complete = complete  # indexes of the patterns the digits so far match whole
        self.after: dict[str, _State] = {}


class _Automaton:
    """The deterministic automaton of an ``_Nfa``, built as digits walk it (each step once)."""

    def __init__(self, patterns: Sequence[str | None]) -> None:
        self._nfa = _Nfa(patterns)
        self._states: dict[frozenset[int], _State] = {}
        self._lock = threading.Lock()
        self.start = self._state(self._nfa.closure({self._nfa.start}))

    def _state(self, members: frozenset[int]) -> _State:
        found = self._states.get(members)
        if found is None:
            ends = self._nfa.ends
            found = _State(members, frozenset(ends[s] for s in members if s in ends))
            self._states[members] = found
        return found

    def _step(self, state: _State, digit: str) -> _State:
        with self._lock:
            moves = self._nfa.moves
            reached = {end for s in state.members for chars, end in moves[s] if digit in chars}
            following = self._state(self._nfa.closure(reached))
            state.after[digit] = following
            return following

    def matches(self, digits: str) -> frozenset[int]:
        """The indexes of the patterns that *digits* (ASCII digits) match whole."""
        state = self.start
        for digit in digits:
            following = state.after.get(digit)
            state = self._step(state, digit) if following is None else following
            if not state.members:
                return frozenset()
        return state.complete


# -- one region's tables -----------------------------------------------------------------------


class Tables:
    """One region's (or non-geographic country code's) metadata, compiled for plain digits."""

    def __init__(self, metadata: Any, unknown: int, types: Sequence[int]) -> None:
        self.region: str = metadata.id
        self.country_code: int = metadata.country_code
        self._own = str(self.country_code)
        descs = [getattr(metadata, name) for name in _DESCS]
        self._automaton = _Automaton(
            [None if d is None else d.national_number_pattern for d in descs]
        )
        self._lengths = [frozenset(d.possible_length) if d is not None else None for d in descs]
        general = metadata.general_desc
        if general is None or not general.possible_length:
            raise _UnsupportedError(self.region)
        self._possible = sorted(general.possible_length)
        self._local_only = frozenset(general.possible_length_local_only)
        self._same_mobile = bool(metadata.same_mobile_and_fixed_line_pattern)
        self.unknown = unknown
        self._types_of: dict[tuple[frozenset[int], int], int] = {}
        # The last number typed: a classification asks for the same number's type again.
        self._last: tuple[str, int] = ("", unknown)
        self._types = types  # the PhoneNumberType of each entry of _DESCS
        # Prefix rules are regular expressions; each is compiled once and matched at the start.
        idd = metadata.international_prefix
        self._idd = None if not idd else re.compile(idd)
        prefix = metadata.national_prefix_for_parsing
        self._national = None if not prefix else re.compile(prefix)
        self._transform: str | None = metadata.national_prefix_transform_rule or None
        leading = metadata.leading_digits
        self.leading = None if leading is None else re.compile(leading)
        # Whether region_of, for a number valid here, always answers this region: it is the
        # first of its country code's and has no leading digits to look at.
        regions = _regions().get(self.country_code, ())
        self.main_for_code = bool(regions) and regions[0] == self.region and leading is None

    def _matching(self, matched: frozenset[int], index: int, length: int) -> bool:
        lengths = self._lengths[index]
        return index in matched and lengths is not None and (not lengths or length in lengths)

    def number_type(self, nsn: str) -> int:
        """``phonenumbers``' ``_number_type_helper`` for this region's metadata.

        The type follows from the patterns matched and the length alone: it is worked out
        once per such pair. Runtime: O(len(nsn)) dictionary lookups.
        """
        last = self._last
        if last[0] == nsn:
            return last[1]
        key = (self._automaton.matches(nsn), len(nsn))
        found = self._types_of.get(key)
        if found is None:
            found = self._types_of[key] = self._type_of(*key)
        self._last = (nsn, found)
        return found

    def _type_of(self, matched: frozenset[int], size: int) -> int:
        if not self._matching(matched, _GENERAL, size):
            return self.unknown
        for index in range(1, _FIXED):
            if self._matching(matched, index, size):
                return self._types[index]
        fixed_or_mobile = self._types[0]  # FIXED_LINE_OR_MOBILE sits where general_desc does
        if self._matching(matched, _FIXED, size):
            if self._same_mobile or self._matching(matched, _MOBILE, size):
                return fixed_or_mobile
            return self._types[_FIXED]
        if not self._same_mobile and self._matching(matched, _MOBILE, size):
            return self._types[_MOBILE]
        return self.unknown

    def _general(self, digits: str) -> bool:
        """The general pattern matches whole (no length check, as ``_match_national_number``)."""
        return _GENERAL in self._automaton.matches(digits)

    def _length(self, digits: str) -> str:
        """``_test_number_length`` for the general description: possible, short, long, local..."""
        size = len(digits)
        if size in self._local_only:
            return "local"
        if self._possible[0] == size:
            return "possible"
        if self._possible[0] > size:
            return "short"
        if self._possible[-1] < size:
            return "long"
        return "possible" if size in self._possible[1:] else "invalid"

    def strip_national_prefix(self, digits: str) -> str | None:
        """``_maybe_strip_national_prefix_carrier_code``'s number (None: it would raise)."""
        pattern = self._national
        if not digits or pattern is None:
            return digits
        found = pattern.match(digits)
        if found is None:
            return digits
        viable = self._general(digits)
        groups = found.groups()
        rule = self._transform
        if rule is None or (groups and groups[-1] is None):
            if viable and not self._general(digits[found.end() :]):
                return digits
            return digits[found.end() :]
        if not groups:
            return None  # phonenumbers reads the last of no groups: an IndexError
        transformed = pattern.sub(rule, digits, count=1)
        if viable and not self._general(transformed):
            return digits
        return transformed

    def parse(self, digits: str) -> tuple[int, str] | None:
        """``phonenumbers.parse(digits, region)`` as (country code, national number).

        For ASCII *digits* dialed in this region; None when unsure or when ``phonenumbers``
        would refuse it.
        """
        if len(digits) < _MIN_NSN:
            return None
        code, national = 0, ""
        idd = None if self._idd is None else self._idd.match(digits)
        if idd is not None and digits[idd.end() : idd.end() + 1] != "0":
            rest = digits[idd.end() :]
            if len(rest) <= _MIN_NSN:
                return None
            code, national = _country_code(rest)
            if not code:
                return None
        else:
            own = self._own
            if digits.startswith(own):
                stripped = self.strip_national_prefix(digits[len(own) :])
                if stripped is None:
                    return None
                national = stripped
                if (not self._general(digits) and self._general(national)) or self._length(
                    digits
                ) == "long":
                    code = self.country_code
        if code:
            tables = tables_for_country_code(code)
            if tables is None:
                return None
        else:
            tables, code, national = self, self.country_code, digits
        if len(national) < _MIN_NSN:
            return None
        stripped = tables.strip_national_prefix(national)
        if stripped is None:
            return None
        if tables._length(stripped) not in ("short", "local", "invalid"):
            national = stripped
        if not _MIN_NSN <= len(national) <= _MAX_NSN:
            return None
        return code, national


def _regions() -> dict[int, tuple[str, ...]]:
    """The regions of each country calling code (phonenumbers'), the main one first."""
    global _REGIONS  # noqa: PLW0603  # read once, on first use: phonenumbers is optional
    if _REGIONS is None:
        from phonenumbers import COUNTRY_CODE_TO_REGION_CODE  # noqa: PLC0415

        _REGIONS = {code: tuple(found) for code, found in COUNTRY_CODE_TO_REGION_CODE.items()}
    return _REGIONS


_REGIONS: dict[int, tuple[str, ...]] | None = None


def _country_code(digits: str) -> tuple[int, str]:
    """``_extract_country_code``: the first 1 to 3 digits that are a country code, and the rest."""
    if not digits or digits[0] == "0":
        return 0, digits
    regions = _regions()
    for size in range(1, min(len(digits), _MAX_COUNTRY_CODE) + 1):
        code = int(digits[:size])
        if code in regions:
            return code, digits[size:]
    return 0, digits


# -- the tables of each region, compiled once --------------------------------------------------

_BUILT: dict[str, Tables | None] = {}
_BUILDING = threading.Lock()


def _build(key: str, metadata: Any) -> Tables | None:
    with _BUILDING:
        if key not in _BUILT:
            from phonenumbers import PhoneNumberType  # noqa: PLC0415

            names = ["FIXED_LINE_OR_MOBILE", *(n.upper() for n in _SPECIAL), "FIXED_LINE", "MOBILE"]
            types = [getattr(PhoneNumberType, name) for name in names]
            try:
                _BUILT[key] = (
                    None if metadata is None else Tables(metadata, PhoneNumberType.UNKNOWN, types)
                )
            except _UnsupportedError:
                _BUILT[key] = None  # phonenumbers itself answers for this region
        return _BUILT[key]


def tables_for_region(region: str) -> Tables | None:
    """The compiled tables of *region* (``"US"``); None when it has none or they cannot be made."""
    found = _BUILT.get(region, _BUILDING)
    if found is not _BUILDING:
        return found  # type: ignore[return-value]  # a Tables or None
    from phonenumbers import PhoneMetadata  # noqa: PLC0415

    return _build(region, PhoneMetadata.metadata_for_region(region, None))


def tables_for_country_code(code: int) -> Tables | None:
    """The tables of the main region of a country calling code (non-geographic ones too)."""
    regions = _regions().get(code)
    if not regions:
        return None
    if regions[0] != "001":
        return tables_for_region(regions[0])
    key = f"+{code}"
    found = _BUILT.get(key, _BUILDING)
    if found is not _BUILDING:
        return found  # type: ignore[return-value]
    from phonenumbers import PhoneMetadata  # noqa: PLC0415

    return _build(key, PhoneMetadata.metadata_for_nongeo_region(code, None))


def region_of(code: int, nsn: str) -> str | None:
    """``phonenumbers.region_code_for_number`` for a country code and national number."""
    regions = _regions().get(code)
    if regions is None:
        return None
    if len(regions) == 1:
        return regions[0]
    for region in regions:
        tables = tables_for_region(region)
        if tables is None:
            raise LookupError(region)  # unsure: the caller asks phonenumbers
        if tables.leading is not None:
            if tables.leading.match(nsn):
                return region
        elif tables.number_type(nsn) != tables.unknown:
            return region
    return None


def tables_of(code: int, region: str | None) -> Tables | None:
    """The tables ``phonenumbers`` uses for a number of *code* judged as *region*'s."""
    if region is None:
        return None
    if region == "001":
        return tables_for_country_code(code)
    tables = tables_for_region(region)
    if tables is None:
        raise LookupError(region)
    return tables if tables.country_code == code else None
