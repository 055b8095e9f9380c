"""The policy model: immutable, validated value types and the enums they use.

Everything here is an ``attrs`` frozen class or an enum. A value that exists is valid: validation
runs when it is built and raises :class:`~callcodes.InvalidValueError` naming the field and value.
No I/O and no clock: times are passed in by the caller as timezone-aware datetimes.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

import attrs

from .._errors import InvalidValueError
from ._validate import (
    DIGITS,
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_LEVEL,
    MAX_USES,
    MIN_CODE_LENGTH,
    check_aware,
    check_bool,
    check_code,
    check_description,
    check_group,
    check_int,
    check_text,
    description_problem,
    empty_to_none,
    is_code,
    member,
    positive_duration,
    to_users,
)
from .hours import Hours, check_zone, parse_hours
from .limits import Limits, Redirect

__all__ = [
    "DIGITS",
    "MAX_CODE_LENGTH",
    "MAX_DESCRIPTION_LENGTH",
    "MIN_CODE_LENGTH",
    "OUTSIDE_CALL_TYPES",
    "Call",
    "CallType",
    "CodeEntry",
    "Decision",
    "GroupSettings",
    "Hours",
    "Limits",
    "Lock",
    "Lockout",
    "Mode",
    "Need",
    "Reason",
    "Redirect",
    "Requirement",
    "Verdict",
    "description_problem",
    "is_code",
]


class Mode(enum.StrEnum):
    """Which code feature a group has on; one value, so a group never has both (BroadWorks)."""

    ACCOUNT = "account"
    AUTHORIZATION = "authorization"
    DEACTIVATED = "deactivated"


class CallType(enum.StrEnum):
    """What kind of call the softswitch (or a dial plan) says this is."""

    EMERGENCY = "emergency"
    INTERNAL = "internal"
    ENTERPRISE = "enterprise"
    LOCAL = "local"
    TOLL_FREE = "toll_free"
    NATIONAL = "national"
    INTERNATIONAL = "international"
    PREMIUM = "premium"
    OPERATOR = "operator"
    DIRECTORY_ASSISTANCE = "directory_assistance"
    UNKNOWN = "unknown"


#: Every call type that leaves the group: by default each of them needs a code.
OUTSIDE_CALL_TYPES: Final = frozenset(CallType) - {CallType.EMERGENCY, CallType.INTERNAL}


class Verdict(enum.StrEnum):
    """What happens to the call."""

    ALLOW = "allow"
    BLOCK = "block"
    LOG_ONLY = "log_only"


class Reason(enum.StrEnum):
    """Why; one member per outcome, so reports and SIP reason phrases can be precise."""

    EMERGENCY = "emergency"
    NOT_ENABLED = "not enabled"
    INTERNAL_CALL = "internal call"
    EXEMPT_CALL_TYPE = "exempt call type"
    NOT_ENROLLED = "user not enrolled"
    NO_CODE_OPTIONAL = "no code (optional)"
    ACCOUNT_CODE = "account code"
    MISSING_CODE = "missing code"
    MALFORMED_CODE = "malformed code"
    LOCKED_OUT = "locked out"
    AUTHORIZED = "authorized"
    INVALID_CODE = "invalid code"
    NOT_YET_VALID = "code not yet valid"
    EXPIRED = "code expired"
    VALIDITY_UNKNOWN = "code validity unknown"
    USED_UP = "code used up"
    LEVEL_TOO_LOW = "code level too low"
    SUSPENDED = "code suspended"
    OUTSIDE_HOURS = "outside allowed hours"
    CALLS_LIMIT = "code call limit reached"
    USERS_LIMIT = "code user limit reached"
    COSTLY_LIMIT = "code costly-call limit reached"
    USER_COSTLY_LIMIT = "user costly-call limit reached"
    CONCURRENT_LIMIT = "code concurrent-call limit reached"
    REDIRECT_ALLOWED = "redirected call allowed"
    REDIRECT_BLOCKED = "redirected call blocked"


class Need(enum.StrEnum):
    """Whether the softswitch should collect a code before the call proceeds."""

    NONE = "none"
    OPTIONAL = "optional"
    MANDATORY = "mandatory"


def _to_entry_hours(value: object) -> Hours | None:
    return None if value is None or value == "" else parse_hours(value)


@attrs.frozen(weakref_slot=False)
class CodeEntry:
    """One code on a group's list.

    ``level`` (0-255) is checked against the group's minimum level for the call type (Cisco FAC).
    The code is valid from ``valid_from`` (inclusive) until ``valid_until`` (exclusive), may
    authorize at most ``max_uses`` calls, and only within ``hours`` (read in the group's time
    zone) when given. Leading zeros matter: ``"0042"`` is not ``"42"``.
    """

    code: str = attrs.field(validator=check_code)
    description: str | None = attrs.field(
        default=None, converter=empty_to_none, validator=check_description
    )
    level: int = attrs.field(default=0, validator=check_int(0, MAX_LEVEL), kw_only=True)
    valid_from: datetime | None = attrs.field(default=None, validator=check_aware, kw_only=True)
    valid_until: datetime | None = attrs.field(default=None, validator=check_aware, kw_only=True)
    max_uses: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(check_int(1, MAX_USES)),
        kw_only=True,
    )
    hours: Hours | None = attrs.field(default=None, converter=_to_entry_hours, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_from >= self.valid_until
        ):
            raise InvalidValueError(
                "valid_until", self.valid_until, f"must be later than valid_from {self.valid_from}"
            )

    @property
    def limited(self) -> bool:
        """True when the entry has a validity window, a use limit or hours to check on a call."""
        return (
            self.valid_from is not None
            or self.valid_until is not None
            or self.max_uses is not None
            or self.hours is not None
        )


def _to_mode(value: Mode | str) -> Mode:
    return member(Mode, "mode", value)


def to_call_type(value: CallType | str) -> CallType:
    return member(CallType, "call_type", value)


def _to_call_type_set(value: Iterable[CallType | str]) -> frozenset[CallType]:
    return frozenset(member(CallType, "coded_call_types", v) for v in value)


def _to_min_levels(value: Mapping[CallType | str, int]) -> Mapping[CallType, int]:
    if not isinstance(value, Mapping):
        raise InvalidValueError("min_levels", value, "must map call types to levels")
    levels = {member(CallType, "min_levels", k): v for k, v in value.items()}
    for call_type, level in levels.items():
        if type(level) is not int or not 0 <= level <= MAX_LEVEL:
            raise InvalidValueError(
                f"min_levels[{call_type.value}]", level, f"must be an integer from 0 to {MAX_LEVEL}"
            )
    return types.MappingProxyType(levels)


@attrs.frozen(weakref_slot=False)
class Lockout:
    """When repeated bad authorization entries lock a user or a whole group (toll-fraud guard).

    A user is locked after ``user_attempts`` invalid entries within ``user_window``; the group
    after ``group_attempts`` within ``group_window``. A lock lasts ``lock_for``, or until an
    administrator unlocks when ``lock_for`` is ``None``. Defaults follow Avaya's example of
    10 bad entries in 3 minutes.
    """

    user_attempts: int = attrs.field(default=10, validator=check_int(1, 1000))
    user_window: timedelta = attrs.field(default=timedelta(minutes=3), validator=positive_duration)
    group_attempts: int = attrs.field(default=50, validator=check_int(1, 100_000))
    group_window: timedelta = attrs.field(
        default=timedelta(minutes=10), validator=positive_duration
    )
    lock_for: timedelta | None = attrs.field(
        default=timedelta(minutes=30), validator=positive_duration
    )


def _to_hours(value: Mapping[CallType | str, Hours | str]) -> Mapping[CallType, Hours]:
    if not isinstance(value, Mapping):
        raise InvalidValueError("hours", value, "must map call types to allowed hours")
    hours: dict[CallType, Hours] = {}
    for key, when in value.items():
        call_type = member(CallType, "hours", key)
        if call_type in (CallType.EMERGENCY, CallType.INTERNAL):
            raise InvalidValueError("hours", key, "emergency and internal calls have no hours")
        try:
            hours[call_type] = parse_hours(when)
        except InvalidValueError as exc:
            raise InvalidValueError(f"hours[{call_type.value}]", when, exc.problem) from None
    return types.MappingProxyType(hours)


def _to_redirect(value: Redirect | str) -> Redirect:
    return member(Redirect, "redirect", value)


def _check_limits(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Limits):
        raise InvalidValueError(attribute.name, value, "must be a Limits")


def _check_lockout(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Lockout):
        raise InvalidValueError(attribute.name, value, "must be a Lockout")


_CODE_PREFIX_CHARS: Final = frozenset("0123456789*#")


def _check_code_prefix(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 8
        or not _CODE_PREFIX_CHARS.issuperset(value)
        or value[0] not in "*#"
    ):
        raise InvalidValueError(
            attribute.name,
            value,
            "a code prefix is a feature access code: '*' or '#' then up to 7 of 0-9, * and #",
        )


@attrs.frozen(weakref_slot=False, hash=False)
class GroupSettings:
    """One group's code policy (BroadWorks account/authorization code settings, and more).

    ``coded_call_types`` are the call types that need a code (default: every type that leaves the
    group); ``allow_local_and_toll_free`` is the BroadWorks shortcut that exempts LOCAL and
    TOLL_FREE on top. ``min_levels`` maps a call type to the lowest code level that may authorize
    it. ``code_prefix`` is the feature access code for entering a code inline with the number.

    Against stolen codes and call forwarding: ``hours`` maps a call type to the
    :class:`~callcodes.core.hours.Hours` when a code may authorize it, read in ``time_zone``
    (a ``zoneinfo.ZoneInfo``, or UTC); ``limits`` bounds how often codes are used in a sliding
    window; ``redirect`` is what a redirected leg gets when a code would be needed.
    """

    mode: Mode = attrs.field(default=Mode.DEACTIVATED, converter=_to_mode)
    code_length: int = attrs.field(default=4, validator=check_int(MIN_CODE_LENGTH, MAX_CODE_LENGTH))
    allow_local_and_toll_free: bool = attrs.field(default=False, validator=check_bool)
    mandatory_users: frozenset[str] = attrs.field(default=frozenset(), converter=to_users)
    optional_users: frozenset[str] = attrs.field(default=frozenset(), converter=to_users)
    max_attempts: int = attrs.field(default=2, validator=check_int(1, 10))
    coded_call_types: frozenset[CallType] = attrs.field(
        default=OUTSIDE_CALL_TYPES, converter=_to_call_type_set
    )
    min_levels: Mapping[CallType, int] = attrs.field(factory=dict, converter=_to_min_levels)
    lockout: Lockout = attrs.field(factory=Lockout, validator=_check_lockout)
    code_prefix: str = attrs.field(default="*71", validator=_check_code_prefix)
    hours: Mapping[CallType, Hours] = attrs.field(factory=dict, converter=_to_hours)
    time_zone: tzinfo = attrs.field(default=UTC, validator=check_zone)
    limits: Limits = attrs.field(factory=Limits, validator=_check_limits)
    redirect: Redirect = attrs.field(default=Redirect.BLOCK, converter=_to_redirect)

    def __attrs_post_init__(self) -> None:
        both = self.mandatory_users & self.optional_users
        if both:
            raise InvalidValueError(
                "optional_users",
                sorted(both),
                "a user is on at most one list; remove these from mandatory_users or "
                "optional_users",
            )
        inside = self.coded_call_types & {CallType.EMERGENCY, CallType.INTERNAL}
        if inside:
            raise InvalidValueError(
                "coded_call_types",
                sorted(inside),
                "emergency and internal calls never need a code",
            )

    def needs_code(self, call_type: CallType) -> bool:
        """Tell whether a call of this type is subject to codes under these settings."""
        if self.allow_local_and_toll_free and call_type in (CallType.LOCAL, CallType.TOLL_FREE):
            return False
        return call_type in self.coded_call_types


@attrs.frozen(weakref_slot=False)
class Call:
    """An outside call as the softswitch describes it, before any code is judged.

    ``redirected`` says that *user* (of the group) forwarded or transferred the call and this
    is the new outside leg: *user*'s policy applies, and the group's ``redirect`` setting says
    what the leg gets when a code would be needed.
    """

    group: str = attrs.field(validator=check_group)
    user: str = attrs.field(validator=check_text)
    dialed: str = attrs.field(validator=check_text)
    call_type: CallType = attrs.field(converter=to_call_type)
    call_id: str | None = attrs.field(default=None, validator=attrs.validators.optional(check_text))
    redirected: bool = attrs.field(default=False, validator=check_bool, kw_only=True)


@attrs.frozen(weakref_slot=False)
class Requirement:
    """What the softswitch should do before the call proceeds: prompt or not, and for how much.

    ``digits`` is the number of digits to collect (0 when no code is asked for). ``reason`` is
    the reason ``decide`` would give for a call without a code when ``need`` is NONE.
    """

    need: Need
    digits: int
    max_attempts: int
    reason: Reason | None = None


@attrs.frozen(weakref_slot=False)
class Decision:
    """The outcome of one entry (or of no entry) on one call.

    ``verdict`` is what happens to the call if the caller does not try again; ``retry`` is true
    when the entry was rejected and another attempt is allowed. ``entry`` is the matched code
    entry when the code is on the group's list.
    """

    verdict: Verdict
    reason: Reason
    entry: CodeEntry | None = None
    retry: bool = False


@attrs.frozen(weakref_slot=False)
class Lock:
    """A toll-fraud lock on one user (``user`` set) or on a whole group (``user`` is None).

    The lock holds from ``since`` until ``until`` (exclusive), or until an administrator unlocks
    when ``until`` is None.
    """

    group: str = attrs.field(validator=check_group)
    user: str | None = attrs.field(validator=attrs.validators.optional(check_text))
    since: datetime = attrs.field(validator=check_aware)
    until: datetime | None = attrs.field(default=None, validator=check_aware)

    def active(self, now: datetime | None) -> bool:
        """Tell whether the lock holds at *now*; without a time, a timed lock is assumed to hold."""
        return self.until is None or now is None or now < self.until
