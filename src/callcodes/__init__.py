"""callcodes: account and authorization codes for hosted PBXs.

The core (policy model, code index, decision) is pure: no I/O, no clock. Import everything from
here; the underscore modules are private.
"""

from ._errors import (
    AccessDeniedError,
    BatchError,
    CallcodesError,
    ConflictError,
    InvalidValueError,
    MissingDependencyError,
    RowError,
    SinkError,
    UnavailableError,
    UnknownAccountError,
    UnknownGroupError,
)
from .core.book import CodeBook
from .core.collect import (
    Collector,
    CollectorState,
    Finished,
    Key,
    NeedDigits,
    Reprompt,
    Timeout,
)
from .core.decide import decide, requirement
from .core.guard import (
    FAILURE_REASONS,
    GUARD_ACTOR,
    FailureTracker,
    LockChange,
    LockEvent,
    LockStore,
    is_failure,
    settle,
)
from .core.hours import Hours, parse_hours
from .core.inline import CodeSource, Inline, InlineProblem, parse_inline
from .core.limits import Limits, Redirect
from .core.model import (
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
from .core.rules import RULES, Rule, rule_for
from .core.usage import LimitEvent, UseCounter, UseTracker, admit
from .dialplan.emergency import EMERGENCY_NUMBERS, emergency_numbers
from .dialplan.plan import Classification, DialPlan
from .engine import Engine
from .events.event import EVENT_SCHEMA, Event, mask_code
from .events.jsonl import JsonlSink
from .events.reports import (
    EventPage,
    ReportRow,
    export_csv,
    export_jsonl,
    query_events,
    read_events,
    report_events,
)
from .events.sinks import FlushPolicy, MemorySink, Sink
from .events.sqlite import SqliteSink

__all__ = [
    "EMERGENCY_NUMBERS",
    "EVENT_SCHEMA",
    "FAILURE_REASONS",
    "GUARD_ACTOR",
    "OUTSIDE_CALL_TYPES",
    "RULES",
    "AccessDeniedError",
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
    "Engine",
    "Event",
    "EventPage",
    "FailureTracker",
    "Finished",
    "FlushPolicy",
    "GroupSettings",
    "Hours",
    "Inline",
    "InlineProblem",
    "InvalidValueError",
    "JsonlSink",
    "Key",
    "LimitEvent",
    "Limits",
    "Lock",
    "LockChange",
    "LockEvent",
    "LockStore",
    "Lockout",
    "MemorySink",
    "MissingDependencyError",
    "Mode",
    "Need",
    "NeedDigits",
    "Reason",
    "Redirect",
    "ReportRow",
    "Reprompt",
    "Requirement",
    "RowError",
    "Rule",
    "Sink",
    "SinkError",
    "SqliteSink",
    "Timeout",
    "UnavailableError",
    "UnknownAccountError",
    "UnknownGroupError",
    "UseCounter",
    "UseTracker",
    "Verdict",
    "admit",
    "decide",
    "emergency_numbers",
    "export_csv",
    "export_jsonl",
    "is_code",
    "is_failure",
    "mask_code",
    "parse_hours",
    "parse_inline",
    "query_events",
    "read_events",
    "report_events",
    "requirement",
    "rule_for",
    "settle",
]
