"""Accounts of the network service: tenancy, passwords, tokens, sessions, throttled logins."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import argon2
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcodes import (
    AccessDeniedError,
    ConflictError,
    GroupSettings,
    InvalidValueError,
    MissingDependencyError,
    UnknownAccountError,
    UnknownGroupError,
)
from callcodes.store import PolicyStore
from callcodes.store.accounts import Account, Accounts, LoginPolicy, Role
from callcodes.testing import Clock

PASSWORD = "correct horse battery"
OTHER = "another long password"
WRONG = "not the password!"


class CountingHasher:
    """Cheap argon2 parameters (tests stay fast), counting the verifications."""

    def __init__(self, **params: int) -> None:
        self.inner = argon2.PasswordHasher(
            time_cost=params.get("time_cost", 1), memory_cost=8, parallelism=1
        )
        self.verified = 0

    def hash(self, password: str, /) -> str:
        return self.inner.hash(password)

    def verify(self, hash: str, password: str, /) -> Any:
        self.verified += 1
        return self.inner.verify(hash, password)

    def check_needs_rehash(self, hash: str, /) -> bool:
        return self.inner.check_needs_rehash(hash)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "policy.db"


@pytest.fixture
def store(store_at: Callable[..., PolicyStore], clock: Clock) -> Iterator[PolicyStore]:
    """A store with one group, on each backend (SQLite, PostgreSQL)."""
    with store_at(clock=clock) as opened:
        opened.set_group("acme", GroupSettings(), actor="ann")
        yield opened


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def accounts(store: PolicyStore, clock: Clock, hasher: CountingHasher) -> Accounts:
    return Accounts(store, clock=clock, hasher=hasher)


@pytest.fixture
def stored(store: PolicyStore, db: Path) -> Callable[[], bytes]:
    """Everything the store holds as it rests: the SQLite file, or every table's rows."""
    url = getattr(store, "url", None)
    if url is None:
        return lambda: file_bytes(db)
    return lambda: database_text(url)


