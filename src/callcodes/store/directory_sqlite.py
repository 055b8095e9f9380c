"""The user directory's SQLite tables and row operations, in the policy store's file.

The directory is a component of its own: its tables are named ``directory_*`` and their version
is the ``directory`` row of the shared ``callcodes_schema`` table, so it is upgraded apart from
the policy tables. Its rows are written on the policy store's connection, inside the store's own
transactions, so a directory change and its audit record commit together. The tables are created
(or upgraded) by the directory's first write, inside that write's transaction: reading a file
without them finds no users, and a refused change or a store opened read-only leaves the file
as it was. Users are keyed by group name and user id; the rows hold validated values only (the
directory checks them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from .. import _sqlite
from .backend import Transaction
from .sql_tx import SqlTransaction
from .sqlite import PolicyStore

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

    __slots__ = ("_conn", "_path")

    def __init__(self, conn: sqlite3.Connection, path: Path | str = "the policy store") -> None:
        self._conn = conn
        self._path = path

    def version(self) -> int:
        """The version of the directory's tables in the file (0: none yet); newer is refused."""
        version = _sqlite.schema_version(self._conn, COMPONENT)
        _sqlite.refuse_newer(self._path, COMPONENT, version, SCHEMA_VERSION)
        return version

    def rows(self, group: str | None) -> list[Row]:
        """The rows of *group* (every group's when None), by group then user id.

        A file without the directory's tables has none (and is not changed to say so).
        """
        if self.version() == 0:
            return []
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
        """Make *rows* the whole directory of *group*, creating the tables first if need be."""
        self._create_tables()
        self._conn.execute("DELETE FROM directory_users WHERE grp = ?", (group,))
        self._conn.executemany(
            f"INSERT INTO directory_users ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            rows,
        )

    def _create_tables(self) -> None:
        """Bring the tables to ``SCHEMA_VERSION`` inside the write transaction under way."""
        version = self.version()
        if version == SCHEMA_VERSION:
            return
        self._conn.execute(_sqlite.SCHEMA_TABLE)
        for step in MIGRATIONS[version:]:
            for statement in step:
                self._conn.execute(statement)
        self._conn.execute(
            "INSERT INTO callcodes_schema (component, version) VALUES (?, ?) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            (COMPONENT, SCHEMA_VERSION),
        )


def sqlite_rows(store: PolicyStore) -> Callable[[Transaction], SqliteDirectoryRows]:
    """The directory's rows in each of *store*'s transactions; nothing is created until a write.

    Only the store's public seam is used: its path and its transactions' connection.
    """
    path = store.path
    with store.reading() as tx:  # a newer directory is refused at once; nothing is written
        if isinstance(tx, SqlTransaction):
            SqliteDirectoryRows(tx.connection, path).version()

    def rows(tx: Transaction) -> SqliteDirectoryRows:
        if not isinstance(tx, SqlTransaction):
            raise TypeError("an SQLite directory needs the SQLite store's transactions")
        return SqliteDirectoryRows(tx.connection, path)  # inside the same transaction

    return rows
