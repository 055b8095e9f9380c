"""SQLite handling for every component that keeps a file: one way to open, commit and version.

The policy store, the event log and the Kamailio guard all keep SQLite files. They open them
the same way (autocommit, so every transaction is explicit; a busy timeout; WAL, so readers never
wait for writers), take the write lock first with ``BEGIN IMMEDIATE``, record their schema
version as one row of the shared ``callcodes_schema`` table, refuse a file from a newer
callcodes with one error, and say what to fix when SQLite fails. Processes that write one
file often take turns through an ``flock`` (:class:`Turns`) rather than SQLite's busy
handler, which sleeps 1 to 100 ms each time it finds the file locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from ._errors import ConflictError

__all__ = [
    "SCHEMA_TABLE",
    "Turns",
    "connect",
    "connect_read_only",
    "is_sqlite_file",
    "migrate",
    "problem",
    "refuse_newer",
    "schema_version",
    "transaction",
]

#: One row per component (``policy``, ``events``...): the version of that component's tables.
SCHEMA_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS callcodes_schema "
    "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)
_MAGIC: Final = b"SQLite format 3\x00"


def connect(path: Path, *, busy_timeout: float, wal: bool = True) -> sqlite3.Connection:
    """Open *path* in autocommit mode for any thread, waiting up to *busy_timeout* s for locks.

    With *wal*, the file is put in WAL mode; a file that cannot use it raises
    ``sqlite3.OperationalError``. The caller closes the connection.
    """
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    if wal:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except BaseException:
            conn.close()
            raise
        if str(mode).lower() != "wal":
            conn.close()
            raise sqlite3.OperationalError(f"cannot use WAL mode (journal mode is {mode})")
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open an existing file for reading only: nothing is created or changed."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """One transaction: ``BEGIN IMMEDIATE`` for writes (take the write lock first), else a snapshot.

    Committed when the block ends, rolled back when it raises.
    """
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite rolls back by itself on some errors (disk full, I/O)
            conn.execute("ROLLBACK")
        raise


def schema_version(conn: sqlite3.Connection, component: str) -> int:
    """The version of *component*'s tables in the file; 0 when it has none yet."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'callcodes_schema'"
    ).fetchone()
    if has_table is None:
        return 0
    row = conn.execute(
        "SELECT version FROM callcodes_schema WHERE component = ?", (component,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def refuse_newer(path: Path | str, component: str, found: int, known: int) -> None:
    """Raise :class:`~callcodes.ConflictError` when the file's tables are newer than this code."""
    if found > known:
        raise ConflictError(
            f"{path} holds {component} schema version {found}, newer than this callcodes "
            f"reads ({known}): upgrade callcodes to use it"
        )


def migrate(
    conn: sqlite3.Connection,
    path: Path | str,
    component: str,
    steps: Sequence[Sequence[str]],
) -> None:
    """Bring *component*'s tables to version ``len(steps)`` in one write transaction.

    ``steps[i]`` is the list of statements that takes the tables from version i to i + 1. A
    file already at the current version costs one read; a newer one is refused (ConflictError).
    """
    current = len(steps)
    if schema_version(conn, component) == current:
        return
    with transaction(conn, write=True):
        conn.execute(SCHEMA_TABLE)
        version = schema_version(conn, component)  # another process may have migrated meanwhile
        refuse_newer(path, component, version, current)
        for step in steps[version:]:
            for statement in step:
                conn.execute(statement)
        if version < current:
            conn.execute(
                "INSERT INTO callcodes_schema (component, version) VALUES (?, ?) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, current),
            )


def problem(path: Path | str, exc: sqlite3.Error) -> str:
    """What went wrong with *path*, in the user's terms, and what to do about it."""
    text = str(exc)
    if "readonly" in text:
        return f"{path} is read-only: check the file's and its directory's permissions"
    if "not a database" in text:
        return f"{path} is not an SQLite database: give another path"
    if "disk is full" in text or "disk I/O" in text:
        return f"{path}: {text}: free space (or raise the file size limit) and retry"
    if "locked" in text or "busy" in text:
        return f"{path} stayed locked by another writer: retry, or raise busy_timeout"
    if "unable to open" in text:
        return f"cannot open {path}: check that its directory exists and is writable"
    return f"{path}: {text}"


def is_sqlite_file(path: Path) -> bool:
    """Whether *path* is an SQLite database file (by its header); False when unreadable."""
    try:
        with path.open("rb") as file:
            return file.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


class Turns:
    """An exclusive ``flock`` on ``<file>.lock``, held for the ``with`` block.

    The processes that write one SQLite file often (a Kamailio node's workers, the shipper of
    their journals) take turns here: a process waiting on the ``flock`` wakes up as soon as the
    other one is done. The lock is a file of its own: closing a descriptor of the database
    itself would drop SQLite's locks of this process. Not reentrant.
    """

    def __init__(self, path: Path) -> None:
        self._file = Path(f"{path}.lock").open("ab")  # noqa: SIM115  # held until close()

    def __enter__(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the lock file."""
        self._file.close()