def database_text(url: str) -> bytes:
    """Every table of the database and each of its rows, as text, in a fixed order."""
    with psycopg.connect(url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        lines = list(tables)
        for table in tables:
            lines += [row for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t ORDER BY 1')]
    return "\n".join(lines).encode()


def file_bytes(db: Path) -> bytes:
    """The store as it is on disk: the file and its write-ahead log."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def refused_login(accounts: Accounts, name: str, password: str, source: str = "10.0.0.1") -> str:
    with pytest.raises(AccessDeniedError) as caught:
        accounts.login(name, password, source=source)
    return str(caught.value)


# -- tenancy --------------------------------------------------------------------------------------

NAMES = st.sampled_from(["acme", "globex", "initech"])
PROVIDERS = st.one_of(st.none(), st.sampled_from(["sp1", "sp2"]))


@st.composite
def accounts_of_every_role(draw: st.DrawFn) -> Account:
    role = draw(st.sampled_from(Role))
    scope = {Role.PROVIDER: PROVIDERS.filter(bool), Role.GROUP: NAMES}.get(role, st.none())
    return Account("someone", role, draw(scope), Clock().now)


@given(account=accounts_of_every_role(), group=NAMES, provider=PROVIDERS)
def test_tenancy_follows_the_roles(account: Account, group: str, provider: str | None) -> None:
    """Operators: all; providers: their provider's groups; groups: their own; softswitches: none."""
    expected = {
        Role.OPERATOR: True,
        Role.PROVIDER: provider is not None and provider == account.scope,
        Role.GROUP: group == account.scope,
        Role.SOFTSWITCH: False,
    }[account.role]
    assert account.may_manage(group, provider) is expected
    assert account.may_decide() is (account.role in (Role.OPERATOR, Role.SOFTSWITCH))


def test_a_provider_account_never_manages_a_group_without_provider() -> None:
    account = Account("p", Role.PROVIDER, "sp1", Clock().now)
    assert not account.may_manage("acme", None)
    assert account.may_manage("acme", "sp1")


@pytest.mark.parametrize(
    ("role", "scope", "problem"),
    [
        ("provider", None, "needs its provider id"),
        ("group", None, "needs its group id"),
        ("operator", "acme", "has no scope"),
        ("softswitch", "sp1", "has no scope"),
        ("provider", "p" * 31, "at most 30 characters"),
        ("provider", "sp\x1b[2J", "control or invisible character"),
        ("boss", None, "must be one of"),
    ],
)
def test_scopes_are_checked(
    accounts: Accounts, stored: Callable[[], bytes], role: str, scope: str | None, problem: str
) -> None:
    before = stored()
    with pytest.raises(InvalidValueError, match=problem):
        accounts.add("x", role, scope=scope, actor="ann")
    assert stored() == before


def test_a_group_account_needs_an_existing_group(
    accounts: Accounts, stored: Callable[[], bytes]
) -> None:
    before = stored()
    with pytest.raises(UnknownGroupError):
        accounts.add("g", Role.GROUP, scope="nowhere", actor="ann")
    assert stored() == before  # not even the accounts' tables were created
    assert accounts.list() == []


@pytest.mark.parametrize("name", ["", " ann", "a\nb", "x" * 162, "\u202eevil"])
def test_account_names_are_printable_and_bounded(accounts: Accounts, name: str) -> None:
    with pytest.raises(InvalidValueError, match="account name"):
        accounts.add(name, "operator", actor="ann")


def test_add_get_list_remove(accounts: Accounts, clock: Clock) -> None:
    accounts.add("zed", "operator", password=PASSWORD, actor="ann")
    made = accounts.add("amy", "provider", scope="sp1", actor="ann")
    assert made == Account("amy", Role.PROVIDER, "sp1", clock.now)
    assert accounts.get("zed").has_password
    assert [a.name for a in accounts.list()] == ["amy", "zed"]
    assert made.to_dict() == {
        "name": "amy",
        "role": "provider",
        "scope": "sp1",
        "created": clock.now.isoformat(),
        "has_password": False,
    }
    with pytest.raises(ConflictError, match="exists already"):
        accounts.add("amy", "operator", actor="ann")
    accounts.remove("amy", actor="ann")
    with pytest.raises(UnknownAccountError, match="callcodes accounts list") as caught:
        accounts.get("amy")
    assert isinstance(caught.value, KeyError)
    with pytest.raises(UnknownAccountError):
        accounts.remove("amy", actor="ann")


# -- passwords ------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short", "x" * 11, "y" * 1025])
def test_password_length_is_12_to_1024(accounts: Accounts, password: str) -> None:
    with pytest.raises(InvalidValueError, match="12 to 1024 characters") as caught:
        accounts.add("bob", "operator", password=password, actor="ann")
    assert password not in str(caught.value)
    assert password not in repr(caught.value.value)


def test_a_softswitch_account_has_no_password(accounts: Accounts) -> None:
    with pytest.raises(InvalidValueError, match="softswitch account has no password"):
        accounts.add("sw", "softswitch", password=PASSWORD, actor="ann")
    accounts.add("sw", "softswitch", actor="ann")
    with pytest.raises(InvalidValueError, match="softswitch account has no password"):
        accounts.set_password("sw", PASSWORD, actor="ann")


def test_an_account_without_password_cannot_log_in(accounts: Accounts) -> None:
    accounts.add("robot", "operator", actor="ann")
    assert refused_login(accounts, "robot", PASSWORD) == "login refused: wrong name or password"


def test_the_default_hasher_is_argon2id(store: PolicyStore, clock: Clock) -> None:
    accounts = Accounts(store, clock=clock)
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    stored = store._conn.execute("SELECT password FROM accounts_accounts").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert accounts.verify_password("ann", PASSWORD, source="::1").name == "ann"


def test_without_argon2_hashing_names_the_extra(
    store: PolicyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "argon2", None)
    accounts = Accounts(store)
    with pytest.raises(MissingDependencyError, match=r"callcodes\[serve\]"):
        accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    accounts.add("sw", "softswitch", actor="ann")  # tokens need no argon2
    _info, text = accounts.issue_token("sw", actor="ann")
    assert accounts.authenticate(text).name == "sw"


def test_a_stale_hash_is_rehashed_at_login(store: PolicyStore, clock: Clock) -> None:
    Accounts(store, clock=clock, hasher=CountingHasher(time_cost=1)).add(
        "ann", "operator", password=PASSWORD, actor="ann"
    )
    query = "SELECT password FROM accounts_accounts"
    old = store._conn.execute(query).fetchone()[0]
    stronger = Accounts(store, clock=clock, hasher=CountingHasher(time_cost=2))
    stronger.login("ann", PASSWORD, source="::1")
    new = store._conn.execute(query).fetchone()[0]
    assert ",t=1," in old
    assert ",t=2," in new
    assert stronger.verify_password("ann", PASSWORD, source="::1").name == "ann"


# -- tokens and sessions --------------------------------------------------------------------------


def test_token_round_trip_and_revoke(accounts: Accounts, clock: Clock) -> None:
    accounts.add("sw", "softswitch", actor="ann")
    info, text = accounts.issue_token("sw", actor="ann", label="kamailio")
    assert text.startswith(f"cc_{info.id}_")
    assert len(text) == 3 + 16 + 1 + 64
    assert info.kind == "api"
    assert info.expires is None
    assert accounts.authenticate(text).name == "sw"
    assert accounts.tokens("sw") == [info]
    assert info.to_dict()["label"] == "kamailio"
    accounts.revoke_token(info.id, actor="ann")
    with pytest.raises(AccessDeniedError, match="token refused"):
        accounts.authenticate(text)
    with pytest.raises(UnknownAccountError, match="token --list") as caught:
        accounts.revoke_token(info.id, actor="ann")
    assert isinstance(caught.value, KeyError)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # another secret
        lambda t: t.upper(),
        lambda t: t[:-1],
        lambda t: t.replace("cc_", "xx_"),
        lambda t: "",
        lambda t: t + "0",
    ],
)
def test_a_tampered_token_is_refused(accounts: Accounts, change: Any) -> None:
    accounts.add("sw", "softswitch", actor="ann")
    _info, text = accounts.issue_token("sw", actor="ann")
    with pytest.raises(AccessDeniedError):
        accounts.authenticate(change(text))


