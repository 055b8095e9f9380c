"""The SQLite policy store: groups, settings, users, codes, use counts and locks in one file.

``PolicyStore`` persists what a ``CodeBook`` holds, so the engine survives restarts and several
processes (a softswitch's workers) share one policy. Every administrative change is one SQLite
transaction that also writes its audit record; a refused change leaves the file untouched.
What the store decides (checks, journal, audit details, refreshing loaded books) is the same for
every backend (:class:`~callcodes.store.writes.BaseStore`); this module opens the file and
runs the transactions, whose queries are in ``sql_tx``.

The file is opened in WAL mode with a busy timeout; the schema is versioned in the shared table
``callcodes_schema`` (component ``policy``) and upgraded forward when the store opens
(``sqlite_schema``). Every table of this component is named ``policy_*``, so other components
can share the file.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .. import _sqlite
from .._errors import InvalidValueError
from .sql_tx import SqlTransaction
from .sqlite_schema import (
    ADD_FRAUD,
    ADD_HOURS,
    ADD_PROVIDER,
    ADD_SUSPENDED,
    COMPONENT,
    MIGRATIONS,
    SCHEMA_VERSION,
)
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


def _is_environment(exc: sqlite3.OperationalError) -> bool:
    """Whether *exc* comes from where the file lives (full disk, read-only mount), not from it."""
    text = str(exc)
    return any(
        cause in text for cause in ("readonly", "disk is full", "disk I/O", "unable to open")
    )


def _not_a_store(path: Path, why: str) -> InvalidValueError:
    return InvalidValueError(
        "path", str(path), f"is not a callcodes policy store ({why}): give a store's path"
    )


def _check_readable(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file without the policy tables, or whose tables this code cannot read as is."""
    version = _sqlite.schema_version(conn, COMPONENT)
    if version == 0:
        raise _not_a_store(path, "it holds no callcodes policy tables")
    _sqlite.refuse_newer(path, COMPONENT, version, SCHEMA_VERSION)
    if version < SCHEMA_VERSION:
        raise InvalidValueError(
            "path",
            str(path),
            f"was written by an older callcodes (policy schema {version}): any change "
            "through this version upgrades it",
        )


def _open_read_only(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open an existing store for reading: nothing is created or changed, whatever *path* is.

    A missing file, a file that is not SQLite (an empty one included), an SQLite file without
    the policy tables, and a store too new or too old to read as it is are refused untouched.
    """
    if not path.exists():
        raise InvalidValueError("path", str(path), f"no policy store at {path}: check the path")
    if not _sqlite.is_sqlite_file(path):
        raise _not_a_store(path, "not an SQLite database")
    try:
        conn = _sqlite.connect_read_only(path)
    except sqlite3.DatabaseError as exc:
        raise InvalidValueError("path", str(path), _sqlite.problem(path, exc)) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        _check_readable(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise InvalidValueError("path", str(path), _sqlite.problem(path, exc)) from None
    except BaseException:
        conn.close()
        raise
    return conn


class PolicyStore(BaseStore):
    """Groups, settings, users, codes, use counts and locks, persisted in one SQLite file.

    The write methods mirror ``CodeBook``'s and validate the same way, plus an ``actor`` for
    the audit trail; the time of each record comes from *clock* (aware UTC). Safe for several
    threads (one connection, serialised) and several processes (SQLite's locking, WAL).

    With *read_only*, an existing store is opened for reading only: nothing in the file (or
    the folder) is created or changed, a file that is not a store is refused untouched, and
    every write raises.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        busy_timeout: float = _DEFAULT_BUSY,
        read_only: bool = False,
    ) -> None:
        super().__init__(clock=clock)
        self.path = Path(path)
        self._lock = threading.RLock()
        if read_only:
            self._conn = _open_read_only(self.path, busy_timeout)
            return
        try:
            self._conn = _sqlite.connect(self.path, busy_timeout=busy_timeout)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            if isinstance(exc, sqlite3.OperationalError):
                raise InvalidValueError("path", str(path), _sqlite.problem(path, exc)) from None
            raise _unusable(path, exc) from None
        try:
            # Deleted rows are overwritten with zeros, so a deleted code leaves no bytes behind.
            self._conn.execute("PRAGMA secure_delete = ON")
            _sqlite.migrate(self._conn, self.path, COMPONENT, _migrations(self._conn))
            _ensure_secret(self._conn)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            if isinstance(exc, sqlite3.OperationalError) and _is_environment(exc):
                raise InvalidValueError("path", str(path), _sqlite.problem(path, exc)) from None
            raise _unusable(path, exc) from None
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[SqlTransaction]:
        """One transaction on the store's connection, which threads take in turn."""
        with self._lock, _sqlite.transaction(self._conn, write=write) as conn:
            yield SqlTransaction(conn)

    def add_component(self, component: str, migrations: Sequence[Sequence[str]]) -> None:
        """Bring the tables of *component* (directory, accounts) in this file up to date.

        Their version is the component's own row of ``callcodes_schema``, upgraded apart from
        the policy tables; the component writes its rows inside the store's transactions.
        """
        with self._lock:  # the store's own connection, between two of its transactions
            _sqlite.migrate(self._conn, self.path, component, migrations)

    @property
    def schema_version(self) -> int:
        """The policy schema version of the file (equal to ``SCHEMA_VERSION`` once open)."""
        with self._lock:
            return _sqlite.schema_version(self._conn, COMPONENT)


def _migrations(conn: sqlite3.Connection) -> tuple[tuple[str, ...], ...]:
    """``MIGRATIONS`` for this file: a column the file's tables already have is not added again.

    SQLite cannot add a column "if not exists", so a step that adds one (version 5's provider,
    version 6's fraud settings and suspensions) is left empty for a file whose table has it, as
    the ``IF NOT EXISTS`` steps are: a file whose version row was set back (by hand, or by an
    older release's restore) opens again.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(policy_groups)")}
    code_columns = {row[1] for row in conn.execute("PRAGMA table_info(policy_codes)")}
    present = {
        ADD_PROVIDER: "provider" in columns,
        ADD_FRAUD: "fraud" in columns,
        ADD_SUSPENDED: "suspended" in code_columns,
        ADD_HOURS: "hours" in code_columns,
    }
    return tuple(
        tuple(statement for statement in step if not present.get(statement, False))
        for step in MIGRATIONS
    )


def _ensure_secret(conn: sqlite3.Connection) -> None:
    """Give the file its secret (32 random bytes) if it has none: new files and migrated ones."""
    if conn.execute("SELECT 1 FROM policy_secret WHERE id = 1").fetchone() is not None:
        return
    with _sqlite.transaction(conn, write=True):
        conn.execute(
            "INSERT OR IGNORE INTO policy_secret (id, secret) VALUES (1, ?)",
            (secrets.token_bytes(32),),
        )


if TYPE_CHECKING:

    def _offers_the_protocol(store: PolicyStore) -> Store:
        return store  # mypy checks here that PolicyStore offers all of Store
