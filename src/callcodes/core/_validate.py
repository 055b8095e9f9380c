"""The one set of validators and converters that every model of callcodes uses.

Codes, descriptions, names (group ids, user ids, actors), booleans, bounded integers (also
written as text), aware datetimes in a bounded calendar, bounded durations and enum members
are checked here and nowhere else, so the model, the event log and every integration's
configuration refuse the same values with the same words. Each check raises
:class:`~callcodes.InvalidValueError` naming the field, the value and what to give instead.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import math
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import attrs

from .._errors import InvalidValueError

MIN_CODE_LENGTH: Final = 2
MAX_CODE_LENGTH: Final = 14
MAX_DESCRIPTION_LENGTH: Final = 80
MAX_LEVEL: Final = 255
#: A code's use limit: at most a billion calls (the store keeps it as a 64-bit integer).
MAX_USES: Final = 1_000_000_000
#: Names, as BroadWorks limits them: group ids up to 30 characters, user ids up to 161.
MAX_GROUP_ID_LENGTH: Final = 30
MAX_USER_ID_LENGTH: Final = 161
#: The actor named in the audit trail (a login or user id): as long as a user id.
MAX_ACTOR_LENGTH: Final = MAX_USER_ID_LENGTH
#: Durations (lockout windows, locks): more than zero and at most a year.
MAX_DURATION: Final = timedelta(days=366)
#: Times are between these (UTC), so that no arithmetic on them leaves the calendar.
MIN_TIME: Final = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME: Final = datetime(9000, 1, 1, tzinfo=UTC)
#: Whole numbers given as text have at most this many digits before they are converted.
MAX_DIGITS: Final = 18
DIGITS: Final = frozenset("0123456789")
# Unicode categories refused in descriptions: controls, invisible format characters (which can
# disguise text, as in bidirectional overrides), line and paragraph separators, and unassigned or
# private code points that render unpredictably in reports.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Names refuse what breaks a table or reaches the terminal: controls (tabs, newlines, escape
# sequences), invisible format characters, surrogates, line and paragraph separators. Code points
# unassigned in this Python's Unicode may be assigned in the next, and a name is not free text.
_REFUSED_IN_NAMES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

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


def name_problem(value: object, kind: str, limit: int) -> str | None:
    """Say what is wrong with a name (a group id, a user id, an actor), or ``None``.

    A name is printable text of 1 to *limit* characters: no control or invisible format
    characters (tabs, newlines, terminal escapes, bidirectional overrides), no line separators,
    and no spaces at either end. Runtime complexity: O(len(value)).
    """
    if not isinstance(value, str) or not value:
        return f"{kind} is a non-empty string"
    if len(value) > limit:
        return f"{kind} has at most {limit} characters, not {len(value)}"
    if value != value.strip():
        return f"{kind} has no spaces at either end"
    if value.isascii() and value.isprintable():
        return None
    for char in value:
        if unicodedata.category(char) in _REFUSED_IN_NAMES:
            return f"{kind} may not hold the control or invisible character U+{ord(char):04X}"
    return None


def check_name(field: str, value: object, kind: str, limit: int) -> str:
    """*value* when it is a valid name (see :func:`name_problem`), else InvalidValueError."""
    problem = name_problem(value, kind, limit)
    if problem is not None:
        raise InvalidValueError(field, value, problem)
    return value  # type: ignore[return-value]  # name_problem checked that it is a str


def check_user_id(field: str, value: object) -> str:
    """A user id: printable, 1 to 161 characters, no surrounding spaces."""
    return check_name(field, value, "a user id", MAX_USER_ID_LENGTH)


def check_group_id(field: str, value: object) -> str:
    """A group id: printable, 1 to 30 characters, no surrounding spaces."""
    return check_name(field, value, "a group id", MAX_GROUP_ID_LENGTH)


def check_actor(field: str, value: object) -> str:
    """An actor for the audit trail: printable, 1 to 161 characters, no surrounding spaces."""
    return check_name(field, value, "an actor", MAX_ACTOR_LENGTH)


def whole_number(field: str, text: str, low: int, high: int) -> int:
    """The whole number written in *text*, from *low* to *high*; else InvalidValueError.

    Only ASCII digits (and a leading minus) count; at most :data:`MAX_DIGITS` digits are
    converted, so a number of thousands of digits is refused without being read.
    """
    body = text.strip()
    digits = body[1:] if body.startswith("-") else body
    if not digits or not digits.isascii() or not digits.isdigit():
        raise InvalidValueError(field, text, f"give a whole number from {low} to {high}")
    if len(digits.lstrip("0")) > MAX_DIGITS:
        raise InvalidValueError(field, text, f"must be from {low} to {high}")
    value = int(body)
    if not low <= value <= high:
        raise InvalidValueError(field, value, f"must be from {low} to {high}")
    return value


def seconds(field: str, value: object, *, limit: timedelta = MAX_DURATION) -> timedelta:
    """A positive duration of at most *limit* from a number of seconds (an int, float or text).

    Refuses ``nan``, infinities, zero, negative and huge numbers with InvalidValueError.
    """
    number: object = value
    if isinstance(value, str):
        try:
            number = float(value.strip()) if len(value) <= 40 else math.nan
        except ValueError:
            number = math.nan
    if type(number) not in (int, float) or not math.isfinite(number):  # type: ignore[arg-type]
        raise InvalidValueError(field, value, "give a number of seconds, like 90 or 0.5")
    limit_s = limit.total_seconds()
    if not 0 < number <= limit_s:  # type: ignore[operator]
        raise InvalidValueError(
            field,
            value,
            f"must be more than 0 and at most {limit_s:.0f} seconds ({limit.days} days)",
        )
    return timedelta(seconds=number)  # type: ignore[arg-type]


def time_problem(value: datetime) -> str | None:
    """Say why an aware time cannot be used (outside 1900 to 9000, UTC), or ``None``."""
    try:
        in_utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        in_utc = None
    if in_utc is None or not MIN_TIME <= in_utc < MAX_TIME:
        return "give a time from 1900-01-01 to 8999-12-31 (UTC)"
    return None


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
    problem = time_problem(value)
    if problem is not None:
        raise InvalidValueError(attribute.name, value, problem)


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
        check_user_id("users", user)
    return users


def check_bool(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise InvalidValueError(attribute.name, value, "must be True or False")


def positive_duration(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "lock_for":
        return
    if not isinstance(value, timedelta) or not timedelta(0) < value <= MAX_DURATION:
        raise InvalidValueError(
            attribute.name,
            value,
            f"must be a duration of more than 0 seconds and at most {MAX_DURATION.days} days",
        )


def check_text(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidValueError(attribute.name, value, "must be a string")


def check_user(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_user_id(attribute.name, value)


def check_group(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """The group a softswitch names in a call, an event or a lock: text without outer spaces.

    What an administrator enters is held to :func:`check_group_id` where it enters (the
    command line, group files); a call is never refused for its group's spelling.
    """
    if not isinstance(value, str) or not value or value != value.strip():
        raise InvalidValueError(
            attribute.name, value, "a group id is a non-empty string without surrounding spaces"
        )


#: Service provider ids, as BroadWorks limits them: up to 30 characters.
MAX_PROVIDER_ID_LENGTH: Final = 30


def check_provider_id(field: str, value: object) -> str:
    """A service provider id: printable, 1 to 30 characters, no surrounding spaces."""
    return check_name(field, value, "a service provider id", MAX_PROVIDER_ID_LENGTH)


def check_account_name(field: str, value: object) -> str:
    """An account of the network service, named as an actor: printable, 1 to 161 characters."""
    return check_name(field, value, "an account name", MAX_ACTOR_LENGTH)
