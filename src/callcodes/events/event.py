"""The event model: one record per decision, and its plain forms (dict, JSON line, row).

An :class:`Event` says what the engine decided for one entry on one call. It is the unit of the
event log that call tracking and billing read. Account codes are recorded in clear, because that
is their purpose; every other code that was entered (authorization codes above all) is recorded
only as a mask of asterisks, one per character, so the log never holds a secret (see
docs/events.md, "The mask").

Three plain forms, all lossless:

* a dict of JSON values (:meth:`Event.to_dict` / :meth:`Event.from_dict`);
* one line of JSON (:meth:`Event.to_json` / :meth:`Event.from_json`), the JSON Lines format;
* a row: a tuple in field order, the form the sinks store and the engine builds without
  validation on the call path (``row_from_decision``).

No I/O and no clock here.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from .._errors import InvalidValueError
from .._timefmt import EPOCH, iso_utc, parse_iso
from ..core._validate import (
    MAX_CODE_LENGTH,
    MIN_CODE_LENGTH,
    check_bool,
    check_description,
    check_group,
    check_text,
    is_code,
    member,
)
from ..core.model import (
    Call,
    CallType,
    Decision,
    Mode,
    Reason,
    Verdict,
    to_call_type,
)

__all__ = ["EVENT_FIELDS", "EVENT_SCHEMA", "MAX_MASK", "Event", "mask_code", "mask_inline"]

#: The version of the event schema this release writes; it reads every version up to it.
EVENT_SCHEMA: Final = 1
#: The longest mask: an entry longer than this is masked with this many asterisks.
MAX_MASK: Final = 32
_MASKS: Final = tuple("*" * n for n in range(MAX_MASK + 1))
#: The mask of an entry of each length; nothing entered (length 0) has none.
_MASK_OF_SIZE: Final = (None, *_MASKS[1:])


def mask_code(entered: object) -> str | None:
    """The masked form of an entry: one ``*`` per character, at most ``MAX_MASK``.

    ``None`` (and the empty string, which counts as no code) gives ``None``. The mask reveals
    only the length of what was entered, which the group's ``code_length`` already tells.
    Runtime complexity: O(1) for a string.
    """
    if entered is None or entered == "":
        return None
    size = len(entered) if type(entered) is str else len(str(entered))
    return _MASKS[min(size, MAX_MASK)]


def _to_utc(value: object) -> object:
    if isinstance(value, datetime) and value.tzinfo is not None and value.tzinfo is not UTC:
        offset = value.utcoffset()
        if offset is not None:
            return value.astimezone(UTC)
    return value


def _check_time(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is not UTC:
        raise InvalidValueError(attribute.name, value, "must be a timezone-aware datetime (UTC)")
    if value < EPOCH:
        raise InvalidValueError(attribute.name, value, "must be 1970-01-01 UTC or later")


def _check_optional_str(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and type(value) is not str:
        raise InvalidValueError(attribute.name, value, "must be a string or None")


def _to_mode(value: object) -> Mode | None:
    return None if value is None else member(Mode, "mode", value)


def _to_verdict(value: object) -> Verdict:
    return member(Verdict, "verdict", value)


def _to_reason(value: object) -> Reason:
    return member(Reason, "reason", value)


def _check_attempt(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise InvalidValueError(attribute.name, value, "the first entry on a call is attempt 1")


def _check_code(instance: Event, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not is_code(value) or not MIN_CODE_LENGTH <= len(value) <= MAX_CODE_LENGTH:  # type: ignore[arg-type]
        raise InvalidValueError(
            attribute.name,
            value,
            f"an account code is {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} ASCII digits",
        )
    if instance.reason is not Reason.ACCOUNT_CODE:
        raise InvalidValueError(
            attribute.name,
            value,
            f"only account codes are recorded in clear (reason {Reason.ACCOUNT_CODE.value!r}); "
            f"record this {instance.reason.value!r} entry as masked",
        )


def _check_masked(instance: Event, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if type(value) is not str or not 1 <= len(value) <= MAX_MASK or value != _MASKS[len(value)]:
        raise InvalidValueError(
            attribute.name, value, f"a mask is 1 to {MAX_MASK} asterisks (use callcodes.mask_code)"
        )
    if instance.code is not None:
        raise InvalidValueError(
            attribute.name, value, "an event holds a code in clear or a mask, not both"
        )


def _check_schema(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise InvalidValueError(attribute.name, value, "an event schema version is 1 or more")
    if value > EVENT_SCHEMA:
        raise InvalidValueError(
            attribute.name,
            value,
            f"written by a newer callcodes (event schema {value}); this one reads up to "
            f"{EVENT_SCHEMA}: upgrade callcodes to read it",
        )


@attrs.frozen(weakref_slot=False)
class Event:
    """What the engine decided for one entry (or no entry) on one call.

    ``time`` is when the decision was taken (UTC). ``mode`` is the group's mode then (``None``
    when the group was unknown). ``code`` holds an account code in clear, and only that:
    any other entered code appears as ``masked`` (one ``*`` per character). ``description`` is
    the matched code entry's description. ``schema`` is the version of the record's layout, so
    a reader can tell old records from new.

    Fields are in the order of :data:`EVENT_FIELDS`, the order of a stored row.
    """

    time: datetime = attrs.field(converter=_to_utc, validator=_check_time)
    group: str = attrs.field(validator=check_group)
    user: str = attrs.field(validator=check_text)
    dialed: str = attrs.field(validator=check_text)
    call_type: CallType = attrs.field(converter=to_call_type)
    mode: Mode | None = attrs.field(converter=_to_mode)
    verdict: Verdict = attrs.field(converter=_to_verdict)
    reason: Reason = attrs.field(converter=_to_reason)
    attempt: int = attrs.field(default=1, validator=_check_attempt)
    retry: bool = attrs.field(default=False, validator=check_bool)
    call_id: str | None = attrs.field(default=None, validator=_check_optional_str)
    code: str | None = attrs.field(default=None, validator=_check_code)
    masked: str | None = attrs.field(default=None, validator=_check_masked)
    description: str | None = attrs.field(default=None, validator=check_description)
    schema: int = attrs.field(default=EVENT_SCHEMA, validator=_check_schema)

    @classmethod
    def from_decision(
        cls,
        time: datetime,
        call: Call,
        decision: Decision,
        *,
        mode: Mode | None,
        code: object = None,
        attempt: int = 1,
    ) -> Event:
        """The event for *decision* on *call*, where *code* is what the caller entered.

        The code is kept in clear only when the decision logged it as an account code
        (reason ACCOUNT_CODE); otherwise an entry is kept as its mask. Runtime: O(1).
        """
        return cls(*row_from_decision(time, call, decision, mode, code, attempt))

    def to_dict(self) -> dict[str, Any]:
        """The event as a dict of JSON values (enums as their values, time in ISO 8601).

        Runtime complexity: O(1).
        """
        return row_to_dict(row_of(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Build an event from :meth:`to_dict`'s form; every field is checked.

        Unknown or missing keys and values a field cannot take raise ``InvalidValueError``;
        a record of a newer schema says so. Runtime complexity: O(1).
        """
        if not isinstance(data, Mapping):
            raise InvalidValueError("event", data, "an event record is a JSON object")
        schema = data.get("schema")
        if type(schema) is int and schema > EVENT_SCHEMA:
            _check_schema(None, attrs.fields(Event).schema, schema)
        keys = set(data)
        if keys != _KEYS:
            missing = sorted(_KEYS - keys)
            unknown = sorted(keys - _KEYS)
            problem = "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
            raise InvalidValueError("event", sorted(keys), f"not an event record: {problem}")
        when = data["time"]
        if not isinstance(when, str):
            raise InvalidValueError("time", when, "must be an ISO 8601 time with its offset")
        return cls(
            parse_iso("time", when),
            data["group"],
            data["user"],
            data["dialed"],
            data["call_type"],
            data["mode"],
            data["verdict"],
            data["reason"],
            data["attempt"],
            data["retry"],
            data["call_id"],
            data["code"],
            data["masked"],
            data["description"],
            data["schema"],
        )

    def to_json(self) -> str:
        """The event as one line of JSON (no newline), ASCII only. Runtime complexity: O(1)."""
        return row_to_json(row_of(self))

    @classmethod
    def from_json(cls, line: str | bytes) -> Event:
        """Parse one line of :meth:`to_json`; malformed JSON raises ``InvalidValueError``."""
        try:
            data = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidValueError("line", excerpt(line), f"not JSON: {exc}") from None
        return cls.from_dict(data)


