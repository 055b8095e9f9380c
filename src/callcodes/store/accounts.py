"""Accounts of the network service: roles and tenancy, passwords, tokens, throttled logins.

Tenancy follows Cisco BroadWorks: an operator (system administrator) manages everything, a
provider account the groups of its service provider, a group account its one group, and a
softswitch account may only ask for decisions. :class:`Accounts` keeps them in a policy store
beside the policy: every change (add, remove, password, token issued or revoked) is one
transaction of the store with its audit record.

Passwords are hashed with argon2id (the optional ``argon2-cffi`` package, extra ``serve``).
Tokens are ``cc_<id>_<secret>`` with a 256-bit random secret, stored as the SHA-256 digest of
the secret: a slow hash protects guessable passwords, while a random 256-bit secret cannot be
guessed, so a fast hash is enough and keeps every request cheap. Logins are throttled per
account name (also names without an account, which get the same answer after the same work)
and per source address (``logins``). An account enabled for OCI-P also keeps the SHA-1 verifier
of its password that BroadWorks' signed-password login needs (:meth:`Accounts.set_oci`). What a
backend provides is only :class:`AccountRows` (``accounts_sql`` for SQLite and PostgreSQL).
"""

from __future__ import annotations

import builtins
import enum
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs

from .._errors import (
    AccessDeniedError,
    ConflictError,
    InvalidValueError,
    MissingDependencyError,
    UnknownAccountError,
    show,
)
from ..core._validate import (
    check_account_name,
    check_group_id,
    check_provider_id,
    description_problem,
    member,
)
from .audit import Action
from .backend import Transaction
from .checks import check_actor, check_time
from .logins import NAME, SOURCE, LoginPolicy, ThrottleRows, count_failure, key, refusal, shown
from .writes import BaseStore

if TYPE_CHECKING:
    from .accounts_sql import AccountRow, TokenRow

__all__ = [
    "LOGIN_ACTOR",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "Account",
    "AccountRows",
    "Accounts",
    "Hasher",
    "LoginPolicy",
    "Role",
    "TokenInfo",
    "oci_verifier",
]

MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024
#: API tokens live at most this long (ten years); without a lifetime they never expire.
MAX_TOKEN_TTL: Final = timedelta(days=3660)
#: The actor of the audit records that failed logins and locks write.
LOGIN_ACTOR: Final = "login"
API: Final = "api"
SESSION: Final = "session"
_HIDDEN: Final = "(hidden)"  # what an error shows in place of a password
_TOKENS_ONLY: Final = "a softswitch account has no password: give it a token (accounts token)"
_TOKEN_PREFIX: Final = "cc"  # noqa: S105 - the tokens' prefix, not a secret
_ID_HEX: Final = 16
_SECRET_HEX: Final = 64
_HEX: Final = frozenset("0123456789abcdef")
WRONG: Final = "login refused: wrong name or password"
BAD_TOKEN: Final = "token refused: unknown, revoked or expired; sign in again"  # noqa: S105
_POLICY: Final = LoginPolicy()


class Role(enum.StrEnum):
    """What an account may do; the scope says where (BroadWorks' administrator levels)."""

    OPERATOR = "operator"  # everything
    PROVIDER = "provider"  # the groups whose provider is the account's scope
    GROUP = "group"  # one group: the account's scope
    SOFTSWITCH = "softswitch"  # may only ask for decisions (any group)


_SCOPED: Final = {Role.PROVIDER: "provider id", Role.GROUP: "group id"}


def _role(value: object) -> Role:
    return member(Role, "role", value)


def _scope(role: Role, scope: object) -> str | None:
    """*scope* checked for *role*: required (and valid) for provider and group accounts only."""
    kind = _SCOPED.get(role)
    if kind is None and scope is not None:
        raise InvalidValueError("scope", scope, f"a {role.value} account has no scope: omit it")
    if kind is None:
        return None
    if scope is None:
        raise InvalidValueError("scope", scope, f"a {role.value} account needs its {kind}")
    if role is Role.PROVIDER:
        return check_provider_id("scope", scope)
    return check_group_id("scope", scope)


