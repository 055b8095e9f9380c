"""The audit trail of administrative changes (re-exported from :mod:`callcodes.store.audit`)."""

from .store.audit import (
    MAX_DETAIL_CODES,
    Action,
    AuditRecord,
    code_for_audit,
    entry_for_audit,
    settings_action,
    write_csv,
    write_json,
)

__all__ = [
    "MAX_DETAIL_CODES",
    "Action",
    "AuditRecord",
    "code_for_audit",
    "entry_for_audit",
    "settings_action",
    "write_csv",
    "write_json",
]
