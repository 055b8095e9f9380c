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
import select
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

__all__ = ["CHANNEL", "ChangeListener", "PostgresPolicyStore"]

#: The channel a write transaction notifies, so that nodes refresh without polling.
CHANNEL: Final = "callcodes_policy"
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
        """One transaction on the store's connection, which threads take in turn.

        A connection the server dropped (a restart) is replaced before the transaction starts,
        once: nothing was done on it yet. One that breaks inside the transaction ends it with
        ``UnavailableError``.
        """
        if write and self._read_only:
            raise InvalidValueError(
                "store", _postgres.redact(self.url), "was opened read-only: open it to write"
            )
        pg = self._pg
        with self._lock:
            conn, stack = self._begin(write)
            try:
                with stack:
                    yield SqlTransaction(conn)
                    if write:  # delivered to every listening node when (and only if) it commits
                        conn.raw.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            except (pg.OperationalError, pg.InterfaceError) as exc:
                self._drop()
                raise UnavailableError(
                    f"{_postgres.problem(self.url, exc)}; the change was not confirmed: "
                    "check the store, then retry"
                ) from exc

    def _begin(self, write: bool) -> tuple[_postgres.QmarkConnection, contextlib.ExitStack]:
        """A started transaction (lock held): the connection and what ends the transaction."""
        pg = self._pg
        for attempt in range(2):
            stack = contextlib.ExitStack()
            try:
                if self._conn.raw.closed:
                    self._conn = self._connect()
                stack.enter_context(self._conn.raw.transaction())
                if write:
                    self._conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                else:
                    self._conn.raw.execute(
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                    )
            except (pg.OperationalError, pg.InterfaceError) as exc:
                with contextlib.suppress(pg.Error):
                    stack.close()
                self._drop()
                if attempt:
                    raise UnavailableError(
                        f"{_postgres.problem(self.url, exc)}; nothing was changed"
                    ) from exc
                continue
            return self._conn, stack
        raise AssertionError  # pragma: no cover  # the loop returns or raises

    def _drop(self) -> None:
        """Close a broken connection; the next transaction connects again."""
        with contextlib.suppress(self._pg.Error):
            self._conn.close()

    @contextlib.contextmanager
    def _session(self) -> Iterator[_postgres.QmarkConnection]:
        """The connection outside a transaction (lock held), made again after it was closed."""
        pg = self._pg
        if self._conn.raw.closed:
            self._conn = self._connect()
        try:
            yield self._conn
        except (pg.OperationalError, pg.InterfaceError) as exc:
            self._drop()
            raise UnavailableError(_postgres.problem(self.url, exc)) from exc

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


class ChangeListener:
    """The signal that another node changed the policy: ``LISTEN`` on its own connection.

    :meth:`wait` returns True as soon as a write transaction has committed anywhere (or at
    once when one did since the last call), False after *timeout* seconds without one. The
    signal only says "look": the change journal stays the truth, so a node that missed
    notifications (its connection broke) still catches up with ``refresh``, and :meth:`wait`
    then reports a change (it connects again on the next call). Not thread-safe: one waiter.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._pg = _postgres.driver()
        self._conn: psycopg.Connection[Any] | None = None
        self._connect()

    def _connect(self) -> None:
        self._conn = _postgres.open_ready(
            self.url, lambda raw: raw.execute(f"LISTEN {CHANNEL}")
        ).raw

    def wait(self, timeout: float) -> bool:
        """Whether the policy changed (True), or *timeout* seconds passed without (False)."""
        pg = self._pg
        if self._conn is None or self._conn.closed:
            try:
                self._connect()
            except UnavailableError:
                return True  # away: the caller's refresh says what it can
            return True  # notifications may have been missed meanwhile
        assert self._conn is not None
        try:
            got = False
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                got = True
            # Drain what else arrived: one refresh covers every change before it.
            for _ in self._conn.notifies(timeout=0):
                got = True
        except (pg.OperationalError, pg.InterfaceError):
            with contextlib.suppress(pg.Error):
                self._conn.close()
            return True
        return got

    def poll(self) -> bool:
        """Whether the policy changed, without waiting: :meth:`wait` with no timeout, cheaper.

        The connection only listens, so nothing can have arrived unless its socket is
        readable; one ``select`` says so in about a microsecond.
        """
        conn = self._conn
        if conn is not None and not conn.closed:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
            if not readable:
                return False
        return self.wait(0)

    def close(self) -> None:
        """Stop listening."""
        if self._conn is not None:
            self._conn.close()


if TYPE_CHECKING:

    def _offers_the_protocol(store: PostgresPolicyStore) -> Store:
        return store  # mypy checks here that the store offers all of Store
