"""callcodes: account and authorization codes for hosted PBXs.

The core (policy model, code index, decision) is pure: no I/O, no clock. Import everything from
here; the underscore modules are private.
"""

from ._collect import (
    Collector,
    CollectorState,
    Finished,
    Key,
    NeedDigits,
    Reprompt,
    Timeout,
)
from ._decide import decide, requirement
from ._emergency import EMERGENCY_NUMBERS, emergency_numbers
from ._errors import (
    BatchError,
    CallcodesError,
    ConflictError,
    InvalidValueError,
    MissingDependencyError,
    RowError,
    UnknownGroupError,
)
from ._index import CodeBook
from ._inline import CodeSource, Inline, InlineProblem, parse_inline
from ._lockout import FAILURE_REASONS, FailureTracker, is_failure, settle
from ._model import (
    OUTSIDE_CALL_TYPES,
    Call,
    CallType,
    CodeEntry,
    Decision,
    GroupSettings,
    Lock,
    Lockout,
    Mode,
    Need,
    Reason,
    Requirement,
    Verdict,
    is_code,
)
from ._rules import RULES, Rule, rule_for
from .dialplan import Classification, DialPlan

__all__ = [
    "EMERGENCY_NUMBERS",
    "FAILURE_REASONS",
    "OUTSIDE_CALL_TYPES",
    "RULES",
    "BatchError",
    "Call",
    "CallType",
    "CallcodesError",
    "Classification",
    "CodeBook",
    "CodeEntry",
    "CodeSource",
    "Collector",
    "CollectorState",
    "ConflictError",
    "Decision",
    "DialPlan",
    "FailureTracker",
    "Finished",
    "GroupSettings",
    "Inline",
    "InlineProblem",
    "InvalidValueError",
    "Key",
    "Lock",
    "Lockout",
    "MissingDependencyError",
    "Mode",
    "Need",
    "NeedDigits",
    "Reason",
    "Reprompt",
    "Requirement",
    "RowError",
    "Rule",
    "Timeout",
    "UnknownGroupError",
    "Verdict",
    "decide",
    "emergency_numbers",
    "is_code",
    "is_failure",
    "parse_inline",
    "requirement",
    "rule_for",
    "settle",
]
