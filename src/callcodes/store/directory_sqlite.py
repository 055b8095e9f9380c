"""The user directory's SQLite tables and row operations, in the policy store's file.

The directory is a component of its own: its tables are named ``directory_*`` and their version
is the ``directory`` row of the shared ``callcodes_schema`` table, so it is upgraded apart from
the policy tables. Its rows are written on the policy store's connection, inside the store's own
transactions, so a directory change and its audit record commit together. Users are keyed by
group name and user id; the rows hold validated values only (the directory checks them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Final

from .. import _sqlite
from .backend import Transaction
from .sqlite import PolicyStore
from .sqlite_tx import SqliteTransaction

__all__ = ["COMPONENT", "MIGRATIONS", "SCHEMA_VERSION", "SqliteDirectoryRows", "sqlite_rows"]

#: The component whose version ``callcodes_schema`` records for these tables.
COMPONENT: Final = "directory"

#: Forward migrations, as the policy store's: step i takes the tables from version i to i + 1.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE directory_users (
            grp TEXT NOT NULL,
            user_id TEXT NOT NULL,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            department TEXT NOT NULL,
            phone_number TEXT NOT NULL,
            extension TEXT NOT NULL,
            PRIMARY KEY (grp, user_id)
        ) WITHOUT ROWID""",
    ),
)
#: The directory schema version this code writes (and the newest it reads).
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: A directory row's columns, in the order of ``DirectoryUser``'s fields.
COLUMNS: Final = "grp, user_id, first_name, last_name, department, phone_number, extension"

#: One directory row: group, user id, first and last name, department, phone number, extension.
Row = tuple[str, str, str, str, str, str, str]


class SqliteDirectoryRows:
    """The directory's row operations on a connection inside one of the store's transactions."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, group: str | None) -> list[Row]:
        """The rows of *group* (every group's when None), by group then user id."""
        if group is None:
            cursor = self._conn.execute(
                f"SELECT {COLUMNS} FROM directory_users ORDER BY grp, user_id"  # noqa: S608
            )
        else:
            cursor = self._conn.execute(
                f"SELECT {COLUMNS} FROM directory_users WHERE grp = ? ORDER BY user_id",  # noqa: S608
                (group,),
            )
        return [tuple(row) for row in cursor]

    def replace(self, group: str, rows: Sequence[Row]) -> None:
        """Make *rows* the whole directory of *group*."""
        self._conn.execute("DELETE FROM directory_users WHERE grp = ?", (group,))
        self._conn.executemany(
            f"INSERT INTO directory_users ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            rows,
        )


def sqlite_rows(store: PolicyStore) -> Callable[[Transaction], SqliteDirectoryRows]:
    """Bring the directory's tables in *store*'s file up to date; rows for each transaction."""
    with store._lock:  # the store's own connection, between two of its transactions
        _sqlite.migrate(store._conn, store.path, COMPONENT, MIGRATIONS)

    def rows(tx: Transaction) -> SqliteDirectoryRows:
        if not isinstance(tx, SqliteTransaction):
            raise TypeError("an SQLite directory needs the SQLite store's transactions")
        return SqliteDirectoryRows(tx._conn)  # inside the same transaction

    return rows
