"""Use limits against stolen codes, and what a redirected leg gets: two settings of a group.

:class:`Limits` bounds, within one sliding window, how a code may be used: calls per code,
distinct users per code, international and premium ("costly") calls per code and per user, and
calls in progress at once per code (when the softswitch reports call ends). Each is off (None)
by default. Reaching one blocks the call with its own reason; with ``suspend`` it also suspends
the code until an administrator restores it. The counting is in ``usage.py``; this module is
the settings alone. Pure: no I/O, no clock.

:class:`Redirect` is what a redirected (forwarded or transferred) leg gets when its redirecting
user's policy would ask for a code that nobody can enter.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Any, Final

import attrs

from ._validate import MAX_USES, check_bool, check_int, positive_duration

__all__ = ["LIMIT_FIELDS", "Limits", "Redirect"]

#: The counted limits, by field name: each is off when None.
LIMIT_FIELDS: Final = (
    "calls_per_code",
    "users_per_code",
    "costly_per_code",
    "costly_per_user",
    "concurrent_per_code",
)


class Redirect(enum.StrEnum):
    """What a redirected leg gets when its redirecting user would need a code.

    BLOCK: what the user gets without a code (a block when a code is needed): the safe default.
    ALLOW: allowed where the user could dial with a code. EXEMPT_ONLY: only call types that
    need no code in the group, whoever redirected.
    """

    BLOCK = "block"
    ALLOW = "allow"
    EXEMPT_ONLY = "exempt_only"


def _optional_count(high: int) -> Any:
    return attrs.validators.optional(check_int(1, high))


@attrs.frozen(weakref_slot=False)
class Limits:
    """Per-code and per-user use limits over a sliding ``window`` (default one hour).

    ``calls_per_code``: authorized calls per code; ``users_per_code``: distinct users per code;
    ``costly_per_code`` / ``costly_per_user``: international and premium calls per code and per
    user; ``concurrent_per_code``: calls of one code in progress at once (counted only where the
    softswitch reports call ends). ``suspend``: reaching a per-code limit also suspends the
    code until an administrator restores it. All off by default.
    """

    window: timedelta = attrs.field(default=timedelta(hours=1), validator=positive_duration)
    calls_per_code: int | None = attrs.field(default=None, validator=_optional_count(MAX_USES))
    users_per_code: int | None = attrs.field(default=None, validator=_optional_count(100_000))
    costly_per_code: int | None = attrs.field(default=None, validator=_optional_count(MAX_USES))
    costly_per_user: int | None = attrs.field(default=None, validator=_optional_count(MAX_USES))
    concurrent_per_code: int | None = attrs.field(default=None, validator=_optional_count(100_000))
    suspend: bool = attrs.field(default=False, validator=check_bool)
    #: True when at least one limit is on (computed once: the engine asks on every call).
    active: bool = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        active = any(getattr(self, name) is not None for name in LIMIT_FIELDS)
        object.__setattr__(self, "active", active)
