"""The SQLite policy store: groups, settings, users, codes, use counts and locks in one file.

``PolicyStore`` persists what a ``CodeBook`` holds, so the engine survives restarts and several
processes (a softswitch's workers) share one policy. Every administrative change is one SQLite
transaction that also writes its audit record; a refused change leaves the file untouched.
What the store decides (checks, journal, audit details, refreshing loaded books) is the same for
every backend (:class:`~callcodes.store.writes.BaseStore`); this module opens the file and
runs the transactions, whose queries are in ``sqlite_tx``.

The file is opened in WAL mode with a busy timeout; the schema is versioned in the shared table
``callcodes_schema`` (component ``policy``) and upgraded forward when the store opens
(``sqlite_schema``). Every table of this component is named ``policy_*``, so other components
can share the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .. import _sqlite
from .._errors import InvalidValueError
from .sqlite_schema import COMPONENT, MIGRATIONS, SCHEMA_VERSION
from .sqlite_tx import SqliteTransaction
from .sync import JOURNAL_KEEP
from .writes import BaseStore

if TYPE_CHECKING:
    from .protocol import Store

__all__ = ["JOURNAL_KEEP", "SCHEMA_VERSION", "PolicyStore"]

_DEFAULT_BUSY: Final = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _unusable(path: Path | str, exc: sqlite3.DatabaseError) -> InvalidValueError:
    return InvalidValueError(
        "path", str(path), f"is not a usable policy store ({exc}): give a store's path"
    )


class PolicyStore(BaseStore):
    """Groups, settings, users, codes, use counts and locks, persisted in one SQLite file.

    The write methods mirror ``CodeBook``'s and validate the same way, plus an ``actor`` for
    the audit trail; the time of each record comes from *clock* (aware UTC). Safe for several
    threads (one connection, serialised) and several processes (SQLite's locking, WAL).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        busy_timeout: float = _DEFAULT_BUSY,
    ) -> None:
        super().__init__(clock=clock)
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._conn = _sqlite.connect(self.path, busy_timeout=busy_timeout)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            if isinstance(exc, sqlite3.OperationalError):
                raise InvalidValueError(
                    "path", str(path), f"cannot be opened ({exc}): check the folder and permissions"
                ) from None
            raise _unusable(path, exc) from None
        try:
            _sqlite.migrate(self._conn, self.path, COMPONENT, MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise _unusable(path, exc) from None
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[SqliteTransaction]:
        """One transaction on the store's connection, which threads take in turn."""
        with self._lock, _sqlite.transaction(self._conn, write=write) as conn:
            yield SqliteTransaction(conn)

    @property
    def schema_version(self) -> int:
        """The policy schema version of the file (equal to ``SCHEMA_VERSION`` once open)."""
        with self._lock:
            return _sqlite.schema_version(self._conn, COMPONENT)


if TYPE_CHECKING:

    def _offers_the_protocol(store: PolicyStore) -> Store:
        return store  # mypy checks here that PolicyStore offers all of Store