def _plain(_i: object, _a: object, value: object) -> object:
    """A field's value as plain JSON: times in ISO 8601, roles by value."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value.value if isinstance(value, enum.Enum) else value


def _aware(field: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(field, value, "must be a timezone-aware datetime (use UTC)")
    return value


@attrs.frozen
class Account:
    """An account of the service: its name, role, scope and creation time (no secret)."""

    name: str = attrs.field(validator=lambda _i, a, v: check_account_name(a.name, v))
    role: Role = attrs.field(converter=_role)
    scope: str | None
    created: datetime = attrs.field(validator=lambda _i, a, v: _aware(a.name, v))
    has_password: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        _scope(self.role, self.scope)

    def may_manage(self, group: str, provider: str | None) -> bool:
        """Whether the account may manage *group*, whose service provider is *provider*."""
        if self.role is Role.OPERATOR:
            return True
        if self.role is Role.PROVIDER:
            return provider is not None and provider == self.scope
        if self.role is Role.GROUP:
            return group == self.scope
        return False

    def may_decide(self) -> bool:
        """Whether the account may ask for call decisions (operators and softswitches)."""
        return self.role in (Role.OPERATOR, Role.SOFTSWITCH)

    def to_dict(self) -> dict[str, Any]:
        """The account as plain JSON values."""
        return attrs.asdict(self, value_serializer=_plain)


@attrs.frozen
class TokenInfo:
    """A token as it may be shown: its public id, whose, what kind, when made, when it ends."""

    id: str
    account: str
    kind: str  # "api" (made by ``accounts token``) or "session" (made by a login)
    label: str
    created: datetime
    expires: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """The token as plain JSON values (never its secret, which is not kept)."""
        return attrs.asdict(self, value_serializer=_plain)


class Hasher(Protocol):
    """What :class:`Accounts` uses of ``argon2.PasswordHasher``."""

    def hash(self, password: str, /) -> str: ...  # noqa: D102
    def verify(self, hash: str, password: str, /) -> Any: ...  # noqa: D102 - True, or raises
    def check_needs_rehash(self, hash: str, /) -> bool: ...  # noqa: D102


class AccountRows(ThrottleRows, Protocol):
    """What a backend does for the accounts inside one of the store's transactions."""

    def account(self, name: str) -> AccountRow | None: ...  # noqa: D102
    def accounts(self) -> list[AccountRow]: ...  # noqa: D102
    def put_account(self, row: AccountRow) -> None: ...  # noqa: D102
    def remove_account(self, name: str) -> int: ...  # noqa: D102
    def set_password(self, name: str, old: str | None, new: str | None) -> bool: ...  # noqa: D102
    def token(self, token_id: str) -> TokenRow | None: ...  # noqa: D102
    def tokens(self, account: str | None) -> list[TokenRow]: ...  # noqa: D102
    def put_token(self, row: TokenRow) -> None: ...  # noqa: D102
    def remove_token(self, token_id: str) -> bool: ...  # noqa: D102
    def remove_tokens(self, account: str, kind: str) -> int: ...  # noqa: D102
    def remove_expired(self, kind: str, now: datetime) -> int: ...  # noqa: D102
    def oci_verifier(self, name: str) -> str | None: ...  # noqa: D102
    def set_oci_verifier(self, name: str, verifier: str | None) -> None: ...  # noqa: D102


#: The rows of one transaction (*write*: may create the tables), or None: the store has none.
RowsFor = Callable[[Transaction, bool], AccountRows | None]


def _rows_for(store: BaseStore) -> RowsFor:
    from .accounts_sql import account_rows  # noqa: PLC0415  # the rows in SQL

    return account_rows(store)


def _argon2() -> Any:
    try:
        import argon2  # noqa: PLC0415  # optional: only accounts with passwords need it
    except ImportError:
        raise MissingDependencyError("argon2-cffi", "serve", "accounts") from None
    return argon2


def _verify_errors() -> tuple[type[Exception], ...]:
    errors = _argon2().exceptions
    return (errors.VerificationError, errors.InvalidHashError)


def _check_password(password: object) -> str:
    """*password* when it may be set; the error never shows it."""
    if not isinstance(password, str):
        raise InvalidValueError("password", _HIDDEN, "a password is text")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidValueError(
            "password",
            _HIDDEN,
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, "
            f"not {len(password)}",
        )
    return password


def oci_verifier(password: str) -> str:
    """The SHA-1 verifier of *password* that BroadWorks' signed password is made from."""
    return hashlib.sha1(password.encode("utf-8", "surrogatepass")).hexdigest()  # noqa: S324