def test_tokens_expire_by_the_clock(accounts: Accounts, clock: Clock) -> None:
    accounts.add("sw", "softswitch", actor="ann")
    info, text = accounts.issue_token("sw", actor="ann", ttl=timedelta(days=1))
    assert info.expires == clock.now + timedelta(days=1)
    clock.advance(hours=23, minutes=59)
    assert accounts.authenticate(text).name == "sw"
    clock.advance(minutes=1)
    with pytest.raises(AccessDeniedError):
        accounts.authenticate(text)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"ttl": timedelta(0)}, "more than 0"),
        ({"ttl": timedelta(days=3661)}, "3660 days"),
        ({"label": "a\nb"}, "printable"),
        ({"label": "x" * 81}, "80 characters"),
    ],
)
def test_token_options_are_checked(
    accounts: Accounts, stored: Callable[[], bytes], kwargs: dict[str, Any], problem: str
) -> None:
    accounts.add("sw", "softswitch", actor="ann")
    before = stored()
    with pytest.raises(InvalidValueError, match=problem):
        accounts.issue_token("sw", actor="ann", **kwargs)
    assert stored() == before


def test_sessions_end_with_their_ttl_and_at_logout(store: PolicyStore, clock: Clock) -> None:
    accounts = Accounts(
        store,
        clock=clock,
        hasher=CountingHasher(),
        policy=LoginPolicy(session_ttl=timedelta(hours=1)),
    )
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    info, text = accounts.login("ann", PASSWORD, source="::1")
    assert info.kind == "session"
    assert info.expires == clock.now + timedelta(hours=1)
    assert accounts.authenticate(text).name == "ann"
    clock.advance(hours=1)
    with pytest.raises(AccessDeniedError):
        accounts.authenticate(text)
    _info, again = accounts.login("ann", PASSWORD, source="::1")
    assert [t.kind for t in accounts.tokens("ann")] == ["session"]  # the expired one is gone
    accounts.logout(again)
    accounts.logout(again)  # already gone: no error
    accounts.logout("not a token")
    with pytest.raises(AccessDeniedError):
        accounts.authenticate(again)


