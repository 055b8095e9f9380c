"""Throttled logins: the login policy, failures counted per account name and per source, locks.

Every way of signing in to the service (a password, a token's login, OCI-P's signed password)
goes through these rules, so a name or a source that fails too often is locked whichever way it
tries. Each failure and each lock is one audit record, naming the account name and the source
as a record shows them (escaped and cut when odd or long); failures are counted under the text
itself, or the SHA-256 digest of a long or odd one, so a flood of huge names stores nothing big.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol

import attrs

from .._errors import InvalidValueError, show
from ..core._validate import name_problem
from .audit import Action

if TYPE_CHECKING:
    from .writes import Recorder

__all__ = ["NAME", "SOURCE", "LoginPolicy", "ThrottleRows", "count_failure", "key", "refusal"]

NAME: Final = "name"
SOURCE: Final = "source"


def _count(_i: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or not 1 <= value <= 1_000_000:
        raise InvalidValueError(attribute.name, value, "must be a whole number from 1 to 1000000")


def _duration(_i: object, attribute: attrs.Attribute[timedelta], value: object) -> None:
    if not isinstance(value, timedelta) or not timedelta(0) < value <= timedelta(days=366):
        raise InvalidValueError(
            attribute.name, value, "must be a duration of more than 0 seconds and at most 366 days"
        )


@attrs.frozen
class LoginPolicy:
    """How logins are throttled, and how long a session lasts."""

    max_failures: int = attrs.field(default=5, validator=_count)  # per name -> name locked
    max_source_failures: int = attrs.field(default=20, validator=_count)  # per source
    window: timedelta = attrs.field(default=timedelta(minutes=15), validator=_duration)
    lock_for: timedelta = attrs.field(default=timedelta(minutes=15), validator=_duration)
    session_ttl: timedelta = attrs.field(default=timedelta(hours=8), validator=_duration)


class ThrottleRows(Protocol):
    """What a backend does for failed logins and locks inside one of the store's transactions."""

    def add_failure(self, kind: str, key: str, at: datetime) -> None: ...  # noqa: D102
    def failures(self, kind: str, key: str, since: datetime) -> int: ...  # noqa: D102
    def clear_failures(self, kind: str, key: str) -> None: ...  # noqa: D102
    def forget(self, before: datetime) -> None: ...  # noqa: D102
    def lock_until(self, kind: str, key: str) -> datetime | None: ...  # noqa: D102
    def put_lock(self, kind: str, key: str, until: datetime) -> None: ...  # noqa: D102


def key(value: str) -> str:
    """What failures of *value* are counted under: itself, or a digest of a long or odd one."""
    if name_problem(value, "", 161) is None:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def shown(value: str) -> str:
    """*value* as a record or a message shows it: itself when short and plain, else escaped."""
    return value if name_problem(value, "", 60) is None else show(value)


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def refusal(
    rows: ThrottleRows | None, keys: dict[str, str], names: dict[str, str], now: datetime
) -> str | None:
    """The refusal while the name or the source (*keys*, shown as *names*) is locked, or None."""
    if rows is None:
        return None
    ends = {kind: rows.lock_until(kind, key) for kind, key in keys.items()}
    held = [(until, kind) for kind, until in ends.items() if until is not None and until > now]
    if not held:
        return None
    until, kind = max(held)
    return (
        f"login refused: too many failed logins for {names[kind]}: try again after {_when(until)}"
    )


def count_failure(
    rows: ThrottleRows,
    record: Recorder,
    keys: dict[str, str],
    names: dict[str, str],
    *,
    now: datetime,
    policy: LoginPolicy,
) -> None:
    """Count a failed login for the name and the source; lock either at its limit."""
    since = now - policy.window
    rows.forget(since)
    record("", Action.LOGIN_FAILED, {"name": names[NAME], "source": names[SOURCE]})
    limits = {NAME: policy.max_failures, SOURCE: policy.max_source_failures}
    for kind, counted in keys.items():
        rows.add_failure(kind, counted, now)
        count = rows.failures(kind, counted, since)
        if count >= limits[kind]:
            until = now + policy.lock_for
            rows.put_lock(kind, counted, until)
            rows.clear_failures(kind, counted)  # after the lock, a fresh count
            record(
                "",
                Action.LOGIN_LOCKED,
                {kind: names[kind], "failures": count, "until": until.isoformat()},
            )
