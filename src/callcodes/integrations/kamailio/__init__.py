"""Kamailio integration: enforce account and authorization codes in a SIP proxy (KEMI, Python).

See :mod:`callcodes.integrations.kamailio.router` for the router and its configuration.
"""

from .router import (
    ACCOUNT_HEADER,
    CODE_HEADER,
    REASON_PHRASES,
    Action,
    CallerSource,
    KamailioConfig,
    KamailioLogHandler,
    Router,
    reason_phrase,
)

__all__ = [
    "ACCOUNT_HEADER",
    "CODE_HEADER",
    "REASON_PHRASES",
    "Action",
    "CallerSource",
    "KamailioConfig",
    "KamailioLogHandler",
    "Router",
    "reason_phrase",
]
