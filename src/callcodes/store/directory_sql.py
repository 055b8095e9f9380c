"""The user directory's tables and row operations, in the policy store's database.

The directory is a component of its own: its tables are named ``directory_*`` and their version
is the ``directory`` row of the shared ``callcodes_schema`` table, so it is upgraded apart from
the policy tables. Its rows are written on the policy store's connection, inside the store's own
transactions, so a directory change and its audit record commit together. The tables are created
(or upgraded) by the directory's first write, inside that write's transaction: reading a store
without them finds no users, and a refused change or a store opened read-only leaves the store
as it was. The SQL is the portable SQL of ``sql_tx``: the same on SQLite and PostgreSQL. Users
are keyed by group name and user id; the rows hold validated values only (the directory checks
them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from .backend import Transaction
from .components import create_component, refuse_newer, store_name
from .sql_tx import SqlTransaction
from .writes import BaseStore

__all__ = [
    "COMPONENT",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SqlDirectoryRows",
    "directory_rows",
]

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


def _sql(tx: Transaction) -> SqlTransaction:
    if not isinstance(tx, SqlTransaction):
        raise TypeError("the directory needs an SQL policy store's transactions")
    return tx


class SqlDirectoryRows:
    """The directory's row operations inside one of the store's transactions."""

    __slots__ = ("_conn", "_tx", "_where")

    def __init__(self, tx: SqlTransaction, where: str = "the policy store") -> None:
        self._tx = tx
        self._conn: Any = tx.connection
        self._where = where

    def version(self) -> int:
        """The version of the directory's tables (0: none yet); newer is refused."""
        return refuse_newer(self._tx, self._where, COMPONENT, MIGRATIONS)

    def rows(self, group: str | None) -> list[Row]:
        """The rows of *group* (every group's when None), by group then user id.

        A store without the directory's tables has none (and is not changed to say so).
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
        if self.version() != SCHEMA_VERSION:
            create_component(self._tx, self._where, COMPONENT, MIGRATIONS)
        self._conn.execute("DELETE FROM directory_users WHERE grp = ?", (group,))
        self._conn.executemany(
            f"INSERT INTO directory_users ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            rows,
        )


def directory_rows(store: BaseStore) -> Callable[[Transaction], SqlDirectoryRows]:
    """The directory's rows in each of *store*'s transactions; nothing is created until a write.

    Only the store's public seam is used: its name and its transactions' connection.
    """
    where = store_name(store)
    with store.reading() as tx:  # a newer directory is refused at once; nothing is written
        SqlDirectoryRows(_sql(tx), where).version()

    def rows(tx: Transaction) -> SqlDirectoryRows:
        return SqlDirectoryRows(_sql(tx), where)  # inside the same transaction

    return rows