def test_logout_leaves_api_tokens(accounts: Accounts) -> None:
    accounts.add("ann", "operator", actor="ann")
    _info, text = accounts.issue_token("ann", actor="ann")
    accounts.logout(text)
    assert accounts.authenticate(text).name == "ann"


def test_a_password_change_ends_sessions_not_api_tokens(accounts: Accounts) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    _api, api_text = accounts.issue_token("ann", actor="ann")
    _s, session_text = accounts.login("ann", PASSWORD, source="::1")
    accounts.set_password("ann", OTHER, actor="ann")
    with pytest.raises(AccessDeniedError):
        accounts.authenticate(session_text)
    assert accounts.authenticate(api_text).name == "ann"
    refused_login(accounts, "ann", PASSWORD)
    assert accounts.login("ann", OTHER, source="::1")[0].account == "ann"


def test_removing_an_account_ends_its_tokens(accounts: Accounts) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    _api, api_text = accounts.issue_token("ann", actor="ann")
    _s, session_text = accounts.login("ann", PASSWORD, source="::1")
    accounts.remove("ann", actor="ann")
    for text in (api_text, session_text):
        with pytest.raises(AccessDeniedError):
            accounts.authenticate(text)
    assert accounts.tokens() == []
    with pytest.raises(UnknownAccountError):
        accounts.tokens("ann")


def test_removing_a_group_removes_its_administrators(
    accounts: Accounts, store: PolicyStore
) -> None:
    """A group of the same name created later is not reachable with the old group's tokens."""
    accounts.add("acme-admin", "group", scope="acme", password=PASSWORD, actor="ann")
    accounts.add("ops", "operator", actor="ann")
    _api, api_text = accounts.issue_token("acme-admin", actor="ann")
    _s, session_text = accounts.login("acme-admin", PASSWORD, source="::1")
    store.remove_group("acme", actor="ann")
    store.set_group("acme", GroupSettings(), actor="someone else")
    for text in (api_text, session_text):
        with pytest.raises(AccessDeniedError):
            accounts.authenticate(text)
    assert [a.name for a in accounts.list()] == ["ops"]
    (removal,) = store.audit("acme", action="group.remove")
    assert removal.detail["accounts_removed"] == ["acme-admin"]


def test_removing_a_group_without_accounts_tables_creates_none(db: Path, clock: Clock) -> None:
    with PolicyStore(db, clock=clock) as store:
        store.set_group("acme", GroupSettings(), actor="ann")
        store.remove_group("acme", actor="ann")
        (removal,) = store.audit("acme", action="group.remove")
    assert "accounts_removed" not in removal.detail
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert not any(name.startswith("accounts_") for name in tables)


# -- throttling -----------------------------------------------------------------------------------


def test_failures_lock_the_name_until_lock_for_passes(accounts: Accounts, clock: Clock) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    for _ in range(5):
        assert refused_login(accounts, "ann", WRONG) == "login refused: wrong name or password"
    locked = refused_login(accounts, "ann", PASSWORD, source="10.9.9.9")  # right, but locked
    until = clock.now + timedelta(minutes=15)
    assert locked == (
        "login refused: too many failed logins for ann: "
        f"try again after {until:%Y-%m-%d %H:%M:%S} UTC"
    )
    with pytest.raises(AccessDeniedError):
        accounts.verify_password("ann", PASSWORD, source="10.9.9.9")
    clock.advance(minutes=14, seconds=59)
    refused_login(accounts, "ann", PASSWORD)
    clock.advance(seconds=1)
    assert accounts.login("ann", PASSWORD, source="10.0.0.1")[0].account == "ann"


