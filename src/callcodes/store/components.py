"""Tables kept beside the policy (the directory, the accounts): their versions, made in a write.

A component's tables are written in SQLite's dialect once; on PostgreSQL they are translated
(``_postgres.sqlite_ddl``). Their version is the component's row of ``callcodes_schema``. The
tables come with the component's first change, inside that change's transaction, so a refused
first change creates nothing either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import _postgres, _sqlite
from .sql_tx import SqlTransaction

if TYPE_CHECKING:
    from .writes import BaseStore

__all__ = [
    "component_version",
    "create_component",
    "on_postgres",
    "refuse_newer",
    "store_name",
]


def on_postgres(tx: SqlTransaction) -> bool:
    """Whether the transaction is on PostgreSQL (else on SQLite)."""
    return isinstance(tx.connection, _postgres.QmarkConnection)


def component_version(tx: SqlTransaction, component: str) -> int:
    """The version of *component*'s tables (0: none yet)."""
    conn = tx.connection
    if not on_postgres(tx):
        return _sqlite.schema_version(conn, component)
    row = conn.execute(
        "SELECT version FROM callcodes_schema WHERE component = ?", (component,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def refuse_newer(
    tx: SqlTransaction, where: str, component: str, migrations: Sequence[object]
) -> int:
    """The component's version; ``ConflictError`` when it is newer than *migrations* know."""
    version = component_version(tx, component)
    refuse = _postgres.refuse_newer if on_postgres(tx) else _sqlite.refuse_newer
    refuse(where, component, version, len(migrations))
    return version


def create_component(
    tx: SqlTransaction, where: str, component: str, migrations: Sequence[Sequence[str]]
) -> None:
    """Bring *component*'s tables to the newest version inside this write transaction."""
    conn, postgres = tx.connection, on_postgres(tx)
    if not postgres:
        conn.execute(_sqlite.SCHEMA_TABLE)
    version = refuse_newer(tx, where, component, migrations)
    for step in migrations[version:]:
        for statement in step:
            conn.execute(_postgres.sqlite_ddl(statement) if postgres else statement)
    conn.execute(
        "INSERT INTO callcodes_schema (component, version) VALUES (?, ?) "
        "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        (component, len(migrations)),
    )


def store_name(store: BaseStore) -> str:
    """How messages name *store*: its file, or its URL without the password."""
    url = getattr(store, "url", None)
    if isinstance(url, str):
        return _postgres.redact(url)
    return str(getattr(store, "path", "the policy store"))
