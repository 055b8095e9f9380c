"""The decision: the pure functions that apply the rule table to a call.

The verdicts and reasons come from ``RULES`` (``rules.py``); the conditions are tested here in
one function, in row order, first match wins, each branch naming its row. Evaluating a
predicate per row would cost a Python call per rule on every call, more than the whole decision.

Nothing here does I/O, reads the clock or changes the book.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from .._errors import InvalidValueError
from .book import CodeBook, _Group
from .limits import Redirect
from .model import (
    Call,
    CallType,
    CodeEntry,
    Decision,
    GroupSettings,
    Mode,
    Need,
    Reason,
    Requirement,
    Verdict,
    is_code,
)
from .rules import RULES
from .stored import outcome_of

__all__ = ["decide", "requirement"]


def _outcomes() -> dict[tuple[Verdict, Reason, bool], Decision]:
    """Every decision without a code entry, built once from the table and shared."""
    built = {}
    for rule in RULES:
        for reason in rule.reasons:
            for retry in (False, True) if rule.retry else (False,):
                built[rule.verdict, reason, retry] = Decision(rule.verdict, reason, None, retry)
    return built


_OUTCOME: Final = _outcomes()
_ALLOW: Final = Verdict.ALLOW
_BLOCK: Final = Verdict.BLOCK
_LOG: Final = Verdict.LOG_ONLY
_EMERGENCY: Final = _OUTCOME[_ALLOW, Reason.EMERGENCY, False]
_NOT_ENABLED: Final = _OUTCOME[_ALLOW, Reason.NOT_ENABLED, False]
_INTERNAL: Final = _OUTCOME[_ALLOW, Reason.INTERNAL_CALL, False]
_EXEMPT: Final = _OUTCOME[_ALLOW, Reason.EXEMPT_CALL_TYPE, False]
_NOT_ENROLLED: Final = _OUTCOME[_ALLOW, Reason.NOT_ENROLLED, False]
_NO_CODE_OPTIONAL: Final = _OUTCOME[_ALLOW, Reason.NO_CODE_OPTIONAL, False]
_ACCOUNT_UNLISTED: Final = _OUTCOME[_LOG, Reason.ACCOUNT_CODE, False]
_LOCKED: Final = _OUTCOME[_BLOCK, Reason.LOCKED_OUT, False]
_REDIRECT_ALLOWED: Final = _OUTCOME[_ALLOW, Reason.REDIRECT_ALLOWED, False]
_REDIRECT_BLOCKED: Final = _OUTCOME[_BLOCK, Reason.REDIRECT_BLOCKED, False]
# Module constants, not ``Mode.ACCOUNT``: reading an enum member through its class costs
# about 70 ns on CPython 3.11, a tenth of the whole decision.
_EMERGENCY_CALL: Final = CallType.EMERGENCY
_INTERNAL_CALL: Final = CallType.INTERNAL
_ACCOUNT: Final = Mode.ACCOUNT
_DEACTIVATED: Final = Mode.DEACTIVATED
_MISSING: Final = Reason.MISSING_CODE
_MALFORMED: Final = Reason.MALFORMED_CODE


def decide(
    book: CodeBook,
    call: Call,
    code: str | None = None,
    attempt: int = 1,
    *,
    now: datetime | None = None,
) -> Decision:
    """Judge one entry (or no entry: ``code=None``) on one call, by the rule table.

    Pure: changes nothing, does no I/O, never reads the clock. *now* (timezone-aware) is needed
    to judge timed locks and codes with a validity window; without it a timed lock is taken to
    hold and a windowed code is refused (``VALIDITY_UNKNOWN``). An empty string counts as no
    code. *attempt* is 1 for the first entry on the call. Runtime complexity: O(1).
    """
    call_type = call.call_type
    if call_type is _EMERGENCY_CALL:  # rule 1, before anything that could fail
        return _EMERGENCY
    if attempt.__class__ is not int or attempt < 1:
        raise InvalidValueError("attempt", attempt, "the first entry on a call is attempt 1")
    if code == "":
        code = None
    found = book._groups.get(call.group)
    if found is None:
        return _NOT_ENABLED  # rule 2
    settings = found.settings
    mode = settings.mode
    if mode is _DEACTIVATED:
        return _NOT_ENABLED  # rule 2
    if call_type is _INTERNAL_CALL:
        return _INTERNAL  # rule 3
    if call_type not in found.coded:
        return _EXEMPT  # rule 4
    user = call.user
    if user in settings.mandatory_users:
        optional = False
    elif user in settings.optional_users:
        optional = True
    else:
        if call.redirected and _exempt_only(settings):
            return _REDIRECT_BLOCKED  # rule 11
        return _NOT_ENROLLED  # rule 5
    if code is None and optional:
        if call.redirected and _exempt_only(settings):
            return _REDIRECT_BLOCKED  # rule 11
        return _NO_CODE_OPTIONAL  # rule 6
    retry = attempt < settings.max_attempts
    if mode is _ACCOUNT:
        if type(code) is str:
            listed = found.codes.get(code)
            if listed is not None:
                # outcome_of makes the same test; made here, the usual book saves the call.
                if type(listed) is Decision:
                    return listed  # rule 7, with the entry
                return outcome_of(found.verdict, found.reason, code, listed)  # rule 7: plain
            if is_code(code, settings.code_length):
                return _ACCOUNT_UNLISTED  # rule 7
            return _OUTCOME[_LOG, _MALFORMED, retry]  # rule 8
        if code is None:  # nobody can enter a code on a redirected leg: no retry
            return _OUTCOME[_LOG, _MISSING, retry and not call.redirected]  # rule 8
        return _OUTCOME[_LOG, _MALFORMED, retry]  # rule 8
    if (found.group_lock is not None or found.user_locks) and _locked(found, user, now):
        return _LOCKED  # rule 9
    if type(code) is not str:
        if code is None and call.redirected:
            return _redirected(settings, call_type, now)  # rule 10 or 11
        return _OUTCOME[_BLOCK, _MISSING if code is None else _MALFORMED, retry]  # rule 11
    kept = found.codes.get(code)
    if kept is None:
        well_formed = is_code(code, settings.code_length)
        reason = Reason.INVALID_CODE if well_formed else _MALFORMED
        return _OUTCOME[_BLOCK, reason, retry]  # rule 11
    listed = kept if type(kept) is Decision else outcome_of(found.verdict, found.reason, code, kept)
    # The entry is read only when there is something to check: most calls never touch it.
    if found.limited and code in found.limited:
        refusal = _limit_refusal(found, listed.entry, now)  # type: ignore[arg-type]
        if refusal is not None:
            return _OUTCOME[_BLOCK, refusal, retry]  # rule 11
    # One flag for the group's per-call-type checks (levels, hours): most groups have none.
    if found.checks:
        if settings.min_levels and listed.entry.level < settings.min_levels.get(call_type, 0):  # type: ignore[union-attr]
            return _OUTCOME[_BLOCK, Reason.LEVEL_TOO_LOW, retry]  # rule 11
        refusal = _hours_refusal(settings, call_type, now)
        if refusal is not None:
            return _OUTCOME[_BLOCK, refusal, retry]  # rule 11
    return listed  # rule 10


def _locked(found: _Group, user: str, now: datetime | None) -> bool:
    group_lock = found.group_lock
    if group_lock is not None and group_lock.active(now):
        return True
    user_lock = found.user_locks.get(user)
    return user_lock is not None and user_lock.active(now)


def _exempt_only(settings: GroupSettings) -> bool:
    return settings.mode is Mode.AUTHORIZATION and settings.redirect is Redirect.EXEMPT_ONLY


def _hours_refusal(
    settings: GroupSettings, call_type: CallType, now: datetime | None
) -> Reason | None:
    hours = settings.hours.get(call_type)
    if hours is None:
        return None
    if now is None:
        return Reason.VALIDITY_UNKNOWN
    return None if hours.allows(now, settings.time_zone) else Reason.OUTSIDE_HOURS


def _redirected(settings: GroupSettings, call_type: CallType, now: datetime | None) -> Decision:
    """A redirected leg without a code, whose redirecting user would need one: never a retry."""
    if settings.redirect is not Redirect.ALLOW:
        return _REDIRECT_BLOCKED
    refusal = _hours_refusal(settings, call_type, now)
    if refusal is not None:
        return _OUTCOME[_BLOCK, refusal, False]
    return _REDIRECT_ALLOWED


def _limit_refusal(found: _Group, entry: CodeEntry, now: datetime | None) -> Reason | None:
    if entry.code in found.suspended:
        return Reason.SUSPENDED
    if entry.hours is not None:
        if now is None:
            return Reason.VALIDITY_UNKNOWN
        if not entry.hours.allows(now, found.settings.time_zone):
            return Reason.OUTSIDE_HOURS
    if entry.valid_from is not None or entry.valid_until is not None:
        if now is None:
            return Reason.VALIDITY_UNKNOWN
        if entry.valid_from is not None and now < entry.valid_from:
            return Reason.NOT_YET_VALID
        if entry.valid_until is not None and now >= entry.valid_until:
            return Reason.EXPIRED
    if entry.max_uses is not None and found.uses.get(entry.code, 0) >= entry.max_uses:
        return Reason.USED_UP
    return None


def requirement(book: CodeBook, call: Call, *, now: datetime | None = None) -> Requirement:
    """Tell, before any code is entered, whether to prompt and for how many digits.

    ``need`` is MANDATORY (prompt), OPTIONAL (the user may enter a code with the code prefix) or
    NONE (do not prompt; ``reason`` is then what ``decide`` answers without a code, which is
    LOCKED_OUT, a block, for a locked-out mandatory user). Pure; runtime complexity: O(1).
    """
    decision = decide(book, call, None, now=now)
    if decision.reason is not Reason.MISSING_CODE and decision.reason is not (
        Reason.NO_CODE_OPTIONAL
    ):
        return Requirement(Need.NONE, 0, 0, decision.reason)
    found = book._groups.get(call.group)
    if found is None:  # removed since the decision above
        return Requirement(Need.NONE, 0, 0, Reason.NOT_ENABLED)
    settings = found.settings
    need = Need.OPTIONAL if decision.reason is Reason.NO_CODE_OPTIONAL else Need.MANDATORY
    return Requirement(need, settings.code_length, settings.max_attempts, None)
