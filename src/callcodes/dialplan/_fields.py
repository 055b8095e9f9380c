"""The fields of a dial plan, checked and converted: region, extensions, numbers, prefixes.

Each converter takes what a caller or a policy file gave and returns the plan's own form, or
raises :class:`~callcodes.InvalidValueError` saying what to give instead.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Final

from .._errors import InvalidValueError
from ..core.model import DIGITS, CallType
from .emergency import REGIONS

_MAX_EXTENSION: Final = 15  # digits
_MAX_PREFIX: Final = 4  # digits of an outside-line prefix
_MAX_OVERRIDE: Final = 20  # characters of an override key
DIALABLE: Final = frozenset("0123456789*#")


def string_items(field: str, value: object) -> list[str]:
    """The strings of an iterable field; a bare string is refused (it would be its characters)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidValueError(field, value, "give a list of strings, not one string")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise InvalidValueError(field, item, "each item is a string")
    return items


def is_digits(text: str, low: int, high: int) -> bool:
    return low <= len(text) <= high and DIGITS.issuperset(text)


def to_region(value: object) -> str:
    region = value.upper() if isinstance(value, str) else value
    if region not in REGIONS:
        raise InvalidValueError(
            "region", value, "an ISO 3166 alpha-2 region code is needed, such as 'US', 'GB' or 'DE'"
        )
    assert isinstance(region, str)
    return region


def range_ends(item: str, plus: bool) -> tuple[str, str] | None:
    """Split ``"A"`` or ``"A-B"`` into its ends (with ``plus``: ``"+A"`` / ``"+A-+B"``)."""
    start, dash, end = item.partition("-")
    if not dash:
        end = start
    if plus:
        if not (start.startswith("+") and end.startswith("+")):
            return None
        start, end = start[1:], end[1:]
        ok = is_digits(start, 3, 15) and is_digits(end, 3, 15)
    else:
        ok = is_digits(start, 1, _MAX_EXTENSION) and is_digits(end, 1, _MAX_EXTENSION)
    if not ok or len(start) != len(end) or start > end:
        return None
    return start, end


def to_extensions(value: object) -> tuple[str, ...]:
    items = set(string_items("extensions", value))
    for item in items:
        if range_ends(item, plus=False) is None:
            raise InvalidValueError(
                "extensions",
                item,
                f"an extension is 1 to {_MAX_EXTENSION} ASCII digits ('1234'), or a range of "
                "extensions of one length, lowest first ('2000-2999')",
            )
    return tuple(sorted(items, key=lambda item: (len(item), item)))


def to_public_numbers(value: object) -> tuple[str, ...]:
    items = set(string_items("public_numbers", value))
    for item in items:
        if range_ends(item, plus=True) is None:
            raise InvalidValueError(
                "public_numbers",
                item,
                "a public number is in E.164 form ('+12125551000'), or a block of numbers of "
                "one length, lowest first ('+12125551000-+12125551099')",
            )
    return tuple(sorted(items))


def to_outside_prefix(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_digits(value, 1, _MAX_PREFIX):
        raise InvalidValueError(
            "outside_prefix",
            value,
            f"an outside-line prefix is 1 to {_MAX_PREFIX} ASCII digits (such as '9'), or None",
        )
    return value


def to_extra_emergency(value: object) -> frozenset[str]:
    items = frozenset(string_items("extra_emergency", value))
    for item in items:
        if not is_digits(item, 1, 15):
            raise InvalidValueError(
                "extra_emergency", item, "an emergency number is 1 to 15 ASCII digits"
            )
    return items


def to_local_prefixes(value: object) -> tuple[str, ...]:
    items = string_items("local_prefixes", value)
    for item in items:
        bare = item.removeprefix("+")
        if not is_digits(bare, 1, 15 if item.startswith("+") else 10):
            raise InvalidValueError(
                "local_prefixes",
                item,
                "a local prefix is an area code ('212', '020') or an E.164 prefix ('+1212')",
            )
    return tuple(dict.fromkeys(items))  # first one first: it completes numbers dialed short


def override_key_ok(key: object) -> bool:
    if not isinstance(key, str):
        return False
    body = key.removesuffix("$")
    if body.startswith("+"):
        return is_digits(body[1:], 1, 15)
    return 1 <= len(body) <= _MAX_OVERRIDE and DIALABLE.issuperset(body)


def to_overrides(value: object) -> Mapping[str, CallType]:
    if not isinstance(value, Mapping):
        raise InvalidValueError("overrides", value, "give a mapping of prefix -> call type")
    built: dict[str, CallType] = {}
    for key, kind in sorted(value.items(), key=lambda pair: str(pair[0])):
        if not override_key_ok(key):
            raise InvalidValueError(
                "overrides",
                key,
                "an override key is a prefix of the dialed digits (0-9, * and #: '1900'), or "
                "of the E.164 number ('+1900'); end it with '$' to match the whole number ('0$')",
            )
        try:
            call_type = CallType(kind)
        except ValueError:
            raise InvalidValueError(
                f"overrides[{key}]",
                kind,
                f"a call type is one of {', '.join(t.value for t in CallType)}",
            ) from None
        if call_type is CallType.EMERGENCY:
            raise InvalidValueError(
                f"overrides[{key}]",
                kind,
                "an override cannot make calls EMERGENCY (a prefix would let every call through "
                "without a code): list the exact numbers in extra_emergency",
            )
        built[key] = call_type
    return types.MappingProxyType(built)
