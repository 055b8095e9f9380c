"""The accounts' tables and row operations, in the policy store's database (SQLite or PostgreSQL).

The accounts are a component of their own: their tables are named ``accounts_*`` and their
version is the ``accounts`` row of the shared ``callcodes_schema`` table, so they are upgraded
apart from the policy tables. Rows are written on the policy store's connection, inside the
store's own transactions, so a change and its audit record commit together. The tables hold
argon2 hashes of passwords and SHA-256 digests of token secrets, never a password or a secret;
an account enabled for OCI-P also has the SHA-1 verifier of its password (``oci_verifier``).

A store without the tables gets them in the transaction of its first change to the accounts,
so a refused first change leaves the store as it was, and reading (or a store opened read-only)
creates nothing: a store without the tables simply holds no accounts. The SQL is the portable
SQL of ``sql_tx``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from .._timefmt import iso
from .backend import Transaction
from .components import component_version, create_component, refuse_newer, store_name
from .sql_tx import SqlTransaction
from .writes import BaseStore

__all__ = ["COMPONENT", "MIGRATIONS", "SCHEMA_VERSION", "SqlAccountRows", "account_rows"]

#: The component whose version ``callcodes_schema`` records for these tables.
COMPONENT: Final = "accounts"

#: Forward migrations, as the policy store's: step i takes the tables from version i to i + 1.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        # password: the argon2 encoded hash (parameters, salt, hash), NULL for tokens only.
        """CREATE TABLE accounts_accounts (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            scope TEXT,
            password TEXT,
            created TEXT NOT NULL
        ) WITHOUT ROWID""",
        # digest: SHA-256 of the token's secret (hex); the secret itself is never stored.
        """CREATE TABLE accounts_tokens (
            id TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            kind TEXT NOT NULL,
            label TEXT NOT NULL,
            digest TEXT NOT NULL,
            created TEXT NOT NULL,
            expires TEXT
        ) WITHOUT ROWID""",
        "CREATE INDEX accounts_tokens_by_account ON accounts_tokens (account, kind)",
        # One row per failed login, per account name and per source (kind), inside the window.
        """CREATE TABLE accounts_failures (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX accounts_failures_by_key ON accounts_failures (kind, key, at)",
        "CREATE INDEX accounts_failures_by_time ON accounts_failures (at)",
        """CREATE TABLE accounts_locks (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            until TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        ) WITHOUT ROWID""",
    ),
    # sha1hex(password), kept only while the account is enabled for OCI-P's signed login.
    ("ALTER TABLE accounts_accounts ADD COLUMN oci_verifier TEXT",),
)
#: The accounts schema version this code writes (and the newest it reads).
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: An account row: name, role, scope, argon2 hash or None, created.
AccountRow = tuple[str, str, str | None, str | None, datetime]
#: A token row: id, account, kind, label, digest, created, expires.
TokenRow = tuple[str, str, str, str, str, datetime, datetime | None]

_ACCOUNT_COLUMNS: Final = "name, role, scope, password, created"
_TOKEN_COLUMNS: Final = "id, account, kind, label, digest, created, expires"  # noqa: S105
# Stored times were written by iso(), so they parse without further checks.
_from_text: Final = datetime.fromisoformat


def _account(row: Sequence[object]) -> AccountRow:
    name, role, scope, password, created = row
    return (str(name), str(role), scope, password, _from_text(str(created)))  # type: ignore[return-value]


def _token(row: Sequence[object]) -> TokenRow:
    tid, account, kind, label, digest, created, expires = row
    return (
        str(tid),
        str(account),
        str(kind),
        str(label),
        str(digest),
        _from_text(str(created)),
        None if expires is None else _from_text(str(expires)),
    )