def _signed(verifier: str | None, nonce: str, signed: str) -> bool:
    """Whether *signed* is ``md5(nonce + ":" + verifier)`` (OCI-P 14sp4), in constant time."""
    made = hashlib.md5(f"{nonce}:{verifier}".encode(), usedforsecurity=False).hexdigest()
    given = signed.lower().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(made.encode(), given) and verifier is not None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _matches(row: TokenRow, secret: str) -> bool:
    return hmac.compare_digest(row[4], _digest(secret))  # in constant time


def _parse(token: object) -> tuple[str, str] | None:
    """The id and secret of a token text ``cc_<id>_<secret>``, or None when it is not one."""
    if not isinstance(token, str) or len(token) != len(_TOKEN_PREFIX) + _ID_HEX + _SECRET_HEX + 2:
        return None
    prefix, _, rest = token.partition("_")
    tid, _, secret = rest.partition("_")
    if prefix != _TOKEN_PREFIX or len(tid) != _ID_HEX or len(secret) != _SECRET_HEX:
        return None
    if not _HEX.issuperset(tid) or not _HEX.issuperset(secret):
        return None
    return tid, secret


def _account(row: AccountRow) -> Account:
    name, role, scope, password, created = row
    return Account(name, Role(role), scope, created, has_password=password is not None)


def _info(row: TokenRow) -> TokenInfo:
    return TokenInfo(*row[:4], row[5], row[6])


def _audit_group(account: Account) -> str:
    """The group of an account's records: a group account's own group, else none ("")."""
    return account.scope or "" if account.role is Role.GROUP else ""


