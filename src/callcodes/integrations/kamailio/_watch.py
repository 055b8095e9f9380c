"""Tell cheaply whether anything was written to the policy store since a worker last looked.

SQLite's ``data_version`` changes when another connection commits to the file: one statement,
a few microseconds, where ``PolicyStore.refresh`` reads the change journal in a transaction. A
worker asks before each INVITE (or every ``refresh_ms``) and refreshes only when it changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ..._sqlite import connect

__all__ = ["StoreWatch"]

_BUSY_TIMEOUT: Final = 5.0  # seconds


class StoreWatch:
    """The store file's version, and the version the loaded policy reflects (``seen``).

    Keep the event log in another file, or each event would count as a change.
    """

    def __init__(self, path: Path) -> None:
        self._conn = connect(path, busy_timeout=_BUSY_TIMEOUT, wal=False)
        self.seen = self.version()  # the version the loaded policy reflects

    def version(self) -> int:
        """The file's version now: it differs from ``seen`` after any change. O(1)."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        """Release the file."""
        self._conn.close()
