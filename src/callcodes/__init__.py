"""callcodes: account and authorization codes for hosted PBXs.

The core (policy model, code index, decision) is pure: no I/O, no clock. Import everything from
here; the underscore modules are private.
"""

from ._decide import RULES, Rule, decide, requirement, rule_for
from ._errors import (
    BatchError,
    CallcodesError,
    ConflictError,
    InvalidValueError,
    RowError,
    UnknownGroupError,
)
from ._index import CodeBook
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

__all__ = [
    "OUTSIDE_CALL_TYPES",
    "RULES",
    "BatchError",
    "Call",
    "CallType",
    "CallcodesError",
    "CodeBook",
    "CodeEntry",
    "ConflictError",
    "Decision",
    "GroupSettings",
    "InvalidValueError",
    "Lock",
    "Lockout",
    "Mode",
    "Need",
    "Reason",
    "Requirement",
    "RowError",
    "Rule",
    "UnknownGroupError",
    "Verdict",
    "decide",
    "is_code",
    "requirement",
    "rule_for",
]
