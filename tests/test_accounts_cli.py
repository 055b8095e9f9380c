"""``callcodes accounts``: add, list, remove, passwd and token, for people and for scripts."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from callcodes.cli import main
from callcodes.store import PolicyStore
from callcodes.store.accounts import Accounts

PASSWORD = "correct horse battery"
# The module (the package's attribute of that name is the command group).
accounts_cli = importlib.import_module("callcodes.cli.accounts")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "policy.db"
    ok(path, "group", "set", "acme")
    return path


def run(db: Path, *args: str, stdin: str | None = None) -> Result:
    env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def ok(db: Path, *args: str, stdin: str | None = None) -> str:
    result = run(db, *args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def js(db: Path, *args: str, stdin: str | None = None) -> Any:
    return json.loads(ok(db, *args, "--json", stdin=stdin))


def refused(db: Path, *args: str, status: int = 1, stdin: str | None = None) -> str:
    before = db.read_bytes()
    result = run(db, *args, stdin=stdin)
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    assert db.read_bytes() == before
    return result.stderr


def test_add_each_role_and_list(db: Path) -> None:
    assert ok(db, "accounts", "add", "olga", "--role", "operator", "--password-stdin",
              stdin=PASSWORD + "\n") == "added operator account olga (a password)\n"  # fmt: skip
    assert ok(db, "accounts", "add", "pat", "--role", "provider", "--provider", "sp1",
              "--no-password") == "added provider account pat of sp1 (tokens only)\n"  # fmt: skip
    ok(db, "accounts", "add", "gina", "--role", "group", "--group", "acme", "--no-password")
    ok(db, "accounts", "add", "sw", "--role", "softswitch")
    lines = ok(db, "accounts", "list").splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "SCOPE", "PASSWORD", "CREATED"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["gina", "group", "acme", "no"],
        ["olga", "operator", "yes", lines[2].split()[3]],
        ["pat", "provider", "sp1", "no"],
        ["sw", "softswitch", "no", lines[4].split()[3]],
    ]
    listed = js(db, "accounts", "list")
    assert [(a["name"], a["role"], a["scope"], a["has_password"]) for a in listed] == [
        ("gina", "group", "acme", False),
        ("olga", "operator", None, True),
        ("pat", "provider", "sp1", False),
        ("sw", "softswitch", None, False),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "provider"], "needs --provider"),
        (["--role", "group"], "needs --group"),
        (["--role", "operator", "--group", "acme"], "takes no --group"),
        (["--role", "group", "--group", "acme", "--provider", "sp"], "contradict"),
        (["--role", "softswitch", "--password-stdin"], "has no password"),
        (["--role", "operator", "--password-stdin", "--no-password"], "contradict"),
        (["--role", "operator"], "--password-stdin"),  # no terminal to ask on
        (["--role", "boss"], "boss"),
        (["--role", "provider", "--provider", "p" * 31], "at most 30"),
    ],
)
def test_add_usage_mistakes_exit_2(db: Path, args: list[str], message: str) -> None:
    assert message in refused(db, "accounts", "add", "x", *args, status=2)


def test_add_refusals_exit_1_and_change_nothing(db: Path) -> None:
    error = refused(db, "accounts", "add", "x", "--role", "group", "--group", "nowhere",
                    "--no-password")  # fmt: skip
    assert "unknown group 'nowhere'" in error
    error = refused(db, "accounts", "add", "x", "--role", "operator", "--password-stdin",
                    stdin="short\n")  # fmt: skip
    assert "12 to 1024 characters" in error
    assert "short" not in error
    result = run(db, "accounts", "add", "x", "--role", "operator", "--password-stdin", "--json",
                 stdin="short\n")  # fmt: skip
    assert result.exit_code == 1
    assert "12 to 1024" in json.loads(result.stdout)["error"]


def test_the_password_is_asked_twice_on_a_terminal(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts_cli, "_on_terminal", lambda: True)
    result = run(db, "accounts", "add", "olga", "--role", "operator",
                 stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input
    assert "Repeat for confirmation" in result.output
    with PolicyStore(db) as store:
        assert Accounts(store).verify_password("olga", PASSWORD, source="test").name == "olga"


def test_passwd_ends_sessions(db: Path) -> None:
    ok(db, "accounts", "add", "olga", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    with PolicyStore(db) as store:
        Accounts(store).login("olga", PASSWORD, source="test")
    changed = js(db, "accounts", "passwd", "olga", "--password-stdin", stdin="a brand new one\r\n")
    assert changed == {"account": "olga", "password_changed": True, "sessions_ended": 1}
    with PolicyStore(db) as store:
        assert Accounts(store).verify_password("olga", "a brand new one", source="t").name == "olga"
    assert "unknown account 'nobody'" in refused(
        db, "accounts", "passwd", "nobody", "--password-stdin", stdin=PASSWORD
    )
    assert "--password-stdin" in refused(db, "accounts", "passwd", "olga", status=2)
    ok(db, "accounts", "add", "sw", "--role", "softswitch")
    assert "has no password" in refused(db, "accounts", "passwd", "sw")  # asks nothing first


def test_token_issue_list_revoke(db: Path) -> None:
    ok(db, "accounts", "add", "sw", "--role", "softswitch")
    result = run(db, "accounts", "token", "sw", "--label", "kamailio", "--days", "30")
    assert result.exit_code == 0
    text = result.stdout.strip()
    assert text.startswith("cc_")
    assert "shown only now" in result.stderr
    issued = js(db, "accounts", "token", "sw")
    assert issued["token"].startswith(f"cc_{issued['id']}_")
    assert issued["expires"] is None
    listed = js(db, "accounts", "token", "--list", "sw")
    assert [(t["label"], t["kind"]) for t in listed] == [("kamailio", "api"), ("", "api")]
    assert all("token" not in t for t in listed)
    table = ok(db, "accounts", "token", "--list")
    assert text not in table
    assert text.split("_")[1] in table
    with PolicyStore(db) as store:
        assert Accounts(store).authenticate(text).name == "sw"
    first = listed[0]["id"]
    assert ok(db, "accounts", "token", "--revoke", first) == f"revoked token {first}\n"
    assert "unknown token" in refused(db, "accounts", "token", "--revoke", first)
    with PolicyStore(db) as store:
        assert [t.id for t in Accounts(store).tokens()] == [issued["id"]]


@pytest.mark.parametrize(
    "args",
    [
        ["token"],
        ["token", "--list", "--revoke", "abc"],
        ["token", "sw", "--revoke", "abc"],
        ["token", "--list", "--days", "3"],
        ["token", "sw", "--days", "0"],
        ["token", "sw", "--label", "x" * 81],
        ["remove", "a\nb", "--yes"],
    ],
)
def test_token_usage_mistakes_exit_2(db: Path, args: list[str]) -> None:
    ok(db, "accounts", "add", "sw", "--role", "softswitch")
    refused(db, "accounts", *args, status=2)


def test_remove_needs_yes(db: Path) -> None:
    ok(db, "accounts", "add", "sw", "--role", "softswitch")
    ok(db, "accounts", "token", "sw")
    assert "add --yes" in refused(db, "accounts", "remove", "sw")
    assert js(db, "accounts", "remove", "sw", "--yes") == {
        "account": "sw",
        "removed": True,
        "tokens_ended": 1,
    }
    assert "unknown account" in refused(db, "accounts", "remove", "sw", "--yes")
    assert js(db, "accounts", "list") == []


def test_reading_commands_create_nothing(db: Path) -> None:
    before = db.read_bytes()
    assert ok(db, "accounts", "list") == "NAME  ROLE  SCOPE  PASSWORD  CREATED\n"
    assert js(db, "accounts", "token", "--list") == []
    assert "unknown account" in refused(db, "accounts", "token", "--list", "ann")
    assert db.read_bytes() == before


def test_changes_show_in_the_audit_trail(db: Path) -> None:
    ok(db, "accounts", "add", "sw", "--role", "softswitch")
    ok(db, "accounts", "add", "gina", "--role", "group", "--group", "acme", "--no-password")
    with PolicyStore(db) as store:
        records = [r.to_dict() for r in store.audit()]
    assert [(r["actor"], r["group"], r["action"]) for r in records[1:]] == [
        ("ann", "", "account.add"),
        ("ann", "acme", "account.add"),
    ]
    shown = ok(db, "audit")
    assert "account sw (softswitch)" in shown
    assert "account gina (group of acme)" in shown


def test_without_argon2_the_extra_is_named(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "argon2", None)
    error = refused(db, "accounts", "add", "olga", "--role", "operator", "--password-stdin",
                    stdin=PASSWORD)  # fmt: skip
    assert "pip install 'callcodes[serve]'" in error
    ok(db, "accounts", "add", "sw", "--role", "softswitch")  # no password: no argon2 needed