class SqlAccountRows:
    """The accounts' row operations on a connection inside one of the store's transactions."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    # -- accounts ---------------------------------------------------------------------------------

    def account(self, name: str) -> AccountRow | None:
        """The row of account *name*, or None."""
        row = self._conn.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts_accounts WHERE name = ?",  # noqa: S608
            (name,),
        ).fetchone()
        return None if row is None else _account(row)

    def accounts(self) -> list[AccountRow]:
        """Every account's row, by name."""
        cursor = self._conn.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts_accounts ORDER BY name"  # noqa: S608
        )
        return [_account(row) for row in cursor]

    def put_account(self, row: AccountRow) -> None:
        """Add a new account."""
        name, role, scope, password, created = row
        self._conn.execute(
            f"INSERT INTO accounts_accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",  # noqa: S608
            (name, role, scope, password, iso(created)),
        )

    def remove_account(self, name: str) -> int:
        """Delete the account and its tokens; how many tokens went with it."""
        gone = self._conn.execute("DELETE FROM accounts_tokens WHERE account = ?", (name,))
        self._conn.execute("DELETE FROM accounts_accounts WHERE name = ?", (name,))
        return int(gone.rowcount)

    def set_password(self, name: str, old: str | None, new: str | None) -> bool:
        """Replace the account's hash *old* by *new*; False when the hash was not *old* anymore."""
        cursor = self._conn.execute(
            "UPDATE accounts_accounts SET password = ? "
            "WHERE name = ? AND password IS NOT DISTINCT FROM ?",
            (new, name, old),
        )
        return bool(cursor.rowcount == 1)

    def oci_verifier(self, name: str) -> str | None:
        """The account's OCI-P verifier, or None (not enabled, or no such account)."""
        row = self._conn.execute(
            "SELECT oci_verifier FROM accounts_accounts WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def set_oci_verifier(self, name: str, verifier: str | None) -> None:
        """Keep *verifier* for the account (None erases it)."""
        self._conn.execute(
            "UPDATE accounts_accounts SET oci_verifier = ? WHERE name = ?", (verifier, name)
        )

    # -- tokens -----------------------------------------------------------------------------------

    def token(self, token_id: str) -> TokenRow | None:
        """The row of token *token_id*, or None."""
        row = self._conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM accounts_tokens WHERE id = ?",  # noqa: S608
            (token_id,),
        ).fetchone()
        return None if row is None else _token(row)

    def tokens(self, account: str | None) -> list[TokenRow]:
        """The tokens of *account* (every account's when None), by account, time and id."""
        where, args = ("", ()) if account is None else ("WHERE account = ?", (account,))
        cursor = self._conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM accounts_tokens {where} "  # noqa: S608
            "ORDER BY account, created, id",
            args,
        )
        return [_token(row) for row in cursor]

    def put_token(self, row: TokenRow) -> None:
        """Add a new token."""
        tid, account, kind, label, digest, created, expires = row
        self._conn.execute(
            f"INSERT INTO accounts_tokens ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                tid,
                account,
                kind,
                label,
                digest,
                iso(created),
                None if expires is None else iso(expires),
            ),
        )

    def remove_token(self, token_id: str) -> bool:
        """Delete token *token_id*; whether there was one."""
        cursor = self._conn.execute("DELETE FROM accounts_tokens WHERE id = ?", (token_id,))
        return bool(cursor.rowcount == 1)

    def remove_tokens(self, account: str, kind: str) -> int:
        """Delete every token of *kind* of *account*; how many."""
        cursor = self._conn.execute(
            "DELETE FROM accounts_tokens WHERE account = ? AND kind = ?", (account, kind)
        )
        return int(cursor.rowcount)

    def remove_expired(self, kind: str, now: datetime) -> int:
        """Delete the tokens of *kind* that expired by *now*; how many."""
        cursor = self._conn.execute(
            "DELETE FROM accounts_tokens WHERE kind = ? AND expires IS NOT NULL AND expires <= ?",
            (kind, iso(now)),
        )
        return int(cursor.rowcount)

    # -- failed logins and locks ------------------------------------------------------------------

    def add_failure(self, kind: str, key: str, at: datetime) -> None:
        """Count one failed login for *key* (an account name or a source) at *at*."""
        self._conn.execute(
            "INSERT INTO accounts_failures (kind, key, at) VALUES (?, ?, ?)", (kind, key, iso(at))
        )

    def failures(self, kind: str, key: str, since: datetime) -> int:
        """How many failed logins *key* has after *since*."""
        row = self._conn.execute(
            "SELECT count(*) FROM accounts_failures WHERE kind = ? AND key = ? AND at > ?",
            (kind, key, iso(since)),
        ).fetchone()
        return int(row[0])

    def clear_failures(self, kind: str, key: str) -> None:
        """Forget the failed logins of *key*."""
        self._conn.execute("DELETE FROM accounts_failures WHERE kind = ? AND key = ?", (kind, key))

    def forget(self, before: datetime) -> None:
        """Forget failed logins at or before *before* and locks that ended by then."""
        text = iso(before)
        self._conn.execute("DELETE FROM accounts_failures WHERE at <= ?", (text,))
        self._conn.execute("DELETE FROM accounts_locks WHERE until <= ?", (text,))

    def lock_until(self, kind: str, key: str) -> datetime | None:
        """Until when *key* is locked (the lock may have ended), or None."""
        row = self._conn.execute(
            "SELECT until FROM accounts_locks WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return None if row is None else _from_text(str(row[0]))

    def put_lock(self, kind: str, key: str, until: datetime) -> None:
        """Lock *key* until *until* (replacing an earlier lock)."""
        self._conn.execute(
            "INSERT INTO accounts_locks (kind, key, until) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET until = excluded.until",
            (kind, key, iso(until)),
        )


def _sql(tx: Transaction) -> SqlTransaction:
    if not isinstance(tx, SqlTransaction):
        raise TypeError("the accounts need an SQL policy store's transactions")
    return tx


def account_rows(store: BaseStore) -> Callable[[Transaction, bool], SqlAccountRows | None]:
    """The accounts' rows for each transaction of *store*; None where it has no tables.

    Tables of an older version are upgraded now (``add_component``), unless the store was
    opened read-only; a store without them gets them with its first change to the accounts
    (the rows of a write transaction), and a read finds no tables and no rows.
    """
    where = store_name(store)
    with store.reading() as tx:
        version = refuse_newer(_sql(tx), where, COMPONENT, MIGRATIONS)
    if 0 < version < SCHEMA_VERSION:
        upgrade: Callable[[str, Sequence[Sequence[str]]], None] = store.add_component  # type: ignore[attr-defined]  # both SQL stores have it
        try:
            upgrade(COMPONENT, MIGRATIONS)
        except Exception as exc:
            text = str(exc).lower()
            if "readonly" not in text and "read-only" not in text:  # read-only: read as it is
                raise
    ready = version == SCHEMA_VERSION

    def rows(tx: Transaction, write: bool) -> SqlAccountRows | None:
        nonlocal ready
        sql = _sql(tx)
        if not ready:
            if component_version(sql, COMPONENT) < SCHEMA_VERSION:
                if not write:
                    return None
                create_component(sql, where, COMPONENT, MIGRATIONS)
            ready = True
        return SqlAccountRows(sql.connection)

    return rows