def test_failures_outside_the_window_do_not_count(accounts: Accounts, clock: Clock) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    for _ in range(4):
        refused_login(accounts, "ann", WRONG)
    clock.advance(minutes=15)
    for _ in range(4):
        refused_login(accounts, "ann", WRONG)
    assert accounts.verify_password("ann", PASSWORD, source="10.0.0.1").name == "ann"


def test_a_success_clears_the_names_count(accounts: Accounts) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    for _ in range(4):
        refused_login(accounts, "ann", WRONG)
    accounts.login("ann", PASSWORD, source="10.0.0.1")
    for _ in range(4):
        refused_login(accounts, "ann", WRONG)
    assert accounts.verify_password("ann", PASSWORD, source="10.0.0.1").name == "ann"


def test_failures_from_one_source_lock_the_source(store: PolicyStore, clock: Clock) -> None:
    policy = LoginPolicy(max_failures=100, max_source_failures=3)
    accounts = Accounts(store, clock=clock, hasher=CountingHasher(), policy=policy)
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    for name in ("x1", "x2", "x3"):
        refused_login(accounts, name, WRONG, source="203.0.113.7")
    message = refused_login(accounts, "ann", PASSWORD, source="203.0.113.7")
    assert "too many failed logins for 203.0.113.7" in message
    assert accounts.login("ann", PASSWORD, source="198.51.100.1")[0].account == "ann"
    clock.advance(policy.lock_for)
    assert accounts.login("ann", PASSWORD, source="203.0.113.7")[0].account == "ann"


def test_unknown_names_are_throttled_as_known_ones(
    accounts: Accounts, hasher: CountingHasher, store: PolicyStore
) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    answers = {}
    for name in ("ann", "nobody"):
        verified = hasher.verified
        answers[name] = [refused_login(accounts, name, WRONG, source=name) for _ in range(6)]
        assert hasher.verified - verified == 5  # one argon2 verify per attempt, none once locked
    assert answers["ann"][:5] == answers["nobody"][:5]
    assert answers["nobody"][5].startswith("login refused: too many failed logins for nobody:")
    assert answers["ann"][5].replace("ann", "nobody") == answers["nobody"][5]
    locked = store.audit(action="login.locked")
    assert [dict(r.detail)["name"] for r in locked] == ["ann", "nobody"]


def test_failures_and_locks_are_audited_without_the_password(
    accounts: Accounts, store: PolicyStore, clock: Clock
) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    for _ in range(5):
        refused_login(accounts, "ann", WRONG, source="192.0.2.1")
    failed = store.audit(action="login.failed")
    assert len(failed) == 5
    assert {(r.actor, r.group) for r in failed} == {("login", "")}
    assert dict(failed[0].detail) == {"name": "ann", "source": "192.0.2.1"}
    (locked,) = store.audit(action="login.locked")
    assert dict(locked.detail) == {
        "name": "ann",
        "failures": 5,
        "until": (clock.now + timedelta(minutes=15)).isoformat(),
    }
    assert WRONG not in str([r.to_dict() for r in store.audit()])
    refused_login(accounts, "ann", WRONG, source="192.0.2.1")  # while locked: no new record
    assert len(store.audit(action="login.failed")) == 5


def test_odd_names_are_shown_escaped_and_cut(accounts: Accounts, store: PolicyStore) -> None:
    refused_login(accounts, "evil\x1b[2J" + "x" * 500, WRONG)
    (record,) = store.audit(action="login.failed")
    shown = record.detail["name"]
    assert "\x1b" not in shown
    assert len(shown) < 100


def test_policy_values_are_checked() -> None:
    with pytest.raises(InvalidValueError):
        LoginPolicy(max_failures=0)
    with pytest.raises(InvalidValueError):
        LoginPolicy(window=timedelta(0))


# -- the store: audit, secrets, refusals, read-only -----------------------------------------------


