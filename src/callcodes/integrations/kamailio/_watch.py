"""Tell cheaply whether anything was written to the policy store since a worker last looked.

On SQLite, ``data_version`` changes when another connection commits to the file: one
statement, a few microseconds, where ``refresh`` reads the change journal in a transaction
(:class:`StoreWatch`). On PostgreSQL, every write notifies ``callcodes_policy`` when it
commits; the worker's listening socket is polled without waiting (:class:`ListenWatch`).
A worker asks before each INVITE (or every ``refresh_ms``) and refreshes only when told.
Both say "look", the change journal stays the truth: after :meth:`stale` the worker refreshes
and calls :meth:`settle` only once the refresh succeeded, so a failed one is tried again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Protocol

from ..._sqlite import connect
from ...store.postgres import ChangeListener

__all__ = ["ListenWatch", "StoreWatch", "Watch"]

_BUSY_TIMEOUT: Final = 5.0  # seconds


class Watch(Protocol):
    """Whether the store changed since the loaded policy was read."""

    def stale(self) -> bool:
        """Whether the store may hold a change the loaded policy lacks."""
        ...  # pragma: no cover

    def settle(self) -> None:
        """The policy was refreshed: what :meth:`stale` reported is in it."""
        ...  # pragma: no cover

    def close(self) -> None:
        """Release the connection."""
        ...  # pragma: no cover


class StoreWatch:
    """The SQLite store file's version, and the version the loaded policy reflects.

    Keep the event log in another file, or each event would count as a change.
    """

    def __init__(self, path: Path) -> None:
        self._conn = connect(path, busy_timeout=_BUSY_TIMEOUT, wal=False)
        self._seen = self._latest = self._version()  # before loading: later changes are seen

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def stale(self) -> bool:
        """Whether the file changed since the last :meth:`settle`. O(1)."""
        self._latest = self._version()
        return self._latest != self._seen

    def settle(self) -> None:
        """The version last read is the one the loaded policy reflects."""
        self._seen = self._latest

    def close(self) -> None:
        """Release the file."""
        self._conn.close()


class ListenWatch:
    """The PostgreSQL store's change notifications, polled without waiting.

    Open it before loading the policy, so that a change committed meanwhile is heard. While
    the database is away it reports a change each time it is asked (the caller backs off).
    """

    def __init__(self, url: str) -> None:
        self._listener = ChangeListener(url)
        self._pending = False

    def stale(self) -> bool:
        """Whether a change was notified (or may have been missed) since :meth:`settle`."""
        if not self._pending:
            self._pending = self._listener.poll()
        return self._pending

    def settle(self) -> None:
        """The policy was refreshed from the journal: every change notified before is in."""
        self._pending = False

    def close(self) -> None:
        """Stop listening."""
        self._listener.close()
