"""Times as numbers and as text: one conversion each way, for every component.

Stored and recorded times are aware UTC datetimes. As integers they are microseconds since
1970-01-01 UTC (sortable, exact); as text they are ISO 8601 in UTC with microseconds and the
``+00:00`` offset, fixed width so text order is time order. Policy files that people edit show
times the short way (``2026-01-01T00:00:00Z``); reading accepts any ISO 8601 time with an offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from ._errors import InvalidValueError

__all__ = [
    "EPOCH",
    "ONE_MICROSECOND",
    "from_micros",
    "iso",
    "iso_short",
    "micros",
    "parse_iso",
]

#: The start of every integer time: 1970-01-01 UTC.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND: Final = timedelta(microseconds=1)


def micros(when: datetime) -> int:
    """Microseconds since 1970-01-01 UTC: the sortable integer form of an aware time."""
    return (when - EPOCH) // ONE_MICROSECOND


def from_micros(value: int) -> datetime:
    """The aware UTC time *value* microseconds after 1970-01-01 UTC."""
    return EPOCH + timedelta(microseconds=value)


def iso(when: datetime) -> str:
    """ISO 8601 in UTC with microseconds: ``2026-01-01T08:00:00.000000+00:00``."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def iso_short(when: datetime) -> str:
    """ISO 8601 in UTC the way people write it: ``2026-01-01T08:00:00Z`` (fractions if any)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(field: str, value: str, *, assume_utc: bool = False) -> datetime:
    """An aware datetime from ISO 8601 text; without an offset, UTC when *assume_utc*.

    Raises :class:`~callcodes.InvalidValueError` naming *field* for text that is not a time,
    or that has no offset when *assume_utc* is false.
    """
    try:
        parsed = datetime.fromisoformat(value)
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
    return parsed
