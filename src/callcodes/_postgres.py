"""PostgreSQL handling for every component that keeps its tables there: connect, commit, version.

The twin of ``_sqlite`` for a database that several nodes share: a store or an event log is
named by a ``postgresql://`` URL instead of a path; connections are opened one way (autocommit,
so every transaction is explicit; a connect timeout), schema versions are rows of the same
``callcodes_schema`` table, a migration holds an advisory lock so that nodes starting together
migrate once, and failures are told in the user's terms with the password left out. psycopg is
imported when a URL is first used, so ``import callcodes`` needs no PostgreSQL driver.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from ._errors import ConflictError, InvalidValueError, MissingDependencyError, UnavailableError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "SCHEMA_TABLE",
    "QmarkConnection",
    "connect",
    "driver",
    "is_url",
    "lock_key",
    "migrate",
    "migrate_from_sqlite",
    "open_ready",
    "problem",
    "redact",
    "schema_version",
    "sqlite_ddl",
    "transaction",
]

#: The same table as SQLite's: one row per component, the version of its tables.
SCHEMA_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS callcodes_schema "
    "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)
_SCHEMES: Final = ("postgresql://", "postgres://")
#: How long opening a connection may take before it fails, in seconds.
CONNECT_TIMEOUT: Final = 5
#: Longest URL accepted (a bound on input, far above any real one).
_MAX_URL: Final = 2048


def is_url(name: object) -> bool:
    """Whether *name* names a PostgreSQL database (``postgresql://...``) rather than a file."""
    return isinstance(name, str) and name.startswith(_SCHEMES)


def redact(url: str) -> str:
    """*url* with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def driver() -> Any:
    """The psycopg module; ``MissingDependencyError`` naming the extra when it is missing."""
    try:
        return importlib.import_module("psycopg")
    except ModuleNotFoundError as exc:
        if exc.name != "psycopg":
            raise  # installed but broken: its own error says what is wrong
        raise MissingDependencyError("psycopg", "postgres", "a PostgreSQL database") from None


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """Open a connection to *url* (autocommit unless told); errors say what to fix.

    A bad URL raises ``InvalidValueError``; an unreachable or refusing server raises
    ``psycopg.OperationalError``, which :func:`problem` explains. The caller closes it.
    """
    if not is_url(url) or len(url) > _MAX_URL:
        raise InvalidValueError(
            "database",
            url[:80] if isinstance(url, str) else url,
            "a PostgreSQL database is named by a URL postgresql://USER@HOST:PORT/NAME",
        )
    pg = driver()
    try:
        conn: psycopg.Connection[Any] = pg.connect(
            url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT
        )
    except pg.ProgrammingError as exc:  # the URL does not parse
        raise InvalidValueError("database", redact(url), f"not a valid URL: {exc}") from None
    return conn


def open_ready(url: str, prepare: Callable[[psycopg.Connection[Any]], object]) -> QmarkConnection:
    """A connection to *url* that *prepare* has made ready (tables migrated, say).

    The connection is closed again when *prepare* fails; a server that cannot be reached, or
    a database error on the way, raises :class:`~callcodes.UnavailableError` saying why.
    """
    pg = driver()
    try:
        raw = connect(url)
    except pg.Error as exc:
        raise UnavailableError(problem(url, exc)) from exc
    try:
        prepare(raw)
    except pg.Error as exc:
        raw.close()
        raise UnavailableError(problem(url, exc)) from exc
    except BaseException:
        raw.close()
        raise
    return QmarkConnection(raw)


def migrate_from_sqlite(
    conn: psycopg.Connection[Any], url: str, component: str, steps: Sequence[Sequence[str]]
) -> None:
    """:func:`migrate` with a portable component's SQLite schema (see :func:`sqlite_ddl`)."""
    migrate(conn, url, component, [[sqlite_ddl(sql) for sql in step] for step in steps])


@contextlib.contextmanager
def transaction(
    conn: psycopg.Connection[Any], *, lock: int | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """One transaction, committed when the block ends and rolled back when it raises.

    With *lock*, the transaction first takes the advisory lock of that key (see
    :func:`lock_key`), so writers that need one order take turns, as ``BEGIN IMMEDIATE`` makes
    them on SQLite.
    """
    with conn.transaction():
        if lock is not None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        yield conn


def lock_key(name: str) -> int:
    """A stable 63-bit advisory lock key for *name* (the same on every node)."""
    value = 0
    for byte in name.encode():
        value = (value * 1_099_511_628_211 + byte) % (1 << 63)  # FNV-style, no hash seed
    return value


def schema_version(conn: psycopg.Connection[Any], component: str) -> int:
    """The version of *component*'s tables in the database; 0 when it has none yet."""
    found = conn.execute("SELECT to_regclass('callcodes_schema') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return 0
    row = conn.execute(
        "SELECT version FROM callcodes_schema WHERE component = %s", (component,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def migrate(
    conn: psycopg.Connection[Any], url: str, component: str, steps: Sequence[Sequence[str]]
) -> None:
    """Bring *component*'s tables to version ``len(steps)``, as ``_sqlite.migrate`` does.

    Nodes that start together take turns on an advisory lock, so the steps run once; a
    database whose tables are newer than this code is refused (``ConflictError``).
    """
    current = len(steps)
    if schema_version(conn, component) == current:
        return
    with transaction(conn, lock=lock_key("callcodes_schema")):
        conn.execute(SCHEMA_TABLE)
        version = schema_version(conn, component)
        refuse_newer(url, component, version, current)
        for step in steps[version:]:
            for statement in step:
                conn.execute(statement)
        if version < current:
            conn.execute(
                "INSERT INTO callcodes_schema (component, version) VALUES (%s, %s) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, current),
            )


def refuse_newer(url: str, component: str, found: int, known: int) -> None:
    """Raise :class:`~callcodes.ConflictError` when the tables are newer than this code."""
    if found > known:
        raise ConflictError(
            f"{redact(url)} holds {component} schema version {found}, newer than this "
            f"callcodes reads ({known}): upgrade callcodes to use it"
        )


def problem(url: str, exc: Exception) -> str:
    """What went wrong with the database at *url*, in the user's terms, and what to do."""
    where = redact(url)
    text = " ".join(str(exc).split()) or type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if "password authentication failed" in text or sqlstate == "28P01":
        return f"{where}: the password was refused: check the URL's user and password"
    if sqlstate.startswith("28"):
        return f"{where}: {text}: check pg_hba.conf and the URL's user"
    if sqlstate == "3D000":
        return f"{where}: no such database: create it (createdb) or fix the URL"
    if sqlstate.startswith("53"):
        return f"{where}: the server is out of resources ({text}): free some and retry"
    if "connection" in text.lower() or "timeout" in text.lower() or not sqlstate:
        return f"{where} is unreachable ({text}): check that PostgreSQL runs and the URL"
    return f"{where}: {text}"


@functools.lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    """SQLite's ``?`` parameters as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class QmarkConnection:
    """A psycopg connection that runs the SQL written for SQLite (``?`` parameters).

    For the components whose statements are portable SQL: each is written once, with ``?``
    parameters and identifiers that PostgreSQL reserves quoted (``"user"``), and runs on
    either database. The caller closes it.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        """Run one statement; its cursor."""
        return self.raw.execute(_qmark(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        """Run one statement for each row."""
        cursor = self.raw.cursor()
        cursor.executemany(_qmark(sql), list(rows))
        return cursor

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


_DDL_TYPES: Final = (
    (
        re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\s*\bWITHOUT ROWID\b"), ""),
)


def sqlite_ddl(statement: str) -> str:
    """A table or index of a portable component, written for SQLite, as PostgreSQL takes it.

    SQLite's ``INTEGER`` holds 64 bits (times in microseconds), so it becomes ``BIGINT``;
    ``BLOB`` becomes ``BYTEA``; ``WITHOUT ROWID`` goes. One schema, written once.
    """
    for pattern, replacement in _DDL_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement
