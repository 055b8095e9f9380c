"""Kamailio integration: enforce account and authorization codes in a SIP proxy (KEMI, Python).

:class:`Router` (module ``router``) is the object Kamailio's ``app_python3`` calls;
:class:`KamailioConfig` (module ``config``) is its configuration; :class:`KamailioLogHandler`
(module ``log``) sends the library's log to Kamailio's. :class:`SharedFailureTracker` counts
failed entries, and :class:`SharedUseCounter` uses of codes, for every worker together, in
SQLite, or for every node in PostgreSQL; :class:`FallbackFailureTracker` goes on counting in
memory while PostgreSQL is away. The other underscore modules are private: the store change
watch, the workers' turns on the event log, what each worker holds open, and who redirected
a call.
"""

from ._failures import FallbackFailureTracker, SharedFailureTracker
from ._usage import SharedUseCounter
from .config import ACCOUNT_HEADER, CODE_HEADER, CallerSource, KamailioConfig
from .log import KamailioLogHandler
from .router import REASON_PHRASES, Action, Router, reason_phrase

__all__ = [
    "ACCOUNT_HEADER",
    "CODE_HEADER",
    "REASON_PHRASES",
    "Action",
    "CallerSource",
    "FallbackFailureTracker",
    "KamailioConfig",
    "KamailioLogHandler",
    "Router",
    "SharedFailureTracker",
    "SharedUseCounter",
    "reason_phrase",
]
