"""Dial plans: turn the digits a user dialed into a call type, for one group.

A :class:`DialPlan` says how a group dials: its country, its extensions and public numbers, the
outside-line prefix, extra emergency numbers, the area codes that count as local, and explicit
overrides. :meth:`DialPlan.classify` answers a :class:`Classification` (call type, E.164
destination, reason) for any text and never raises on it; :meth:`DialPlan.call` builds the
:class:`~callcodes.Call` that :func:`~callcodes.decide` takes.

Numbers are judged with ``phonenumbers`` (the optional extra ``callcodes[phone]``), imported on
the first classification that needs it: first with the tables ``_numbertables`` compiles from
its metadata, which answer as its functions would for a valid number in a fraction of the time,
then, whenever the tables are not sure or the digits make no valid number, with ``phonenumbers``
itself (the reference path). Emergency numbers come from the table in ``emergency`` and are
recognised before anything else, without ``phonenumbers``: an emergency call never depends on an
optional package, an override or a parse.
"""

from __future__ import annotations

import enum
import functools
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._errors import InvalidValueError, MissingDependencyError
from ..core.model import Call, CallType
from . import _numbertables
from ._fields import (
    DIALABLE,
    range_ends,
    to_extensions,
    to_extra_emergency,
    to_local_prefixes,
    to_outside_prefix,
    to_overrides,
    to_public_numbers,
    to_region,
)
from ._lookups import Prefixes, Ranges
from .emergency import emergency_numbers

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

__all__ = [
    "CLASSIFY_CACHE_LIMIT",
    "MAX_DIALED",
    "Classification",
    "DialPlan",
]

#: Distinct dialed strings remembered per plan; the cache is emptied when it is full, so a plan
#: holds at most this many classifications (about 1 MB).
CLASSIFY_CACHE_LIMIT: Final = 4096
#: Dialed text longer than this is never a number: it is UNKNOWN and is not cached.
MAX_DIALED: Final = 64

_SEPARATORS: Final = frozenset(" \t-.()/")


@attrs.frozen(weakref_slot=False)
class Classification:
    """What a dial plan makes of dialed digits.

    ``destination`` is the E.164 number (``"+442079460958"``) when the digits name a valid public
    number, else ``None`` (extensions, emergency and short numbers, anything unknown). ``reason``
    says in words which rule of the plan decided.
    """

    call_type: CallType
    destination: str | None
    reason: str


_CT = CallType


def _unknown(reason: str) -> Classification:
    return Classification(_CT.UNKNOWN, None, reason)


class _Path(enum.Enum):
    """How a number is judged: the tables, phonenumbers, or the tables then phonenumbers."""

    TABLES_THEN_REFERENCE = "tables, then phonenumbers when they are not sure"
    TABLES = "tables only: None when they are not sure"
    REFERENCE = "phonenumbers only"


_Unsure = _numbertables.Unsure
_Table = _numbertables.Table
_read_number = _numbertables.read_number
# Enum members bound once, for the code that runs on every classification: reading a member
# from its class costs several dict lookups.
_BOTH: Final = _Path.TABLES_THEN_REFERENCE
_TABLES: Final = _Path.TABLES
_REFERENCE: Final = _Path.REFERENCE
_UNSURE: Final = _numbertables.UNSURE
_INTERNAL: Final = CallType.INTERNAL
_INTERNATIONAL: Final = CallType.INTERNATIONAL
_TOLL_FREE: Final = CallType.TOLL_FREE
_PREMIUM: Final = CallType.PREMIUM
_LOCAL: Final = CallType.LOCAL
_NATIONAL: Final = CallType.NATIONAL


# --- the precomputed form of a plan ------------------------------------------------------------


