"""The decision's rule table as data: when each row applies, its verdict, the reasons it gives.

The decision (``decide.py``) and the code book (``book.py``, which stores the outcome of each
listed code) build their outcomes from this table; docs/design.md renders it; the tests walk it.
"""

from __future__ import annotations

from typing import Final

import attrs

from .._errors import InvalidValueError
from .model import CodeEntry, Decision, Mode, Reason, Verdict

__all__ = ["RULES", "Rule", "listed_outcome", "rule_for"]


@attrs.frozen
class Rule:
    """One row of the decision table: when it applies, the verdict, the reasons it can give."""

    number: int
    when: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    retry: bool = False  # whether a rejection under this rule may be retried while attempts remain


R = Reason
RULES: Final = (
    Rule(1, "call type is EMERGENCY", Verdict.ALLOW, (R.EMERGENCY,)),
    Rule(2, "group unknown or mode DEACTIVATED", Verdict.ALLOW, (R.NOT_ENABLED,)),
    Rule(3, "call type is INTERNAL", Verdict.ALLOW, (R.INTERNAL_CALL,)),
    Rule(
        4,
        "call type needs no code: not in coded_call_types, or LOCAL / TOLL_FREE with "
        "allow_local_and_toll_free",
        Verdict.ALLOW,
        (R.EXEMPT_CALL_TYPE,),
    ),
    Rule(
        5,
        "user on neither list (not a redirected leg under AUTHORIZATION mode with redirect "
        "exempt_only)",
        Verdict.ALLOW,
        (R.NOT_ENROLLED,),
    ),
    Rule(
        6,
        "optional user and no code entered (not a redirected leg under AUTHORIZATION mode with "
        "redirect exempt_only)",
        Verdict.ALLOW,
        (R.NO_CODE_OPTIONAL,),
    ),
    Rule(
        7,
        "ACCOUNT mode, well-formed code (entry attached when it is on the list)",
        Verdict.LOG_ONLY,
        (R.ACCOUNT_CODE,),
    ),
    Rule(
        8,
        "ACCOUNT mode, no code or malformed code (no code recorded)",
        Verdict.LOG_ONLY,
        (R.MISSING_CODE, R.MALFORMED_CODE),
        retry=True,
    ),
    Rule(9, "AUTHORIZATION mode, user or group locked out", Verdict.BLOCK, (R.LOCKED_OUT,)),
    Rule(
        10,
        "AUTHORIZATION mode, code on the list and not suspended, inside its validity window and "
        "the call type's hours, with uses left and a level at least the call type's minimum; or "
        "a redirected leg without a code, redirect allow, inside the call type's hours",
        Verdict.ALLOW,
        (R.AUTHORIZED, R.REDIRECT_ALLOWED),
    ),
    Rule(
        11,
        "AUTHORIZATION mode, anything else: no code, malformed, not on the list, not yet valid, "
        "expired, validity unknown (no time given), used up, level too low, suspended, outside "
        "the call type's hours, a redirected leg that would need a code; or a use limit "
        "reached (counted by the engine after the decision)",
        Verdict.BLOCK,
        (
            R.MISSING_CODE,
            R.MALFORMED_CODE,
            R.INVALID_CODE,
            R.NOT_YET_VALID,
            R.EXPIRED,
            R.VALIDITY_UNKNOWN,
            R.USED_UP,
            R.LEVEL_TOO_LOW,
            R.SUSPENDED,
            R.OUTSIDE_HOURS,
            R.REDIRECT_BLOCKED,
            R.CALLS_LIMIT,
            R.USERS_LIMIT,
            R.COSTLY_LIMIT,
            R.USER_COSTLY_LIMIT,
            R.CONCURRENT_LIMIT,
        ),
        retry=True,
    ),
)
del R


def rule_for(decision: Decision, mode: Mode | None = None) -> Rule:
    """Find the table row that produced *decision* (rules 8 and 11 share reasons: give *mode*)."""
    for rule in RULES:
        if decision.reason in rule.reasons and decision.verdict is rule.verdict:
            if mode is not None and rule.number in (8, 11):
                wanted = 8 if mode is Mode.ACCOUNT else 11
                if rule.number != wanted:
                    continue
            return rule
    raise InvalidValueError("decision", decision, "matches no rule of the table")


def listed_outcome(mode: Mode, entry: CodeEntry) -> Decision:
    """The decision a code on the list yields in *mode*, before limits (rule 7 or rule 10)."""
    rule = RULES[6] if mode is Mode.ACCOUNT else RULES[9]
    return Decision(rule.verdict, rule.reasons[0], entry, False)
