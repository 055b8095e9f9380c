"""The OCI-P side of the accounts: the SHA-1 verifier kept, refreshed and erased; the signed
login as BroadWorks' client computes it, throttled and audited like every login; the older
accounts tables upgraded in place.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import argon2
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

import callcodes as cc
from callcodes._errors import AccessDeniedError, InvalidValueError, UnknownAccountError
from callcodes.cli import main
from callcodes.store import PolicyStore
from callcodes.store.accounts import Accounts, LoginPolicy, oci_verifier
from callcodes.store.accounts_sql import MIGRATIONS
from callcodes.store.audit import Action

PASSWORD = "correct horse battery"


class CheapHasher:
    """argon2 with cheap parameters: the tests hash many passwords."""

    def __init__(self) -> None:
        self.inner = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

    def hash(self, password: str, /) -> str:
        return self.inner.hash(password)

    def verify(self, hash: str, password: str, /) -> Any:
        return self.inner.verify(hash, password)

    def check_needs_rehash(self, hash: str, /) -> bool:
        return self.inner.check_needs_rehash(hash)


def signed(nonce: str, password: str) -> str:
    """What ``broadworks_ocip.BroadworksAPI.authenticate`` sends, computed as it does."""
    authhash = hashlib.sha1(password.encode()).hexdigest().lower()
    return hashlib.md5(":".join([nonce, authhash]).encode()).hexdigest().lower()


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    opened = PolicyStore(tmp_path / "store.db")
    opened.set_group("acme", cc.GroupSettings(), actor="seed")
    return opened


@pytest.fixture
def accounts(store: PolicyStore) -> Accounts:
    made = Accounts(store, hasher=CheapHasher())
    made.add("gina", "group", scope="acme", password=PASSWORD, actor="ann")
    return made


def verifier(store: PolicyStore, name: str) -> object:
    row = store._conn.execute(
        "SELECT oci_verifier FROM accounts_accounts WHERE name = ?", (name,)
    ).fetchone()
    return row[0]


def actions(store: PolicyStore) -> list[tuple[Action, dict[str, Any]]]:
    return [(r.action, r.detail) for r in store.audit()]


def test_enabling_needs_the_current_password_and_keeps_only_its_sha1(
    accounts: Accounts, store: PolicyStore
) -> None:
    before = actions(store)
    with pytest.raises(InvalidValueError, match="current password"):
        accounts.set_oci("gina", "a wrong password here", actor="ann")
    assert actions(store) == before
    assert verifier(store, "gina") is None
    assert not accounts.oci_enabled("gina")
    accounts.set_oci("gina", PASSWORD, actor="ann")
    assert verifier(store, "gina") == hashlib.sha1(PASSWORD.encode()).hexdigest()
    assert accounts.oci_enabled("gina")
    assert actions(store)[-1] == (Action.ACCOUNT_OCI, {"account": "gina", "enabled": True})
    accounts.set_oci("gina", None, actor="ann")
    assert verifier(store, "gina") is None
    assert actions(store)[-1] == (Action.ACCOUNT_OCI, {"account": "gina", "enabled": False})


def test_an_account_without_a_password_or_unknown_cannot_be_enabled(
    accounts: Accounts, store: PolicyStore
) -> None:
    accounts.add("sw", "softswitch", actor="ann")
    with pytest.raises(InvalidValueError):
        accounts.set_oci("sw", PASSWORD, actor="ann")
    with pytest.raises(UnknownAccountError):
        accounts.set_oci("nobody", PASSWORD, actor="ann")
    assert verifier(store, "sw") is None


def test_a_password_change_remakes_the_verifier_only_when_enabled(
    accounts: Accounts, store: PolicyStore
) -> None:
    accounts.set_password("gina", "second good password", actor="ann")
    assert verifier(store, "gina") is None
    accounts.set_oci("gina", "second good password", actor="ann")
    accounts.set_password("gina", "third good password!", actor="ann")
    assert verifier(store, "gina") == oci_verifier("third good password!")


@settings(max_examples=25)
@given(
    password=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=12, max_size=40
    ),
    nonce=st.text("0123456789", min_size=1, max_size=20),
)
def test_the_signed_password_the_client_computes_logs_in(password: str, nonce: str) -> None:
    with tempfile.TemporaryDirectory() as folder, PolicyStore(Path(folder) / "s.db") as store:
        accounts = Accounts(store, hasher=CheapHasher())
        accounts.add("olga", "operator", password=password, actor="ann")
        accounts.set_oci("olga", password, actor="ann")
        _info, token = accounts.login_signed("olga", nonce, signed(nonce, password), source="::1")
        assert accounts.authenticate(token).name == "olga"
        with pytest.raises(AccessDeniedError, match="wrong name or password"):
            accounts.login_signed("olga", nonce + "1", signed(nonce, password), source="::1")


def test_a_signed_login_is_refused_when_not_enabled_like_a_wrong_password(
    accounts: Accounts, store: PolicyStore
) -> None:
    with pytest.raises(AccessDeniedError) as refused:
        accounts.login_signed("gina", "42", signed("42", PASSWORD), source="10.0.0.9")
    assert str(refused.value) == "login refused: wrong name or password"
    assert actions(store)[-1] == (
        Action.LOGIN_FAILED,
        {"name": "gina", "source": "10.0.0.9"},
    )


def test_signed_logins_share_the_throttle_of_every_login(store: PolicyStore) -> None:
    accounts = Accounts(store, hasher=CheapHasher(), policy=LoginPolicy(max_failures=3))
    accounts.add("gina", "group", scope="acme", password=PASSWORD, actor="ann")
    accounts.set_oci("gina", PASSWORD, actor="ann")
    with pytest.raises(AccessDeniedError):
        accounts.login("gina", "not the password!!", source="10.0.0.1")
    for nonce in ("1", "2"):
        with pytest.raises(AccessDeniedError):
            accounts.login_signed("gina", nonce, "0" * 32, source="10.0.0.2")
    with pytest.raises(AccessDeniedError, match="too many failed logins for gina"):
        accounts.login_signed("gina", "3", signed("3", PASSWORD), source="10.0.0.3")
    with pytest.raises(AccessDeniedError, match="too many failed logins for gina"):
        accounts.login("gina", PASSWORD, source="10.0.0.3")
    assert Action.LOGIN_LOCKED in [action for action, _detail in actions(store)]


def test_accounts_tables_of_version_1_are_upgraded_and_keep_their_accounts(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    PolicyStore(db).close()
    created = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    with sqlite3.connect(db) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO callcodes_schema (component, version) VALUES ('accounts', 1)")
        conn.execute(
            "INSERT INTO accounts_accounts VALUES ('olga', 'operator', NULL, ?, ?)",
            (CheapHasher().hash(PASSWORD), created),
        )
    with PolicyStore(db) as store:
        accounts = Accounts(store, hasher=CheapHasher())
        assert accounts.verify_password("olga", PASSWORD, source="::1").name == "olga"
        assert not accounts.oci_enabled("olga")
        accounts.set_oci("olga", PASSWORD, actor="ann")
        _info, token = accounts.login_signed("olga", "7", signed("7", PASSWORD), source="::1")
        assert accounts.authenticate(token).name == "olga"


def test_the_accounts_oci_command_enables_shows_and_disables(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with PolicyStore(db) as store:
        store.set_group("acme", cc.GroupSettings(), actor="seed")
        Accounts(store, hasher=CheapHasher()).add(
            "gina", "group", scope="acme", password=PASSWORD, actor="ann"
        )
    runner = CliRunner()

    def oci(*args: str, password: str | None = None) -> Result:
        stdin = None if password is None else f"{password}\n"
        return runner.invoke(main, ["--db", str(db), "accounts", "oci", "gina", *args], input=stdin)

    wrong = oci("--enable", "--password-stdin", password="not the password!")
    assert wrong.exit_code == 1
    assert "give the account's current password" in wrong.output
    assert json.loads(oci("--json").output) == {"account": "gina", "oci": False}
    done = oci("--enable", "--password-stdin", password=PASSWORD)
    assert done.exit_code == 0, done.output
    assert done.output == "OCI-P login of gina: enabled\n"
    assert json.loads(oci("--json").output) == {"account": "gina", "oci": True}
    assert oci("--disable", "--password-stdin", password=PASSWORD).exit_code == 2
    assert oci("--disable").output == "OCI-P login of gina: disabled\n"
    with PolicyStore(db, read_only=True) as store:
        assert verifier(store, "gina") is None
        assert [d["enabled"] for a, d in actions(store) if a is Action.ACCOUNT_OCI] == [True, False]