#: The names of an event's fields, in the order of a stored row.
EVENT_FIELDS: Final = tuple(field.name for field in attrs.fields(Event))
_KEYS: Final = frozenset(EVENT_FIELDS)

_ENUMS: Final = (CallType, Mode, Verdict, Reason)

# A row is a tuple in EVENT_FIELDS order: (time, group, user, dialed, call_type, mode, verdict,
# reason, attempt, retry, call_id, code, masked, description, schema). The enums are held as
# their plain string values: a tuple of strings, numbers and a datetime is one the garbage
# collector stops tracking, so a sink that holds many rows (MemorySink) costs it nothing.
Row = tuple[Any, ...]

#: The plain string value of each enum member (and None for None); a value maps to itself.
_VALUE: Final[dict[enum.Enum | str | None, str | None]] = {
    None: None,
    **{member: str(member.value) for kind in _ENUMS for member in kind},
}


def row_of(event: Event) -> Row:
    return (
        event.time,
        event.group,
        event.user,
        event.dialed,
        _VALUE[event.call_type],
        _VALUE[event.mode],
        _VALUE[event.verdict],
        _VALUE[event.reason],
        event.attempt,
        event.retry,
        event.call_id,
        event.code,
        event.masked,
        event.description,
        event.schema,
    )


_ACCOUNT_CODE: Final = Reason.ACCOUNT_CODE


