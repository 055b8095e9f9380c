"""The model as plain values: settings and code entries to JSON-ready dicts and back.

Policy files, the audit trail and the command line all show settings and entries the same way,
so the conversion lives here, once. Reading refuses what the model refuses, with the model's
words, and names the key (``settings.lockout.user_attempts``). Times stay ``datetime`` values in
this module: each caller writes and reads them as text its own way (a file format, a database).

It also builds entries from trusted rows (a store's rows, which were validated when they were
written) without running the validators again: for a million stored codes, validating each
entry anew would cost seconds. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

import attrs

from .._errors import InvalidValueError
from .hours import parse_hours, zone_name
from .limits import LIMIT_FIELDS, Limits
from .model import (
    MAX_CODE_LENGTH,
    MIN_CODE_LENGTH,
    CallType,
    CodeEntry,
    GroupSettings,
    Lockout,
    Mode,
    description_problem,
    is_code,
)

__all__ = [
    "ENTRY_FIELDS",
    "ENTRY_SETTERS",
    "FRAUD_KEYS",
    "SETTINGS_KEYS",
    "as_mapping",
    "check_keys",
    "entry_from_dict",
    "entry_reader",
    "entry_to_dict",
    "fraud_to_dict",
    "limits_to_dict",
    "pair_reader",
    "plain_entry",
    "settings_from_dict",
    "settings_to_dict",
    "users_to_dict",
    "with_fraud",
]

#: The fields of an entry as plain values, in the model's order (and a code list's columns).
ENTRY_FIELDS: Final = (
    "code",
    "description",
    "level",
    "valid_from",
    "valid_until",
    "max_uses",
    "hours",
)
_LOCKOUT_KEYS: Final = (
    "user_attempts",
    "user_window_seconds",
    "group_attempts",
    "group_window_seconds",
    "lock_for_seconds",
)
#: The keys of a group's settings as plain values (the users are apart).
SETTINGS_KEYS: Final = (
    "mode",
    "code_length",
    "allow_local_and_toll_free",
    "max_attempts",
    "coded_call_types",
    "min_levels",
    "code_prefix",
    "lockout",
    "hours",
    "time_zone",
    "limits",
    "redirect",
)
_LIMITS_KEYS: Final = ("window_seconds", *LIMIT_FIELDS, "suspend")
#: The settings against stolen codes and call forwarding, which a store may keep together.
FRAUD_KEYS: Final = ("hours", "time_zone", "limits", "redirect")
# Where the model's user fields live in a document.
_USER_FIELDS: Final = {
    "mandatory_users": "users.mandatory",
    "optional_users": "users.optional",
    "users": "users",
}
_REMEMBERED: Final = 65_536  # distinct descriptions whose check a pair reader remembers

# The trusted builders below set CodeEntry's slots directly: a change to its fields must show
# up here, not as half-built entries.
assert [f.name for f in attrs.fields(CodeEntry)] == list(ENTRY_FIELDS)
#: The setters of CodeEntry's slots, in field order, for builders that skip validation.
ENTRY_SETTERS: Final = tuple(CodeEntry.__dict__[name].__set__ for name in ENTRY_FIELDS)
_NEW: Final = object.__new__


def plain_entry(code: str, description: str | None) -> CodeEntry:
    """A trusted entry with only a code and a description, built without validating again."""
    set_code, set_description, set_level, set_from, set_until, set_max, set_hours = ENTRY_SETTERS
    entry = _NEW(CodeEntry)
    set_code(entry, code)
    set_description(entry, description)
    set_level(entry, 0)
    set_from(entry, None)
    set_until(entry, None)
    set_max(entry, None)
    set_hours(entry, None)
    return entry


# -- settings -------------------------------------------------------------------------------------


def _seconds(value: timedelta) -> int | float:
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def settings_to_dict(settings: GroupSettings) -> dict[str, Any]:
    """A group's settings (without its users) as plain JSON values.

    Durations are in seconds; ``lock_for_seconds`` 0 means a lock holds until an administrator
    lifts it. Call types are listed in their declaration order.
    """
    lockout = settings.lockout
    return {
        "mode": settings.mode.value,
        "code_length": settings.code_length,
        "allow_local_and_toll_free": settings.allow_local_and_toll_free,
        "max_attempts": settings.max_attempts,
        "coded_call_types": [t.value for t in CallType if t in settings.coded_call_types],
        "min_levels": {
            t.value: settings.min_levels[t] for t in CallType if t in settings.min_levels
        },
        "code_prefix": settings.code_prefix,
        "lockout": {
            "user_attempts": lockout.user_attempts,
            "user_window_seconds": _seconds(lockout.user_window),
            "group_attempts": lockout.group_attempts,
            "group_window_seconds": _seconds(lockout.group_window),
            "lock_for_seconds": 0 if lockout.lock_for is None else _seconds(lockout.lock_for),
        },
        "hours": {t.value: str(settings.hours[t]) for t in CallType if t in settings.hours},
        "time_zone": zone_name(settings.time_zone),
        "limits": limits_to_dict(settings.limits),
        "redirect": settings.redirect.value,
    }


def limits_to_dict(limits: Limits) -> dict[str, Any]:
    """Use limits as plain values: the window in seconds, the limits that are on, ``suspend``."""
    data: dict[str, Any] = {"window_seconds": _seconds(limits.window)}
    data.update(
        (name, getattr(limits, name)) for name in LIMIT_FIELDS if getattr(limits, name) is not None
    )
    data["suspend"] = limits.suspend
    return data


def _limits_from_dict(data: Mapping[str, Any]) -> Limits:
    check_keys("settings.limits", data, _LIMITS_KEYS)
    kwargs: dict[str, Any] = {k: v for k, v in data.items() if k != "window_seconds"}
    if "window_seconds" in data:
        kwargs["window"] = _duration("settings.limits.window_seconds", data["window_seconds"])
    try:
        return Limits(**kwargs)
    except InvalidValueError as exc:
        where = "window_seconds" if exc.field == "window" else exc.field
        raise InvalidValueError(f"settings.limits.{where}", exc.value, exc.problem) from None


def fraud_to_dict(settings: GroupSettings) -> dict[str, Any]:
    """The settings of :data:`FRAUD_KEYS` as plain values (as :func:`settings_to_dict` has them)."""
    plain = settings_to_dict(settings)
    return {key: plain[key] for key in FRAUD_KEYS}


def with_fraud(
    settings: GroupSettings, data: Mapping[str, Any], *, zone: Callable[[str], tzinfo]
) -> GroupSettings:
    """*settings* with the :data:`FRAUD_KEYS` of *data* (plain values) in place of its own."""
    check_keys("settings", data, FRAUD_KEYS)
    read = settings_from_dict(data, zone=zone)
    return attrs.evolve(settings, **{key: getattr(read, key) for key in FRAUD_KEYS})


def _utc_only(name: str) -> tzinfo:
    if name != "UTC":
        raise InvalidValueError("time_zone", name, "only UTC is known without a zone reader")
    return UTC


def users_to_dict(settings: GroupSettings) -> dict[str, list[str]]:
    """A group's users as plain values: ``{"mandatory": [...], "optional": [...]}``, sorted."""
    return {
        "mandatory": sorted(settings.mandatory_users),
        "optional": sorted(settings.optional_users),
    }