class _Compiled:
    """A plan's lookup structures and cache; built once per plan, shared by every thread."""

    __slots__ = (
        "cache",
        "dialed_overrides",
        "e164_overrides",
        "emergency",
        "extensions",
        "local",
        "outside",
        "own",
        "tables",
    )

    def __init__(self, plan: DialPlan) -> None:
        self.emergency = plan.emergency_numbers
        self.outside = plan.outside_prefix
        self.extensions = Ranges(_ends(plan.extensions, plus=False))
        self.own = Ranges(
            (f"+{start}", f"+{end}") for start, end in _ends(plan.public_numbers, plus=True)
        )
        # None when there are none: the common case costs one test.
        self.dialed_overrides = (
            Prefixes({k: t for k, t in plan.overrides.items() if not k.startswith("+")}) or None
        )
        self.e164_overrides = (
            Prefixes({k: t for k, t in plan.overrides.items() if k.startswith("+")}) or None
        )
        self.local: tuple[str, ...] | None = None  # E.164 local prefixes, once phonenumbers loads
        self.cache: dict[str, Classification] = {}
        # The region's compiled number table, once phonenumbers loads (UNSURE: none).
        self.tables: _numbertables.Table | _Unsure | None = None


def _ends(items: Iterable[str], *, plus: bool) -> list[tuple[str, str]]:
    found = []
    for item in items:
        ends = range_ends(item, plus)
        assert ends is not None  # validated when the plan was built
        found.append(ends)
    return found


# --- the dial plan -----------------------------------------------------------------------------