def mask_inline(dialed: str, prefix: str, length: int) -> str:
    """*dialed* with the code keyed inline after *prefix* replaced by ``*``, one per digit.

    Up to *length* digits right after the prefix are masked (an integrator that did not split
    ``<prefix><code><number>`` must not leave the code in the event log); a dial string that
    does not start with *prefix* is returned as it is. Runtime: O(len(dialed)).
    """
    if not prefix or not dialed.startswith(prefix):
        return dialed
    start = len(prefix)
    end = start
    stop = min(len(dialed), start + max(length, 0))
    while end < stop and dialed[end] in _DIGIT_SET:
        end += 1
    return f"{dialed[:start]}{'*' * (end - start)}{dialed[end:]}"


_DIGIT_SET: Final = frozenset("0123456789")


def row_from_decision(  # noqa: PLR0917  # positional: this runs on every recorded call
    time: datetime,
    call: Call,
    decision: Decision,
    mode: Mode | None,
    code: object,
    attempt: int,
    prefix: str = "",
    length: int = 0,
) -> Row:
    """The row of the event for *decision*, unvalidated: the engine's path (O(1)).

    The decision, not the group's mode, says whether the code may be kept in clear: a mode
    changed between the decision and this call can then never expose an authorization code.
    A code keyed inline in ``call.dialed`` after the group's *prefix* is always masked
    (:func:`mask_inline`), whatever the mode.
    """
    entry = decision.entry
    dialed = call.dialed
    if prefix and dialed.startswith(prefix):
        dialed = mask_inline(dialed, prefix, length)
    if code is None or decision.reason is _ACCOUNT_CODE:
        clear, masked = code, None
    elif type(code) is str:
        size = len(code)
        clear, masked = None, _MASK_OF_SIZE[size if size < MAX_MASK else MAX_MASK]
    else:
        clear, masked = None, mask_code(code)
    return (
        time,
        call.group,
        call.user,
        dialed,
        _VALUE[call.call_type],
        _VALUE[mode],
        _VALUE[decision.verdict],
        _VALUE[decision.reason],
        attempt,
        decision.retry,
        call.call_id,
        clear,
        masked,
        None if entry is None else entry.description,
        EVENT_SCHEMA,
    )


def row_to_event(row: Row) -> Event:
    return Event(*row)


def row_to_dict(row: Row) -> dict[str, Any]:
    return {
        "schema": row[14],
        "time": iso_utc(row[0]),
        "group": row[1],
        "user": row[2],
        "dialed": row[3],
        "call_type": _VALUE[row[4]],
        "mode": _VALUE[row[5]],
        "verdict": _VALUE[row[6]],
        "reason": _VALUE[row[7]],
        "attempt": row[8],
        "retry": row[9],
        "call_id": row[10],
        "code": row[11],
        "masked": row[12],
        "description": row[13],
    }


_quote: Final = json.encoder.encode_basestring_ascii
# Enum values are plain ASCII words, so each member's JSON text is computed once; None and the
# booleans are there too, so the row's mode and retry need no test.
_JSON_TEXT: Final[dict[enum.Enum | bool | None, str]] = {
    None: "null",
    True: "true",
    False: "false",
    **{
        member: _quote(member.value)
        for kind in (CallType, Mode, Verdict, Reason)
        for member in kind
    },
}


def row_to_json(row: Row) -> str:
    """The JSON line of a row (no newline): ``row_to_dict`` as compact, ASCII-only JSON.

    Written out by hand because the call path pays for it; a test checks it against ``json``.
    """
    (
        time,
        group,
        user,
        dialed,
        call_type,
        mode,
        verdict,
        reason,
        attempt,
        retry,
        call_id,
        code,
        masked,
        description,
        schema,
    ) = row
    return (
        f'{{"schema":{schema},"time":"{iso_utc(time)}","group":{_quote(group)},'
        f'"user":{_quote(user)},"dialed":{_quote(dialed)},"call_type":{_JSON_TEXT[call_type]},'
        f'"mode":{_JSON_TEXT[mode]},"verdict":{_JSON_TEXT[verdict]},'
        f'"reason":{_JSON_TEXT[reason]},"attempt":{attempt},"retry":{_JSON_TEXT[retry]},'
        f'"call_id":{"null" if call_id is None else _quote(call_id)},'
        f'"code":{"null" if code is None else _quote(code)},'
        f'"masked":{"null" if masked is None else _quote(masked)},'
        f'"description":{"null" if description is None else _quote(description)}}}'
    )


def excerpt(text: str | bytes, size: int = 40) -> str:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return shown if len(shown) <= size else shown[:size] + "..."
