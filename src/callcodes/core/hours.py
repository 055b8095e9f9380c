"""Allowed hours: the days and times of day a call type may be authorized, in a group's zone.

:class:`Hours` is a set of spans such as ``mon-fri 08:00-18:00, sat 09:00-13:00``, written and
read as that text (:func:`parse_hours`, ``str``), so files, the store, the command line and the
API all hold the same short form. A span whose end is not after its start runs past midnight
(``mon-fri 22:00-06:00``: Friday night's span ends on Saturday morning). A time is judged in the
group's time zone: the zone object is given by the caller (the layers that read a zone name
turn it into a ``zoneinfo.ZoneInfo``), so the core reads no time zone database and no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import attrs

from .._errors import InvalidValueError

__all__ = ["DAYS", "MAX_HOURS_TEXT", "MAX_SPANS", "Hours", "Span", "check_zone", "parse_hours"]

#: Day names, Monday first (``datetime.weekday`` order).
DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Bounds on what an administrator writes: at most this many spans and characters.
MAX_SPANS: Final = 14
MAX_HOURS_TEXT: Final = 400
_DAY_MINUTES: Final = 24 * 60
_SPAN: Final = re.compile(
    r"(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<sh>[0-9]{2}):(?P<sm>[0-9]{2})-(?P<eh>[0-9]{2}):(?P<em>[0-9]{2})",
    re.ASCII,
)
_FORM: Final = "write spans like 'mon-fri 08:00-18:00, sat 09:00-13:00'"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02}:{minutes % 60:02}"


def _minutes(text: str, hour: str, minute: str, *, end: bool) -> int:
    value = int(hour) * 60 + int(minute)
    if int(minute) > 59 or value > _DAY_MINUTES or (value == _DAY_MINUTES and not end):
        raise InvalidValueError("hours", text, f"{hour}:{minute} is not a time of day; {_FORM}")
    return value


@attrs.frozen(weakref_slot=False)
class Span:
    """Days *first* to *last* (0 is Monday; a range may wrap: sat-mon), from *start* to *end*.

    Times are minutes after midnight; *end* is exclusive and may be 1440 (24:00); an *end* not
    after *start* runs into the next day.
    """

    first: int
    last: int
    start: int
    end: int

    def days(self) -> frozenset[int]:
        """The days the span starts on."""
        count = (self.last - self.first) % 7 + 1
        return frozenset((self.first + i) % 7 for i in range(count))

    def __str__(self) -> str:
        first, last = DAYS[self.first], DAYS[self.last]
        days = first if first == last else f"{first}-{last}"
        return f"{days} {_clock(self.start)}-{_clock(self.end)}"


def _check_spans(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        not isinstance(value, tuple)
        or not 1 <= len(value) <= MAX_SPANS
        or not all(isinstance(s, Span) for s in value)
    ):
        raise InvalidValueError("hours", value, f"give 1 to {MAX_SPANS} spans; {_FORM}")


@attrs.frozen(weakref_slot=False, cache_hash=True)
class Hours:
    """When something is allowed: a set of weekly spans, judged in a given time zone."""

    spans: tuple[Span, ...] = attrs.field(validator=_check_spans)
    # For each day, the (start, end) minutes allowed on it, an overnight span split in two.
    _by_day: tuple[tuple[tuple[int, int], ...], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        by_day: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for span in self.spans:
            for day in span.days():
                if span.end > span.start:
                    by_day[day].append((span.start, span.end))
                else:
                    by_day[day].append((span.start, _DAY_MINUTES))
                    by_day[(day + 1) % 7].append((0, span.end))
        object.__setattr__(self, "_by_day", tuple(tuple(day) for day in by_day))

    def allows(self, now: datetime, zone: tzinfo) -> bool:
        """Tell whether the aware time *now*, read in *zone*, falls inside a span.

        Runtime complexity: O(s) for s spans.
        """
        local = now.astimezone(zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self._by_day[local.weekday()])

    def __str__(self) -> str:
        return ", ".join(str(span) for span in self.spans)


def parse_hours(text: object) -> Hours:
    """The :class:`Hours` written in *text* (``mon-fri 08:00-18:00, sat 09:00-13:00``).

    Day names are the first three letters in English, any case; ``24:00`` ends a day. Refused
    with :class:`InvalidValueError` saying what to write. Runtime complexity: O(len(text)).
    """
    if isinstance(text, Hours):
        return text
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_HOURS_TEXT:
        raise InvalidValueError("hours", text, f"give at most {MAX_HOURS_TEXT} characters; {_FORM}")
    parts = [part.strip().lower() for part in text.split(",")]
    if len(parts) > MAX_SPANS:
        raise InvalidValueError("hours", text, f"at most {MAX_SPANS} spans")
    spans = []
    for part in parts:
        match = _SPAN.fullmatch(part)
        if match is None:
            raise InvalidValueError("hours", text, f"cannot read {part!r}; {_FORM}")
        days = [match["first"], match["last"] or match["first"]]
        unknown = [day for day in days if day not in DAYS]
        if unknown:
            days_named = ", ".join(DAYS)
            raise InvalidValueError("hours", text, f"{unknown[0]!r} is not a day: use {days_named}")
        start = _minutes(text, match["sh"], match["sm"], end=False)
        end = _minutes(text, match["eh"], match["em"], end=True)
        if start == end:
            raise InvalidValueError("hours", text, f"{part!r} is empty; a whole day is 00:00-24:00")
        spans.append(Span(DAYS.index(days[0]), DAYS.index(days[1]), start, end))
    return Hours(tuple(spans))


def check_zone(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A time zone object: ``datetime.UTC`` or one with a ``key`` (a ``zoneinfo.ZoneInfo``)."""
    if value is UTC:
        return
    if not isinstance(value, tzinfo) or not isinstance(getattr(value, "key", None), str):
        raise InvalidValueError(
            attribute.name, value, "give a time zone by its IANA name, like 'Europe/Paris'"
        )


def zone_name(zone: tzinfo) -> str:
    """The IANA name of a zone that :func:`check_zone` accepts (``UTC`` for ``datetime.UTC``)."""
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else "UTC"