class Accounts:
    """The accounts of the network service, kept in a policy *store* beside the policy.

    *clock* (aware UTC) dates accounts and tokens and judges expiry and throttling; it is the
    store's clock unless given. *policy* sets the throttling and the session lifetime;
    *hasher* replaces the default ``argon2.PasswordHasher()`` (tests give cheap parameters).
    Writes name an *actor* for the audit trail, like the store's own.
    """

    def __init__(
        self,
        store: BaseStore,
        *,
        clock: Callable[[], datetime] | None = None,
        policy: LoginPolicy = _POLICY,
        hasher: Hasher | None = None,
        rows: RowsFor | None = None,
    ) -> None:
        if not isinstance(policy, LoginPolicy):
            raise InvalidValueError("policy", policy, "give a LoginPolicy")
        self._store = store
        self._clock = store.now if clock is None else clock
        self._policy = policy
        self._given = hasher
        self._made: Hasher | None = None
        self._dummy: str | None = None
        self._lock = threading.Lock()
        self._rows = _rows_for(store) if rows is None else rows

    def _hasher(self) -> Hasher:
        if self._given is not None:
            return self._given
        with self._lock:
            if self._made is None:
                self._made = _argon2().PasswordHasher()  # argon2id, the library's parameters
            return self._made

    def _now(self) -> datetime:
        return check_time(self._clock(), "clock()")

    def _write_rows(self, tx: Transaction) -> AccountRows:
        rows = self._rows(tx, True)
        assert rows is not None, "a write transaction gets the rows, creating the tables"
        return rows

    # -- reading ---------------------------------------------------------------------------------

    def get(self, name: str) -> Account:
        """The account *name*; :class:`UnknownAccountError` if there is none."""
        with self._store.reading() as tx:
            rows = self._rows(tx, False)
            found = None if rows is None or not isinstance(name, str) else rows.account(name)
        if found is None:
            raise UnknownAccountError(name)
        return _account(found)

    def list(self) -> list[Account]:
        """Every account, by name."""
        with self._store.reading() as tx:
            rows = self._rows(tx, False)
            return [] if rows is None else [_account(row) for row in rows.accounts()]

    def tokens(self, name: str | None = None) -> builtins.list[TokenInfo]:
        """The tokens (API and sessions) of account *name*, or of every account when None.

        By account, then time made. :class:`UnknownAccountError` for an unknown *name*.
        """
        with self._store.reading() as tx:
            rows = self._rows(tx, False)
            if name is not None and (rows is None or rows.account(name) is None):
                raise UnknownAccountError(name)
            return [] if rows is None else [_info(row) for row in rows.tokens(name)]

    # -- changes ---------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        role: Role | str,
        *,
        scope: str | None = None,
        password: str | None = None,
        actor: str,
    ) -> Account:
        """Add an account; without *password* it signs in with tokens only.

        A group account's group must exist (:class:`UnknownGroupError`); a softswitch account
        has no password. :class:`ConflictError` when the name is taken.
        """
        check_actor(actor)
        check_account_name("name", name)
        kind = _role(role)
        scope = _scope(kind, scope)
        encoded = None
        if password is not None:
            if kind is Role.SOFTSWITCH:
                raise InvalidValueError("password", _HIDDEN, _TOKENS_ONLY)
            encoded = self._hasher().hash(_check_password(password))  # outside the write lock
        with self._store.writing(actor) as (tx, record):
            if kind is Role.GROUP:
                assert scope is not None
                self._store.group_id(tx, scope)
            rows = self._write_rows(tx)
            if rows.account(name) is not None:
                raise ConflictError(
                    f"account {show(name)} exists already: choose another name, or remove it "
                    "first (callcodes accounts remove NAME --yes)"
                )
            account = Account(name, kind, scope, self._now(), has_password=encoded is not None)
            rows.put_account((name, kind.value, scope, encoded, account.created))
            detail: dict[str, Any] = {"account": name, "role": kind.value, "scope": scope}
            detail["has_password"] = encoded is not None
            record(_audit_group(account), Action.ACCOUNT_ADD, detail)
        return account

    def remove(self, name: str, *, actor: str) -> None:
        """Remove the account; its API tokens and sessions go with it."""
        check_actor(actor)
        with self._store.writing(actor) as (tx, record):
            rows = self._write_rows(tx)
            found = rows.account(name) if isinstance(name, str) else None
            if found is None:
                raise UnknownAccountError(name)
            account = _account(found)
            gone = rows.remove_account(name)
            detail = {"account": name, "role": account.role.value, "scope": account.scope}
            record(_audit_group(account), Action.ACCOUNT_REMOVE, {**detail, "tokens_removed": gone})

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        """Give the account a new password; every session of the account ends.

        Its API tokens stay: they are revoked one by one (:meth:`revoke_token`), since a
        password change must not stop a service that uses a token. The OCI-P verifier of an
        account enabled for OCI-P is made again from the new password.
        """
        check_actor(actor)
        _check_password(password)
        if self.get(name).role is Role.SOFTSWITCH:
            raise InvalidValueError("password", _HIDDEN, _TOKENS_ONLY)
        encoded = self._hasher().hash(password)
        with self._store.writing(actor) as (tx, record):
            rows = self._write_rows(tx)
            found = rows.account(name)
            if found is None:
                raise UnknownAccountError(name)
            rows.set_password(name, found[3], encoded)
            if rows.oci_verifier(name) is not None:
                rows.set_oci_verifier(name, oci_verifier(password))
            ended = rows.remove_tokens(name, SESSION)
            detail = {"account": name, "sessions_ended": ended}
            record(_audit_group(_account(found)), Action.ACCOUNT_PASSWORD, detail)

    def issue_token(
        self, name: str, *, actor: str, label: str = "", ttl: timedelta | None = None
    ) -> tuple[TokenInfo, str]:
        """Make an API token for the account: its description and its text, shown only now.

        The text is ``cc_<id>_<secret>``; only the SHA-256 digest of the secret is kept.
        *ttl* (up to ten years) makes it expire; without it, it lasts until revoked.
        """
        check_actor(actor)
        if not isinstance(label, str) or description_problem(label) is not None:
            raise InvalidValueError("label", label, "printable text of at most 80 characters")
        if ttl is not None and not (
            isinstance(ttl, timedelta) and timedelta(0) < ttl <= MAX_TOKEN_TTL
        ):
            raise InvalidValueError("ttl", ttl, "more than 0 and at most 3660 days, or None")
        with self._store.writing(actor) as (tx, record):
            rows = self._write_rows(tx)
            found = rows.account(name) if isinstance(name, str) else None
            if found is None:
                raise UnknownAccountError(name)
            now = self._now()
            expires = None if ttl is None else now + ttl
            info, text = self._token(rows, TokenInfo("", name, API, label, now, expires))
            detail = {"account": name, **info.to_dict()}
            del detail["created"], detail["id"]
            detail["token"] = info.id
            record(_audit_group(_account(found)), Action.TOKEN_ISSUE, detail)
        return info, text

    @staticmethod
    def _token(rows: AccountRows, info: TokenInfo) -> tuple[TokenInfo, str]:
        """Keep the digest of a new secret for *info* (its id given here); the token text."""
        info = attrs.evolve(info, id=secrets.token_hex(_ID_HEX // 2))
        secret = secrets.token_hex(_SECRET_HEX // 2)  # 256 random bits
        rows.put_token(
            (
                info.id,
                info.account,
                info.kind,
                info.label,
                _digest(secret),
                info.created,
                info.expires,
            )
        )
        return info, f"{_TOKEN_PREFIX}_{info.id}_{secret}"

    def revoke_token(self, token_id: str, *, actor: str) -> None:
        """End the token (an API token or a session) with public id *token_id*.

        :class:`UnknownAccountError` (a ``KeyError``) names an unknown id.
        """
        check_actor(actor)
        with self._store.writing(actor) as (tx, record):
            rows = self._write_rows(tx)
            found = rows.token(token_id) if isinstance(token_id, str) else None
            if found is None:
                raise UnknownAccountError(token_id, token=True)
            owner = rows.account(found[1])
            rows.remove_token(token_id)
            record(
                "" if owner is None else _audit_group(_account(owner)),
                Action.TOKEN_REVOKE,
                {"account": found[1], "token": token_id, "kind": found[2]},
            )

    def oci_enabled(self, name: str) -> bool:
        """Whether the account may sign in to OCI-P with a signed password (14sp4)."""
        self.get(name)  # UnknownAccountError
        with self._store.reading() as tx:
            rows = self._rows(tx, False)
            return rows is not None and rows.oci_verifier(name) is not None

    def set_oci(self, name: str, password: str | None, *, actor: str) -> None:
        """Enable the OCI-P signed-password login with the account's *password*, or disable it.

        Enabling keeps the SHA-1 verifier of the password that BroadWorks' login needs, so the
        current password must be given (and is checked); None erases the verifier.
        """
        check_actor(actor)
        with self._store.reading() as tx:
            rows = self._rows(tx, False)
            found = rows.account(name) if rows is not None and isinstance(name, str) else None
        if found is None:
            raise UnknownAccountError(name)
        verifier = None
        if password is not None:
            if found[3] is None or not self._verify(found[3], _check_password(password)):
                raise InvalidValueError("password", _HIDDEN, "give the account's current password")
            verifier = oci_verifier(password)
        with self._store.writing(actor) as (tx, record):
            rows = self._write_rows(tx)
            current = rows.account(name)
            if current is None or current[3] != found[3]:
                raise ConflictError(f"account {show(name)} changed meanwhile: try again")
            rows.set_oci_verifier(name, verifier)
            detail = {"account": name, "enabled": verifier is not None}
            record(_audit_group(_account(current)), Action.ACCOUNT_OCI, detail)

    # -- signing in ------------------------------------------------------------------------------

    def login_signed(
        self, name: str, nonce: str, signed: str, *, source: str
    ) -> tuple[TokenInfo, str]:
        """:meth:`login` with OCI-P's ``md5(nonce + ":" + sha1hex(password))`` (14sp4).

        Only an account enabled for OCI-P (:meth:`set_oci`) can pass; throttled the same way.
        """
        opened = self._sign_in(name, signed, source, session=True, nonce=nonce)[1]
        assert opened is not None
        return opened

    def login(self, name: str, password: str, *, source: str) -> tuple[TokenInfo, str]:
        """Check the password and open a session: its description and its token text.

        Throttled (see :class:`LoginPolicy`); refused with :class:`AccessDeniedError`.
        """
        opened = self._sign_in(name, password, source, session=True)[1]
        assert opened is not None
        return opened

    def verify_password(self, name: str, password: str, *, source: str) -> Account:
        """Check the password as :meth:`login` does (throttled too), without a session."""
        return self._sign_in(name, password, source, session=False)[0]

    def logout(self, secret: str) -> None:
        """End the session whose token text is *secret*; nothing when it is already gone.

        An API token given here is left as it is: it ends with :meth:`revoke_token`.
        """
        parsed = _parse(secret)
        if parsed is None:
            return
        with self._store.writing(LOGIN_ACTOR) as (tx, _record):
            rows = self._rows(tx, False)
            found = None if rows is None else rows.token(parsed[0])
            if rows and found and found[2] == SESSION and _matches(found, parsed[1]):
                rows.remove_token(parsed[0])

    def authenticate(self, secret: str) -> Account:
        """The account whose API token or session *secret* is; else :class:`AccessDeniedError`.

        Refused when the token is unknown, revoked, expired, or its account was removed.
        """
        parsed = _parse(secret)
        if parsed is None:
            raise AccessDeniedError(BAD_TOKEN)
        now = self._now()
        with self._store.reading() as tx:
            rows = self._rows(tx, False)
            found = None if rows is None else rows.token(parsed[0])
            owner = None if rows is None or found is None else rows.account(found[1])
        if (
            found is None
            or owner is None
            or not _matches(found, parsed[1])
            or (found[6] is not None and found[6] <= now)
        ):
            raise AccessDeniedError(BAD_TOKEN)
        return _account(owner)

    def _verify(self, encoded: str | None, password: str) -> bool:
        """Whether *password* matches *encoded*; without a hash, the same work on a dummy."""
        hasher = self._hasher()
        with self._lock:
            if self._dummy is None:
                self._dummy = hasher.hash(secrets.token_hex(16))
        try:
            hasher.verify(encoded or self._dummy, password[:MAX_PASSWORD_LENGTH])
        except _verify_errors():
            return False
        return encoded is not None and len(password) <= MAX_PASSWORD_LENGTH

    @staticmethod
    def _secret(rows: AccountRows | None, row: AccountRow | None, nonce: str | None) -> str | None:
        """What a sign-in checks: the password's hash, or with a *nonce* the OCI-P verifier."""
        if rows is None or row is None:
            return None
        return row[3] if nonce is None else rows.oci_verifier(row[0])

    def _sign_in(
        self, name: str, password: str, source: str, *, session: bool, nonce: str | None = None
    ) -> tuple[Account, tuple[TokenInfo, str] | None]:
        """Check *password* (with a *nonce*: the signed password of OCI-P 14sp4), throttled."""
        if not isinstance(name, str):
            raise InvalidValueError("name", name, "an account name is text")
        if not isinstance(password, str):
            raise InvalidValueError("password", _HIDDEN, "a password is text")
        if not isinstance(source, str) or not source:
            raise InvalidValueError("source", source, "give the client's address as text")
        keys = {NAME: key(name), SOURCE: key(source)}
        names = {NAME: shown(name), SOURCE: shown(source)}
        now = self._now()
        with self._store.reading() as tx:
            rows = self._rows(tx, False)
            found = None if rows is None else rows.account(name)
            secret = self._secret(rows, found, nonce)
            refused = refusal(rows, keys, names, now)
        if refused is not None:  # no work and no record while locked: a flood costs nothing
            raise AccessDeniedError(refused)
        ok = self._verify(secret, password) if nonce is None else _signed(secret, nonce, password)
        rehashed = None
        if ok and nonce is None and secret and self._hasher().check_needs_rehash(secret):
            rehashed = self._hasher().hash(password)
        made: tuple[Account, tuple[TokenInfo, str] | None] | None = None
        with self._store.writing(LOGIN_ACTOR) as (tx, record):
            rows = self._write_rows(tx)
            now = self._now()
            current = rows.account(name)
            if ok and (current is None or self._secret(rows, current, nonce) != secret):
                ok = False  # removed, or its password changed, since it was read
            if ok:
                refused = refusal(rows, keys, names, now)
            if not ok:
                count_failure(rows, record, keys, names, now=now, policy=self._policy)
            elif refused is None:
                assert current is not None
                rows.clear_failures(NAME, keys[NAME])
                if rehashed is not None:
                    rows.set_password(name, secret, rehashed)
                opened = None
                if session:
                    rows.remove_expired(SESSION, now)
                    expires = now + self._policy.session_ttl
                    opened = self._token(rows, TokenInfo("", name, SESSION, "", now, expires))
                made = (_account(current), opened)
        if refused is not None:
            raise AccessDeniedError(refused)
        if made is None:
            raise AccessDeniedError(WRONG)
        return made
