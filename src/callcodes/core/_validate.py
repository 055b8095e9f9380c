"""The one set of validators and converters that every model of callcodes uses.

Codes, descriptions, names, booleans, bounded integers, aware datetimes, durations and enum
members are checked here and nowhere else, so the model, the event log and every integration's
configuration refuse the same values with the same words. Each check raises
:class:`~callcodes.InvalidValueError` naming the field, the value and what to give instead.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import attrs

from .._errors import InvalidValueError

MIN_CODE_LENGTH: Final = 2
MAX_CODE_LENGTH: Final = 14
MAX_DESCRIPTION_LENGTH: Final = 80
MAX_LEVEL: Final = 255
DIGITS: Final = frozenset("0123456789")
# Unicode categories refused in descriptions: controls, invisible format characters (which can
# disguise text, as in bidirectional overrides), line and paragraph separators, and unassigned or
# private code points that render unpredictably in reports.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

_E = TypeVar("_E", bound=enum.Enum)


def is_code(value: object, length: int | None = None) -> bool:
    """Tell whether *value* is a string of ASCII digits (of *length*, when given).

    ``str.isdigit`` is not the test: it accepts Arabic-Indic and full-width digits.
    Runtime complexity: O(len(value)).
    """
    if type(value) is not str or not value:
        return False
    if length is not None and len(value) != length:
        return False
    return DIGITS.issuperset(value)


def check_code(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str:
        raise InvalidValueError(attribute.name, value, "a code is a string of ASCII digits")
    if not is_code(value):
        raise InvalidValueError(attribute.name, value, "a code has ASCII digits 0-9 only")
    if not MIN_CODE_LENGTH <= len(value) <= MAX_CODE_LENGTH:
        raise InvalidValueError(
            attribute.name,
            value,
            f"a code has {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} digits, not {len(value)}",
        )


def description_problem(value: str) -> str | None:
    """Say what is wrong with a code description, or ``None`` when it is acceptable."""
    if len(value) > MAX_DESCRIPTION_LENGTH:
        return f"a description has at most {MAX_DESCRIPTION_LENGTH} characters, not {len(value)}"
    if value.isascii() and value.isprintable():
        return None  # the common case, without a Unicode lookup per character
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"a description may not hold the control character U+{ord(char):04X}"
    return None


def empty_to_none(value: object) -> object:
    return None if value == "" else value


def check_description(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidValueError(attribute.name, value, "a description is a string or None")
    problem = description_problem(value)
    if problem is not None:
        raise InvalidValueError(attribute.name, value, problem)


def check_int(low: int, high: int | None) -> Any:
    """Build a validator for an int (not a bool) in ``[low, high]``; ``high=None``: unbounded."""

    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if type(value) is not int:
            raise InvalidValueError(attribute.name, value, "must be an integer")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise InvalidValueError(attribute.name, value, f"must be {bound}")

    return check


def check_aware(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(
            attribute.name, value, "must be a timezone-aware datetime (use UTC), or None"
        )


def member(kind: type[_E], field: str, value: object) -> _E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise InvalidValueError(field, value, f"must be one of {choices}") from None


def to_users(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        # A bare string would become a set of its characters: a classic and silent mistake.
        raise InvalidValueError("users", value, "give a set of user ids, not one string")
    users = frozenset(value)
    for user in users:
        if not isinstance(user, str) or not user or user != user.strip():
            raise InvalidValueError(
                "users", user, "a user id is a non-empty string without surrounding spaces"
            )
    return users


def check_bool(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise InvalidValueError(attribute.name, value, "must be True or False")


def positive_duration(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "lock_for":
        return
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidValueError(attribute.name, value, "must be a positive timedelta")


def check_text(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidValueError(attribute.name, value, "must be a string")


def check_group(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value or value != value.strip():
        raise InvalidValueError(
            attribute.name, value, "a group id is a non-empty string without surrounding spaces"
        )
