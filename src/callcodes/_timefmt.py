"""Times as numbers and as text: one conversion each way, for every component.

Stored and recorded times are aware UTC datetimes. As integers they are microseconds since
1970-01-01 UTC (sortable, exact); as text they are ISO 8601 in UTC with microseconds and the
``+00:00`` offset, fixed width so text order is time order. Policy files that people edit show
times the short way (``2026-01-01T00:00:00Z``); reading accepts any ISO 8601 time with an offset.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

from ._errors import InvalidValueError
from .core._validate import time_problem

__all__ = [
    "EPOCH",
    "ONE_MICROSECOND",
    "from_micros",
    "iso",
    "iso_short",
    "iso_utc",
    "micros",
    "parse_iso",
    "zone",
]

#: The start of every integer time: 1970-01-01 UTC.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND: Final = timedelta(microseconds=1)


#: IANA zone names are short ("America/Argentina/ComodRivadavia" is among the longest).
MAX_ZONE_NAME: Final = 64


def zone(name: object) -> tzinfo:
    """The time zone named *name* (IANA, like ``Europe/Paris``; ``UTC`` is ``datetime.UTC``).

    Read from the system's time zone database (or the ``tzdata`` package): the one place a
    zone name becomes a zone. Refused with :class:`InvalidValueError` when unknown.
    """
    if name == "UTC":
        return UTC
    if not isinstance(name, str) or not 0 < len(name) <= MAX_ZONE_NAME or not name.isascii():
        raise InvalidValueError("time_zone", name, "give an IANA time zone name, like Europe/Paris")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidValueError(
            "time_zone", name, "is not a known time zone; give an IANA name, like Europe/Paris"
        ) from None


def micros(when: datetime) -> int:
    """Microseconds since 1970-01-01 UTC: the sortable integer form of an aware time."""
    return (when - EPOCH) // ONE_MICROSECOND


def from_micros(value: int) -> datetime:
    """The aware UTC time *value* microseconds after 1970-01-01 UTC."""
    return EPOCH + timedelta(microseconds=value)


#: The ISO 8601 text of each day seen lately ("2024-06-01"): a day's times share it.
_DAYS: dict[date, str] = {}
_MAX_DAYS: Final = 1024
_TWO_DIGITS: Final = tuple(f"{n:02d}" for n in range(100))
_THREE_DIGITS: Final = tuple(f"{n:03d}" for n in range(1000))


def iso(when: datetime) -> str:
    """ISO 8601 in UTC with microseconds: ``2026-01-01T08:00:00.000000+00:00``.

    The text of ``isoformat(timespec="microseconds")`` of the time in UTC.
    """
    return iso_utc(when if when.tzinfo is UTC else when.astimezone(UTC))


def iso_utc(when: datetime) -> str:
    """:func:`iso` of a time already in UTC (``tzinfo`` is ``UTC``), as an event's time is.

    Every event line pays for it, so it is written with a text kept per day and tables of
    digits (two fifths of the cost of formatting seven numbers), and does not convert: give it
    any other time and the text is wrong.
    """
    day = when.date()
    text = _DAYS.get(day)
    if text is None:
        if len(_DAYS) >= _MAX_DAYS:
            _DAYS.clear()
        text = _DAYS[day] = day.isoformat()
    two, three, micro = _TWO_DIGITS, _THREE_DIGITS, when.microsecond
    return (
        f"{text}T{two[when.hour]}:{two[when.minute]}:{two[when.second]}."
        f"{three[micro // 1000]}{three[micro % 1000]}+00:00"
    )


def iso_short(when: datetime) -> str:
    """ISO 8601 in UTC the way people write it: ``2026-01-01T08:00:00Z`` (fractions if any)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(field: str, value: str, *, assume_utc: bool = False) -> datetime:
    """An aware datetime from ISO 8601 text; without an offset, UTC when *assume_utc*.

    Raises :class:`~callcodes.InvalidValueError` naming *field* for text that is not a time,
    that has no offset when *assume_utc* is false, or that is outside 1900 to 8999 in UTC (so
    that no later arithmetic leaves the calendar, as 9999-12-31T23:59:59-01:00 would).
    """
    try:
        # No ISO 8601 time is longer than 64 characters: refuse longer text before parsing.
        parsed = datetime.fromisoformat(value if len(value) <= 64 else "")
    except (ValueError, TypeError):
        raise InvalidValueError(
            field, value, "give an ISO 8601 date or time, like 2026-01-01 or 2026-01-01T08:00Z"
        ) from None
    if parsed.utcoffset() is None:
        if not assume_utc:
            raise InvalidValueError(
                field, value, "give a time with a UTC offset, like 2026-01-01T00:00:00Z"
            )
        parsed = parsed.replace(tzinfo=UTC)
    problem = time_problem(parsed)
    if problem is not None:
        raise InvalidValueError(field, value, problem)
    return parsed