@attrs.frozen(weakref_slot=False, hash=False)
class DialPlan:
    """How one group dials, and the classifier built from it.

    * ``region``: the ISO 3166 alpha-2 country of the group (``"US"``); national numbers are read
      as dialed there, and its emergency numbers are recognised.
    * ``extensions``: the group's extensions, exact (``"1234"``) or ranges of one length
      (``"2000-2999"``); dialed as they are, they are INTERNAL calls.
    * ``public_numbers``: the group's own numbers in E.164, exact or blocks
      (``"+12125551000-+12125551099"``); calling one of them is INTERNAL.
    * ``outside_prefix``: the digit(s) dialed for an outside line (``"9"``), or ``None``.
    * ``extra_emergency``: emergency or repair numbers added to the region's table (a site
      security desk, a carrier's test line); the table's own numbers cannot be removed.
    * ``local_prefixes``: area codes whose numbers are LOCAL calls, as dialed nationally
      (``"212"``, ``"020"``) or as an E.164 prefix (``"+1212"``). The first one also completes a
      number dialed without its area code.
    * ``overrides``: prefix -> call type, the last word on anything but emergency numbers.
      A key of digits, ``*`` and ``#`` matches the dialed digits (with or without the outside
      prefix); a key starting with ``+`` matches the E.164 number; a key ending in ``$`` matches
      the whole number only (``"0$"``: the operator, not every number starting with 0).

    Building a plan needs no optional package; classifying a non-emergency number needs
    ``phonenumbers`` (``pip install 'callcodes[phone]'``).
    """

    region: str = attrs.field(converter=to_region)
    extensions: tuple[str, ...] = attrs.field(default=(), converter=to_extensions)
    public_numbers: tuple[str, ...] = attrs.field(default=(), converter=to_public_numbers)
    outside_prefix: str | None = attrs.field(default=None, converter=to_outside_prefix)
    extra_emergency: frozenset[str] = attrs.field(default=frozenset(), converter=to_extra_emergency)
    local_prefixes: tuple[str, ...] = attrs.field(default=(), converter=to_local_prefixes)
    overrides: Mapping[str, CallType] = attrs.field(factory=dict, converter=to_overrides)
    _compiled: _Compiled = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.emergency_numbers:
            raise InvalidValueError(
                "extra_emergency",
                sorted(self.extra_emergency),
                f"no emergency number is known for {self.region}: list them in extra_emergency",
            )
        prefix = self.outside_prefix
        if prefix is not None:
            for item in self.extensions:
                if _overlaps(item, prefix):
                    raise InvalidValueError(
                        "extensions",
                        item,
                        f"extensions may not start with the outside-line prefix {prefix}: "
                        "change the prefix or renumber these extensions",
                    )
        object.__setattr__(self, "_compiled", _Compiled(self))

    @property
    def emergency_numbers(self) -> frozenset[str]:
        """Every number this plan classifies EMERGENCY: the region's table plus the extras."""
        return emergency_numbers(self.region) | self.extra_emergency

    def prepare(self, *, every_region: bool = False) -> None:
        """Build now what classifying numbers needs (the region's compiled number tables).

        For a process that forks after this (Kamailio's main process): its children then share
        the tables instead of each building its own. With *every_region*, also the tables of
        every other region, which international numbers are read with (about a second and
        10 MB, once per process). Does nothing without ``phonenumbers``.
        """
        try:
            _require_phonenumbers()
        except MissingDependencyError:
            return
        self._home_table()
        self._local_prefixes()
        if every_region:
            _numbertables.compile_every_region()

    def classify(self, dialed: str) -> Classification:
        """Classify dialed digits; never raises on any text (UNKNOWN with a reason instead).

        Emergency numbers of the plan, dialed alone or after the outside-line prefix, are
        EMERGENCY before any other rule. Then overrides, extensions, the group's own numbers,
        and the number itself (international, toll-free, premium-rate, local, national). Spaces,
        dashes, dots, slashes and parentheses are ignored.

        Runtime complexity: O(1) for a string classified before (one dict lookup; at most
        ``CLASSIFY_CACHE_LIMIT`` strings are kept, the cache emptied when full); otherwise as
        ``classify_uncached``.
        Raises :class:`~callcodes.InvalidValueError` when *dialed* is not a string, and
        :class:`~callcodes.MissingDependencyError` when ``phonenumbers`` is needed and missing.
        """
        cache = self._compiled.cache
        try:
            found = cache.get(dialed)
        except TypeError:  # unhashable: not a string, refused below
            found = None
        if found is not None:
            return found
        result = self.classify_uncached(dialed)
        if len(dialed) <= MAX_DIALED:
            if len(cache) >= CLASSIFY_CACHE_LIMIT:
                cache.clear()
            cache[dialed] = result
        return result

    def classify_uncached(self, dialed: str) -> Classification:
        """Classify without the cache: the same answer as ``classify``, recomputed every time.

        Runtime complexity: O(len(dialed) + r) with r the ranges of one length among the
        extensions and public numbers. A valid number is read with tables compiled once per
        region from libphonenumber's metadata (about 3 microseconds); digits that make no valid
        number, or that the tables are not sure of, take at most three ``phonenumbers`` parses
        (tens of microseconds each). Both give the same answer.
        """
        found = self._classify(dialed, _BOTH)
        assert found is not None  # only _Path.TABLES leaves a number undecided
        return found

    def _classify(self, dialed: str, path: _Path) -> Classification | None:
        """``classify_uncached`` along *path*; ``None`` when the tables alone cannot decide."""
        if not isinstance(dialed, str):
            raise InvalidValueError(
                "dialed", dialed, "dialed digits are a string, such as '9011442079460958'"
            )
        if len(dialed) > MAX_DIALED:
            return _unknown(f"too long to be a number ({len(dialed)} characters)")
        # ASCII digits only (the model's DIGITS), the usual case: two string methods tell it.
        plain = dialed.isascii() and dialed.isdecimal()
        if plain:
            digits = dialed
        else:
            cleaned, problem = _clean(dialed)
            if cleaned is None:
                return _unknown(problem)
            digits = cleaned
        compiled = self._compiled
        prefix = compiled.outside
        rest = None
        if prefix is not None and len(digits) > len(prefix) and digits.startswith(prefix):
            rest = digits[len(prefix) :]
        emergency = compiled.emergency
        if digits in emergency or rest in emergency:
            return self._emergency(digits)[0]
        extensions = compiled.extensions
        if (
            len(digits) in extensions.lengths
            and digits in extensions
            and not self._overridden(digits, rest)
        ):
            # An extension needs no phone number rules, so no phonenumbers either.
            return Classification(_CT.INTERNAL, None, f"extension {digits}")
        _require_phonenumbers()
        overrides = compiled.dialed_overrides
        found = None
        if overrides is not None and (
            digits in overrides.exact
            or digits[:1] in overrides.firsts
            or (rest is not None and (rest in overrides.exact or rest[:1] in overrides.firsts))
        ):
            found = overrides.match(digits)
            if rest is not None:
                after = overrides.match(rest)
                if after is not None and (found is None or len(after[0]) > len(found[0])):
                    found = after
        if found is not None:
            key, kind = found
            destination = self._destination(digits, rest, path)
            if isinstance(destination, _Unsure):
                return None
            return Classification(kind, destination, f"override {key} ({kind.value})")
        # An extension that no override names was answered above: no need to look again.
        if not plain and ("*" in digits or "#" in digits):
            return _unknown(f"feature code {digits}, not a number")
        if path is not _REFERENCE:
            home = compiled.tables
            if isinstance(home, _Table):  # _read, inlined for the common case
                read = None if rest is None else _read_number(home, rest)
                if read is None:  # the outside prefix is read first, as in _valid_number
                    read = _read_number(home, digits)
            else:
                read = self._read(digits, rest)
            if isinstance(read, tuple):
                return self._classify_reading(*read)
            if path is _TABLES:
                return None  # no valid number (short, local, invalid) or not sure: phonenumbers
        return self._classify_number(digits, rest)

    def is_emergency(self, dialed: str) -> bool:
        """Whether ``classify(dialed)`` is EMERGENCY, found without classifying anything else.

        No ``phonenumbers``, never raises. Runtime complexity: O(len(dialed)).
        """
        if not isinstance(dialed, str) or len(dialed) > MAX_DIALED:
            return False
        digits = dialed if dialed.isascii() and dialed.isdecimal() else _clean(dialed)[0]
        return digits is not None and self._emergency(digits)[0] is not None

    def _emergency(self, digits: str) -> tuple[Classification | None, str | None]:
        """The EMERGENCY classification of *digits* (or None), and what follows the prefix.

        Emergency numbers count alone and after the outside-line prefix.
        """
        compiled = self._compiled
        emergency = compiled.emergency
        if digits in emergency:
            return Classification(_CT.EMERGENCY, None, f"emergency number {digits}"), None
        prefix = compiled.outside
        rest = None
        if prefix is not None and len(digits) > len(prefix) and digits.startswith(prefix):
            rest = digits[len(prefix) :]
            if rest in emergency:
                reason = f"emergency number {rest} after the outside-line prefix {prefix}"
                return Classification(_CT.EMERGENCY, None, reason), rest
        return None, rest

    def _overridden(self, digits: str, rest: str | None) -> bool:
        """Whether an override on dialed digits matches (it comes before extensions)."""
        overrides = self._compiled.dialed_overrides
        if not overrides:
            return False
        return overrides.match(digits) is not None or (
            rest is not None and overrides.match(rest) is not None
        )

    def call(self, group: str, user: str, dialed: str, call_id: str | None = None) -> Call:
        """Build the :class:`~callcodes.Call` for dialed digits, its type set by this plan.

        ``decide(book, plan.call("acme", "alice", "9011442079460958"), code)`` goes from the
        digits to a decision in one line. Runtime complexity: that of ``classify``.
        """
        return Call(group, user, dialed, self.classify(dialed).call_type, call_id)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON- and TOML-ready data (``outside_prefix`` left out when ``None``)."""
        data: dict[str, Any] = {
            "region": self.region,
            "extensions": list(self.extensions),
            "public_numbers": list(self.public_numbers),
            "extra_emergency": sorted(self.extra_emergency, key=lambda n: (len(n), n)),
            "local_prefixes": list(self.local_prefixes),
            "overrides": {key: kind.value for key, kind in self.overrides.items()},
        }
        if self.outside_prefix is not None:
            data["outside_prefix"] = self.outside_prefix
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DialPlan:
        """Build a plan from ``to_dict`` data; unknown or missing keys are refused by name."""
        if not isinstance(data, Mapping):
            raise InvalidValueError("dialplan", data, "a dial plan is a mapping (a JSON object)")
        unknown = sorted(str(key) for key in data if key not in _FIELDS)
        if unknown:
            raise InvalidValueError(
                "dialplan", unknown, f"unknown key(s); a dial plan has {', '.join(_FIELDS)}"
            )
        if "region" not in data:
            raise InvalidValueError("region", None, "a dial plan needs a region, such as 'US'")
        return cls(**{key: data[key] for key in _FIELDS if key in data})

    # --- the parts that need phonenumbers ------------------------------------------------------

    def _home_table(self) -> _numbertables.Table | _Unsure:
        """The region's compiled number table, looked up once per plan."""
        compiled = self._compiled
        if compiled.tables is None:
            found = _numbertables.table_for(self.region)
            compiled.tables = _UNSURE if found is None else found
        return compiled.tables

    def _read(self, digits: str, rest: str | None) -> _numbertables.Reading | _Unsure | None:
        """``_valid_number`` with the compiled tables: the first valid reading, or not sure."""
        home = self._home_table()
        if not isinstance(home, _Table):
            return _UNSURE
        read = None if rest is None else _read_number(home, rest)
        # A valid reading after the outside prefix, or not sure: the digits whole are not read.
        return _read_number(home, digits) if read is None else read

    def _destination(self, digits: str, rest: str | None, path: _Path) -> str | _Unsure | None:
        """The E.164 form of the first valid reading of the digits (``None``: there is none)."""
        if path is not _REFERENCE:
            # The tables read digits (and a leading "+"); a feature code is phonenumbers' to read.
            found = _UNSURE if "*" in digits or "#" in digits else self._read(digits, rest)
            if not isinstance(found, _Unsure):
                return None if found is None else found[0]
            if path is _TABLES:
                return _UNSURE
        valid = self._valid_number(digits, rest)
        return None if valid is None else valid[1]

    def _parse(self, text: str) -> PhoneNumber | None:
        import phonenumbers  # noqa: PLC0415  # optional dependency, loaded on first use

        try:
            return phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            return None

    def _valid_number(self, digits: str, rest: str | None) -> tuple[PhoneNumber, str, bool] | None:
        """The first valid reading of the digits, after the outside prefix first.

        Returns the number, its E.164 form, and whether it is a number of the plan's region.
        """
        import phonenumbers  # noqa: PLC0415

        for text in (rest, digits) if rest is not None else (digits,):
            number = self._parse(text)
            if number is None:
                continue
            # Checking the plan's region first spares a search through every region that
            # shares the country code (25 of them behind +1) for the common, domestic case.
            domestic = phonenumbers.is_valid_number_for_region(number, self.region)
            if domestic or phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                return number, e164, domestic
        return None

    def _classify_number(self, digits: str, rest: str | None) -> Classification:
        import phonenumbers  # noqa: PLC0415

        compiled = self._compiled
        valid = self._valid_number(digits, rest)
        if valid is not None:
            return self._classify_valid(*valid)
        number = self._parse(rest if rest is not None else digits)
        if number is None and rest is not None:
            number = self._parse(digits)
        if number is None:
            return _unknown(f"not a phone number in {self.region}: {digits}")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        override = compiled.e164_overrides.match(e164) if compiled.e164_overrides else None
        if override is not None:
            key, kind = override
            return Classification(kind, None, f"override {key} ({kind.value})")
        if e164 in compiled.own:
            return Classification(_CT.INTERNAL, e164, f"own public number {e164}")
        short = _short_number(number, self.region)
        if short is not None:
            return short
        local = self._complete_local(number)
        if local is not None:
            return local
        if (
            phonenumbers.is_possible_number_with_reason(number)
            == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY
        ):
            return Classification(_CT.LOCAL, None, "local number dialed without its area code")
        return _unknown(f"not a valid number in {self.region}: {digits}")

    def _classify_valid(self, number: PhoneNumber, e164: str, domestic: bool) -> Classification:
        import phonenumbers  # noqa: PLC0415

        if domestic:
            kind = _type_name(phonenumbers.number_type(number))
            return self._classify_reading(e164, True, None, kind)
        where = phonenumbers.region_code_for_number(number)
        return self._classify_reading(e164, False, where, "UNKNOWN")

    def _classify_reading(
        self, e164: str, domestic: bool, where: str | None, kind: str
    ) -> Classification:
        """Classify a valid number, by the same rules whichever path read it.

        *e164* is its E.164 form, *domestic* whether it is valid for the plan's region, *where*
        the region ``region_code_for_number`` names and *kind* the name of ``number_type`` in
        ``PhoneNumberType`` (each needed only on its side of *domestic*).
        """
        compiled = self._compiled
        overrides = compiled.e164_overrides
        override = None if overrides is None else overrides.match(e164)
        if override is not None:
            key, kind_of = override
            return Classification(kind_of, e164, f"override {key} ({kind_of.value})")
        own = compiled.own
        if len(e164) in own.lengths and e164.startswith(own.common) and e164 in own:
            return Classification(_INTERNAL, e164, f"own public number {e164}")
        if not domestic:
            where = where or "unknown region"
            return Classification(_INTERNATIONAL, e164, f"international number ({where})")
        if kind == "TOLL_FREE":
            return Classification(_TOLL_FREE, e164, "toll-free number")
        if kind == "PREMIUM_RATE":
            return Classification(_PREMIUM, e164, "premium-rate number")
        local = compiled.local
        if local is None:
            local = self._local_prefixes()
        if local and e164.startswith(local):  # one test for all: most numbers are not local
            for prefix in local:
                if e164.startswith(prefix):
                    return Classification(_LOCAL, e164, f"local area {prefix}")
        return Classification(_NATIONAL, e164, _KIND_REASONS.get(kind, "national number"))

    def _local_prefixes(self) -> tuple[str, ...]:
        """The local prefixes in E.164 form, computed once (bare area codes need phonenumbers)."""
        compiled = self._compiled
        if compiled.local is None:
            import phonenumbers  # noqa: PLC0415

            country = phonenumbers.country_code_for_region(self.region)
            trunk = phonenumbers.ndd_prefix_for_region(self.region, True) or ""
            built = []
            for prefix in self.local_prefixes:
                if not prefix.startswith("+"):
                    if trunk and prefix.startswith(trunk) and len(prefix) > len(trunk):
                        prefix = prefix[len(trunk) :]  # noqa: PLW2901  # "020" -> "20"
                    prefix = f"+{country}{prefix}"  # noqa: PLW2901
                built.append(prefix)
            compiled.local = tuple(built)
        return compiled.local

    def _complete_local(self, number: PhoneNumber) -> Classification | None:
        """Read a number dialed without its area code as one in the first local area."""
        import phonenumbers  # noqa: PLC0415

        if number.country_code != phonenumbers.country_code_for_region(self.region):
            return None
        national = phonenumbers.national_significant_number(number)
        for prefix in self._local_prefixes():
            completed = self._parse(prefix + national)
            if (
                completed is not None
                and phonenumbers.is_valid_number_for_region(completed, self.region)
                and phonenumbers.number_type(completed)
                not in (
                    phonenumbers.PhoneNumberType.TOLL_FREE,
                    phonenumbers.PhoneNumberType.PREMIUM_RATE,
                )
            ):
                e164 = phonenumbers.format_number(completed, phonenumbers.PhoneNumberFormat.E164)
                return Classification(_CT.LOCAL, e164, f"local number in area {prefix}")
        return None


