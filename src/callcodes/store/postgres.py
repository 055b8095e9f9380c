"""The PostgreSQL policy store: the same store as the SQLite one, in a database nodes share.

``PostgresPolicyStore`` is :class:`~callcodes.store.writes.BaseStore` (the checks, the audit,
the journal and refreshing loaded books, written once for every backend) on a PostgreSQL
connection, with the same row operations as the SQLite store (``sql_tx``, one SQL text for
both) and the same tables, created from the SQLite schema by ``_postgres.sqlite_ddl``. A write
transaction first takes an advisory lock, so writers take turns as ``BEGIN IMMEDIATE`` makes
them on SQLite, and the change journal stays in commit order; a read sees one snapshot
(``REPEATABLE READ``). Needs ``pip install 'callcodes[postgres]'``.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from .. import _postgres
from .._errors import InvalidValueError, UnavailableError
from .sql_tx import SqlTransaction
from .sqlite_schema import COMPONENT, MIGRATIONS
from .writes import BaseStore

if TYPE_CHECKING:
    import psycopg

    from .protocol import Store

__all__ = ["PostgresPolicyStore"]

#: Every writer of the policy takes this advisory lock first (one policy per database).
_WRITE_LOCK: Final = _postgres.lock_key("callcodes policy writes")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PostgresPolicyStore(BaseStore):
    """Groups, settings, users, codes, use counts and locks in a PostgreSQL database.

    The same methods, rules, audit and journal as :class:`~callcodes.store.PolicyStore`;
    several nodes open one database and each refreshes its loaded books from the journal.
    *url* is ``postgresql://USER@HOST:PORT/NAME`` (a password in it is never shown). With
    *read_only*, nothing is created and every write raises. Opening fails with
    ``InvalidValueError`` for a bad URL or a database that is not a store, and with
    :class:`~callcodes.UnavailableError` when the server cannot be reached; so does a change
    while the server is away. Safe for several threads (one connection, serialised).
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        read_only: bool = False,
    ) -> None:
        super().__init__(clock=clock)
        self.url = url
        self._read_only = read_only
        self._lock = threading.RLock()
        self._pg = _postgres.driver()
        self._conn = self._connect()

    def _connect(self) -> _postgres.QmarkConnection:
        def prepare(raw: psycopg.Connection[Any]) -> None:
            if self._read_only:
                self._check_readable(raw)
                return
            _postgres.migrate_from_sqlite(raw, self.url, COMPONENT, MIGRATIONS)
            raw.execute(
                "INSERT INTO policy_secret (id, secret) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
                (secrets.token_bytes(32),),
            )

        return _postgres.open_ready(self.url, prepare)

    def _check_readable(self, raw: psycopg.Connection[Any]) -> None:
        """Refuse a database without the policy tables, or with newer ones."""
        version = _postgres.schema_version(raw, COMPONENT)
        if version == 0:
            raise InvalidValueError(
                "database", _postgres.redact(self.url), "holds no callcodes policy tables"
            )
        _postgres.refuse_newer(self.url, COMPONENT, version, len(MIGRATIONS))

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[SqlTransaction]:
        """One transaction on the store's connection, which threads take in turn."""
        if write and self._read_only:
            raise InvalidValueError(
                "store", _postgres.redact(self.url), "was opened read-only: open it to write"
            )
        with self._lock, self._session() as conn, conn.raw.transaction():
            if write:
                conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            else:
                conn.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield SqlTransaction(conn)

    @contextlib.contextmanager
    def _session(self) -> Iterator[_postgres.QmarkConnection]:
        """The connection, made again once after the server dropped it (lock held)."""
        pg = self._pg
        if self._conn.raw.closed:
            self._conn = self._connect()
        try:
            yield self._conn
        except (pg.OperationalError, pg.InterfaceError) as exc:
            with contextlib.suppress(pg.Error):
                self._conn.close()
            raise UnavailableError(
                f"{_postgres.problem(self.url, exc)}; nothing was changed"
            ) from exc

    def add_component(self, component: str, migrations: Sequence[Sequence[str]]) -> None:
        """Bring the tables of *component* (directory, accounts) up to date, as SQLite's."""
        with self._lock, self._session() as conn:
            _postgres.migrate_from_sqlite(conn.raw, self.url, component, migrations)

    @property
    def schema_version(self) -> int:
        """The policy schema version of the database."""
        with self._lock, self._session() as conn:
            return _postgres.schema_version(conn.raw, COMPONENT)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The raw connection, for tests and tools that inspect the tables."""
        return self._conn.raw


if TYPE_CHECKING:

    def _offers_the_protocol(store: PostgresPolicyStore) -> Store:
        return store  # mypy checks here that the store offers all of Store