def test_changes_are_audited_with_the_accounts_group(
    accounts: Accounts, store: PolicyStore
) -> None:
    accounts.add("gina", "group", scope="acme", password=PASSWORD, actor="ann")
    accounts.add("olga", "operator", actor="bob")
    info, _text = accounts.issue_token("gina", actor="ann", label="portal")
    accounts.set_password("gina", OTHER, actor="ann")
    accounts.revoke_token(info.id, actor="ann")
    accounts.remove("olga", actor="ann")
    records = [(r.actor, r.group, r.action.value) for r in store.audit()][1:]
    assert records == [
        ("ann", "acme", "account.add"),
        ("bob", "", "account.add"),
        ("ann", "acme", "token.issue"),
        ("ann", "acme", "account.password"),
        ("ann", "acme", "token.revoke"),
        ("ann", "", "account.remove"),
    ]
    issued = store.audit(action="token.issue")[0].detail
    assert issued["token"] == info.id
    assert issued["label"] == "portal"


def test_no_password_or_secret_reaches_the_file(
    accounts: Accounts, store: PolicyStore, stored: Callable[[], bytes]
) -> None:
    accounts.add("ann", "operator", password=PASSWORD, actor="ann")
    _api, api_text = accounts.issue_token("ann", actor="ann")
    _s, session_text = accounts.login("ann", PASSWORD, source="::1")
    refused_login(accounts, "ann", WRONG)
    accounts.set_password("ann", OTHER, actor="ann")
    everything = stored()
    store.close()
    everything += stored()
    for secret in (PASSWORD, OTHER, WRONG, api_text, session_text):
        for part in (secret, secret.split("_")[-1]):
            assert part.encode() not in everything, part


def test_refused_changes_leave_the_file_as_it_was(
    accounts: Accounts, stored: Callable[[], bytes]
) -> None:
    accounts.add("ann", "operator", actor="ann")
    before = stored()
    refusals = [
        lambda: accounts.add("ann", "operator", actor="ann"),
        lambda: accounts.add("bob", "operator", password="short", actor="ann"),
        lambda: accounts.add("bob", "operator", actor="bad\nactor"),
        lambda: accounts.remove("nobody", actor="ann"),
        lambda: accounts.set_password("ann", "short", actor="ann"),
        lambda: accounts.set_password("nobody", PASSWORD, actor="ann"),
        lambda: accounts.issue_token("nobody", actor="ann"),
        lambda: accounts.revoke_token("0123456789abcdef", actor="ann"),
    ]
    for refusal in refusals:
        with pytest.raises((InvalidValueError, ConflictError, KeyError)):
            refusal()
        assert stored() == before


def test_a_read_only_store_gets_no_tables(db: Path, clock: Clock) -> None:
    with PolicyStore(db, clock=clock) as store:
        store.set_group("acme", GroupSettings(), actor="ann")
    before = file_bytes(db)
    with PolicyStore(db, read_only=True) as read_only:
        accounts = Accounts(read_only, hasher=CountingHasher())
        assert accounts.list() == []
        assert accounts.tokens() == []
        with pytest.raises(UnknownAccountError):
            accounts.get("ann")
        with pytest.raises(AccessDeniedError):
            accounts.authenticate("cc_" + "0" * 16 + "_" + "0" * 64)
    assert file_bytes(db) == before
    with sqlite3.connect(db) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
    assert not [name for name in names if name.startswith("accounts_")]


def test_a_read_only_store_reads_existing_accounts(db: Path, clock: Clock) -> None:
    with PolicyStore(db, clock=clock) as store:
        Accounts(store, hasher=CountingHasher()).add("sw", "softswitch", actor="ann")
        _info, text = Accounts(store).issue_token("sw", actor="ann")
    with PolicyStore(db, read_only=True) as read_only:
        accounts = Accounts(read_only)
        assert [a.name for a in accounts.list()] == ["sw"]
        assert accounts.authenticate(text).name == "sw"


def test_accounts_and_the_policy_share_one_file(accounts: Accounts, store: PolicyStore) -> None:
    accounts.add("ann", "operator", actor="ann")
    version = store._conn.execute(
        "SELECT version FROM callcodes_schema WHERE component = 'accounts'"
    ).fetchone()
    assert version == (2,)
    assert store.groups() == ["acme"]