_FIELDS: Final = (
    "region",
    "extensions",
    "public_numbers",
    "outside_prefix",
    "extra_emergency",
    "local_prefixes",
    "overrides",
)


def _overlaps(item: str, prefix: str) -> bool:
    """Tell whether an extension or range holds a number that starts with *prefix*."""
    ends = range_ends(item, plus=False)
    assert ends is not None
    start, end = ends
    width = len(start)
    if len(prefix) > width:
        return False
    low = prefix + "0" * (width - len(prefix))
    high = prefix + "9" * (width - len(prefix))
    return low <= end and start <= high


def _clean(text: str) -> tuple[str | None, str]:
    """Drop separators and read digits of any script; say why when the text is not dialable."""
    out: list[str] = []
    for char in text:
        if char in _SEPARATORS:
            continue
        if char in DIALABLE or (char == "+" and not out):
            out.append(char)
        elif (value := unicodedata.decimal(char, None)) is not None:
            out.append(str(value))
        else:
            where = "after the first digit" if char == "+" else "in dialed digits"
            return None, f"not dialable: {char!r} {where}"
    if not out:
        return None, "nothing dialed"
    return "".join(out), ""


@functools.cache
def _require_phonenumbers() -> None:
    """Raise when phonenumbers is missing; once found, the answer is remembered."""
    try:
        import phonenumbers  # noqa: F401, PLC0415  # optional dependency
    except ImportError as exc:
        raise MissingDependencyError(
            "phonenumbers", "phone", "classifying dialed digits with a dial plan"
        ) from exc


