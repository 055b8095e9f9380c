"""Secrets: account codes turned into authorization codes, and the change journal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import callcodes as cc
from callcodes.cli import main
from callcodes.store import PolicyStore


def _run(db: Path, *args: str) -> tuple[int, str]:
    env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stderr


class TestModeSwitch:
    def test_account_codes_becoming_authorization_codes_needs_yes(self, tmp_path: Path) -> None:
        db = tmp_path / "p.db"
        assert _run(db, "group", "set", "acme", "--mode", "account")[0] == 0
        assert _run(db, "codes", "add", "acme", "1234")[0] == 0
        before = db.read_bytes()
        status, err = _run(db, "group", "set", "acme", "--mode", "authorization")
        assert status == 1
        assert "recorded in clear as account codes" in err
        assert "--yes" in err
        assert "1234" not in err
        assert db.read_bytes() == before
        with PolicyStore(db) as store:
            assert store.group("acme").mode is cc.Mode.ACCOUNT
        status, _ = _run(db, "group", "set", "acme", "--mode", "authorization", "--yes")
        assert status == 0
        with PolicyStore(db) as store:
            assert store.group("acme").mode is cc.Mode.AUTHORIZATION

    def test_no_codes_no_question(self, tmp_path: Path) -> None:
        db = tmp_path / "p.db"
        assert _run(db, "group", "set", "acme", "--mode", "account")[0] == 0
        assert _run(db, "group", "set", "acme", "--mode", "authorization")[0] == 0


def _journaled(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT code FROM policy_changes") if row[0]}
    finally:
        conn.close()


class TestJournal:
    """The change journal never keeps an authorization code the policy table no longer has."""

    @pytest.mark.parametrize("how", ["delete", "replace", "remove", "switch"])
    def test_gone_secrets_leave_the_journal(self, tmp_path: Path, how: str) -> None:
        db = tmp_path / "p.db"
        first = "account" if how == "switch" else "authorization"
        with PolicyStore(db) as store:
            store.set_group("acme", cc.GroupSettings(mode=first), actor="ann")  # type: ignore[arg-type]
            book = store.load()
            store.add_codes("acme", ["1234", "5678"], actor="ann")
            store.delete_codes("acme", ["1234"], actor="ann")
            if how == "switch":
                store.set_group("acme", cc.GroupSettings(mode="authorization"), actor="ann")
            elif how == "replace":
                store.replace_codes("acme", ["9999"], actor="ann")
            elif how == "remove":
                store.remove_group("acme", actor="ann")
            else:
                store.delete_codes("acme", ["5678"], actor="ann")
            store.refresh(book)
            journaled = _journaled(db)
            assert "1234" not in journaled
            stored = {e.code for e in store.iter_codes("acme")} if "acme" in store else set()
            assert journaled <= stored
            assert book.get("acme", "1234") is None if "acme" in store else True
            if "acme" in store:
                assert {e.code for e in book.codes("acme", limit=None)} == stored

    def test_account_deletions_stay_precise(self, tmp_path: Path) -> None:
        """Account codes are not secrets: their deletion is journaled code by code."""
        with PolicyStore(tmp_path / "p.db") as store:
            store.set_group("acme", cc.GroupSettings(mode="account"), actor="ann")
            store.add_codes("acme", ["1234"], actor="ann")
            store.delete_codes("acme", ["1234"], actor="ann")
        assert _journaled(tmp_path / "p.db") == {"1234"}


class TestAuditAfterSwitch:
    """Codes recorded in clear as account codes are masked once the group switches."""

    @pytest.mark.parametrize("how", ["set", "replace_group"])
    def test_no_output_form_shows_them(self, tmp_path: Path, how: str) -> None:
        db = tmp_path / "p.db"
        with PolicyStore(db) as store:
            store.set_group("acme", cc.GroupSettings(mode="account"), actor="ann")
            store.add_codes("acme", ["4711", "4712", "4713"], actor="ann")
            store.edit_codes("acme", {"4712": "renamed"}, actor="ann")
            store.delete_codes("acme", ["4713"], actor="ann")
            assert "4711" in str([record.to_dict() for record in store.audit("acme")])
        if how == "set":
            status, _ = _run(db, "group", "set", "acme", "--mode", "authorization", "--yes")
            assert status == 0
        else:
            with PolicyStore(db) as store:
                store.replace_group(
                    "acme", cc.GroupSettings(mode="authorization"), ["4711"], actor="ann"
                )
        for form in ((), ("--json",), ("--csv",)):
            env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
            shown = CliRunner().invoke(main, ["audit", "acme", "--all", *form], env=env)
            assert shown.exit_code == 0, shown.output
            for code in ("4711", "4712", "4713"):
                assert code not in shown.stdout, (form, code)
        conn = sqlite3.connect(db)
        try:
            stored = " ".join(row[0] for row in conn.execute("SELECT detail FROM policy_audit"))
        finally:
            conn.close()
        assert "4713" not in stored
        assert "4712" not in stored

    def test_group_import_promoting_account_codes_needs_yes(self, tmp_path: Path) -> None:
        db = tmp_path / "p.db"
        assert _run(db, "group", "set", "acme", "--mode", "account")[0] == 0
        assert _run(db, "codes", "add", "acme", "1234")[0] == 0
        path = tmp_path / "acme.json"
        settings = {"mode": "authorization", "code_length": 4}
        codes = [{"code": "1234"}]
        path.write_text(json.dumps({"group": "acme", "settings": settings, "codes": codes}))
        before = db.read_bytes()
        status, err = _run(db, "group", "import", str(path))
        assert status == 1
        assert "recorded in clear as account codes" in err
        assert db.read_bytes() == before
        assert _run(db, "group", "import", str(path), "--yes")[0] == 0
