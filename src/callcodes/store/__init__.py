"""The policy store: groups, settings, users, codes, locks and dial plans, kept durably.

``PolicyStore`` is the SQLite store, the embedded default.
"""

from .sqlite import JOURNAL_KEEP, SCHEMA_VERSION, PolicyStore

__all__ = ["JOURNAL_KEEP", "SCHEMA_VERSION", "PolicyStore"]