def _short_number(number: PhoneNumber, region: str) -> Classification | None:
    from phonenumbers import national_significant_number, shortnumberinfo  # noqa: PLC0415

    if not shortnumberinfo.is_valid_short_number_for_region(number, region):
        return None
    short = national_significant_number(number)
    cost = shortnumberinfo.expected_cost_for_region(number, region)
    if cost == shortnumberinfo.ShortNumberCost.TOLL_FREE:
        return Classification(_CT.TOLL_FREE, None, f"toll-free short number {short}")
    if cost == shortnumberinfo.ShortNumberCost.PREMIUM_RATE:
        return Classification(_CT.PREMIUM, None, f"premium-rate short number {short}")
    if cost == shortnumberinfo.ShortNumberCost.STANDARD_RATE:
        return Classification(_CT.NATIONAL, None, f"standard-rate short number {short}")
    return _unknown(f"short number {short} of unknown cost")


_KIND_NAMES: Final = {
    "FIXED_LINE": "fixed-line",
    "MOBILE": "mobile",
    "FIXED_LINE_OR_MOBILE": "fixed-line or mobile",
    "SHARED_COST": "shared-cost",
    "VOIP": "VoIP",
    "PERSONAL_NUMBER": "personal",
    "PAGER": "pager",
    "UAN": "universal access",
    "VOICEMAIL": "voicemail",
}


_KIND_REASONS: Final = {name: f"{label} number" for name, label in _KIND_NAMES.items()}
_TYPE_NAMES: Final = (*_KIND_NAMES, "TOLL_FREE", "PREMIUM_RATE")


def _type_name(kind: int) -> str:
    """The name in ``PhoneNumberType`` of a type that ``phonenumbers.number_type`` answered."""
    from phonenumbers import PhoneNumberType  # noqa: PLC0415

    for name in _TYPE_NAMES:
        if getattr(PhoneNumberType, name) == kind:
            return name
    return "UNKNOWN"