def check_keys(where: str, data: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse keys of *data* that are not *known*, naming them and the known ones."""
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InvalidValueError(
            where, unknown, f"unknown key(s); the known keys are {', '.join(known)}"
        )


def as_mapping(where: str, value: object) -> Mapping[str, Any]:
    """*value* when it is a table of keys and values, else :class:`InvalidValueError`."""
    if not isinstance(value, Mapping):
        raise InvalidValueError(where, value, "must be a table (an object of keys and values)")
    return value


def _duration(where: str, value: object) -> timedelta:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise InvalidValueError(where, value, "must be a number of seconds")
    try:
        return timedelta(seconds=value)  # type: ignore[arg-type]  # an int or a float
    except OverflowError:
        raise InvalidValueError(where, value, "is too large a number of seconds") from None


def _lockout_from_dict(data: Mapping[str, Any]) -> Lockout:
    check_keys("settings.lockout", data, _LOCKOUT_KEYS)
    kwargs: dict[str, Any] = {}
    for key in ("user_attempts", "group_attempts"):
        if key in data:
            kwargs[key] = data[key]
    for key in ("user_window", "group_window", "lock_for"):
        if f"{key}_seconds" in data:
            duration = _duration(f"settings.lockout.{key}_seconds", data[f"{key}_seconds"])
            kwargs[key] = None if key == "lock_for" and not duration else duration
    try:
        return Lockout(**kwargs)
    except InvalidValueError as exc:
        raise InvalidValueError(f"settings.lockout.{exc.field}", exc.value, exc.problem) from None


def _user_list(where: str, value: object) -> frozenset[str]:
    if not isinstance(value, list):
        raise InvalidValueError(where, value, "must be a list of user ids")
    return frozenset(value)


def settings_from_dict(
    data: Mapping[str, Any],
    users: Mapping[str, Any] | None = None,
    *,
    zone: Callable[[str], tzinfo] = _utc_only,
) -> GroupSettings:
    """Build settings from plain values (as :func:`settings_to_dict` writes them) and users.

    Missing keys take their defaults; unknown keys and bad values are refused with
    :class:`InvalidValueError` naming the key, e.g. ``settings.code_length``. *zone* turns a
    ``time_zone`` name into a zone (the layers that may read the zone database pass theirs;
    without one only ``UTC`` is known).
    """
    check_keys("settings", data, SETTINGS_KEYS)
    kwargs: dict[str, Any] = {
        k: v for k, v in data.items() if k not in ("lockout", "limits", "time_zone")
    }
    if "hours" in data:
        kwargs["hours"] = as_mapping("settings.hours", data["hours"])
    if "time_zone" in data:
        try:
            kwargs["time_zone"] = zone(data["time_zone"])
        except InvalidValueError as exc:
            raise InvalidValueError("settings.time_zone", exc.value, exc.problem) from None
    if "limits" in data:
        kwargs["limits"] = _limits_from_dict(as_mapping("settings.limits", data["limits"]))
    if "mode" in data:
        try:
            kwargs["mode"] = Mode(data["mode"])
        except ValueError:
            raise InvalidValueError(
                "settings.mode", data["mode"], f"must be one of {', '.join(Mode)}"
            ) from None
    if "coded_call_types" in data and not isinstance(data["coded_call_types"], list):
        raise InvalidValueError(
            "settings.coded_call_types", data["coded_call_types"], "must be a list of call types"
        )
    if "min_levels" in data:
        kwargs["min_levels"] = as_mapping("settings.min_levels", data["min_levels"])
    if "lockout" in data:
        kwargs["lockout"] = _lockout_from_dict(as_mapping("settings.lockout", data["lockout"]))
    if users is not None:
        check_keys("users", users, ("mandatory", "optional"))
        for kind in ("mandatory", "optional"):
            if kind in users:
                kwargs[f"{kind}_users"] = _user_list(f"users.{kind}", users[kind])
    try:
        return GroupSettings(**kwargs)
    except InvalidValueError as exc:
        where = _USER_FIELDS.get(exc.field, f"settings.{exc.field}")
        raise InvalidValueError(where, exc.value, exc.problem) from None


# -- entries --------------------------------------------------------------------------------------


def _same(when: datetime) -> object:
    return when


def _no_text(_where: str, value: object) -> Any:
    return None if value == "" else value


def entry_to_dict(
    entry: CodeEntry, *, time: Callable[[datetime], object] = _same
) -> dict[str, Any]:
    """An entry as plain values; fields at their default are left out.

    Times are given to *time* (by default they stay datetimes): a file format passes its own
    way of writing them.
    """
    data: dict[str, Any] = {"code": entry.code}
    if entry.description is not None:
        data["description"] = entry.description
    if entry.level:
        data["level"] = entry.level
    if entry.valid_from is not None:
        data["valid_from"] = time(entry.valid_from)
    if entry.valid_until is not None:
        data["valid_until"] = time(entry.valid_until)
    if entry.max_uses is not None:
        data["max_uses"] = entry.max_uses
    if entry.hours is not None:
        data["hours"] = str(entry.hours)
    return data


def entry_from_dict(
    data: Mapping[str, Any], *, time: Callable[[str, object], datetime | None] = _no_text
) -> CodeEntry:
    """Build an entry from plain values, refused as the model refuses it (naming the field).

    *time* turns the value of ``valid_from`` or ``valid_until`` (with the key's name) into a
    datetime or None; by default an empty string is None and anything else goes to the model.
    """
    check_keys("code", data, ENTRY_FIELDS)
    if "code" not in data:
        raise InvalidValueError("code", None, "each entry needs its code")
    return CodeEntry(
        data["code"],
        data.get("description"),
        level=data.get("level", 0),
        valid_from=time("valid_from", data.get("valid_from")),
        valid_until=time("valid_until", data.get("valid_until")),
        max_uses=data.get("max_uses"),
        hours=data.get("hours"),
    )


# -- entries from trusted rows --------------------------------------------------------------------


def entry_reader(
    time: Callable[[Any], datetime] | None = None,
) -> Callable[..., CodeEntry]:
    """A reader of trusted rows, ``(code, description, level, valid_from, valid_until, ...)``.

    The row ends with ``max_uses`` and then ``hours`` (text; left out: None). The entry is
    built without validation: only for rows that were validated when they were written.
    *time* turns a stored time into an aware datetime (None: they are datetimes). Repeated
    descriptions are shared, which saves their memory when many codes carry one.
    Runtime complexity: O(1) per row.
    """
    set_code, set_description, set_level, set_from, set_until, set_max, set_hours = ENTRY_SETTERS
    shared: dict[str, str] = {}
    share = shared.setdefault
    parse: Callable[[Any], Any] = time if time is not None else _same

    def read(  # noqa: PLR0917  # called by itertools.starmap with a row's columns
        code: str,
        description: str | None,
        level: int,
        valid_from: Any,
        valid_until: Any,
        max_uses: int | None,
        hours: str | None = None,
    ) -> CodeEntry:
        entry = _NEW(CodeEntry)
        set_code(entry, code)
        set_description(entry, None if description is None else share(description, description))
        set_level(entry, level)
        set_from(entry, None if valid_from is None else parse(valid_from))
        set_until(entry, None if valid_until is None else parse(valid_until))
        set_max(entry, max_uses)
        set_hours(entry, None if hours is None else parse_hours(hours))
        return entry

    return read


def pair_reader() -> Callable[[str, str], CodeEntry]:
    """A reader of ``(code, description)`` text pairs that reads them as the model would.

    An empty description is none. A pair that passes the model's own checks (``is_code`` and
    the length bounds for the code, ``description_problem`` for the description, remembered per
    distinct description) is built without running the validators again, at a third of the
    cost; any other goes through ``CodeEntry``, which refuses it with the model's error.
    Runtime complexity: O(len(code)) per pair, plus O(len(description)) per distinct one.
    """
    problems: dict[str, str | None] = {}
    shared: dict[str, str] = {}
    share = shared.setdefault

    def read(code: str, description: str) -> CodeEntry:
        problem = None
        if description:
            try:
                problem = problems[description]
            except KeyError:
                problem = description_problem(description)
                if len(problems) < _REMEMBERED:
                    problems[description] = problem
        if problem is None and MIN_CODE_LENGTH <= len(code) <= MAX_CODE_LENGTH and is_code(code):
            return plain_entry(code, share(description, description) if description else None)
        return CodeEntry(code, description)

    return read
