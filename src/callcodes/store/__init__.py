"""The policy store: groups, settings, users, codes, locks and dial plans, kept durably.

``Store`` is what every policy store offers; ``PolicyStore`` is the SQLite store, the embedded
default. The rules a store follows (checks, journal, audit details, refreshing loaded books) are
shared by every backend (``writes.BaseStore``); a backend writes only its queries.
"""

from .directory import UserDirectory
from .protocol import Store
from .sqlite import JOURNAL_KEEP, SCHEMA_VERSION, PolicyStore

__all__ = ["JOURNAL_KEEP", "SCHEMA_VERSION", "PolicyStore", "Store", "UserDirectory"]
