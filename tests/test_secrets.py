"""Secrets: account codes turned into authorization codes, and the change journal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import callcodes as cc
from callcodes.cli import main
from callcodes.store import SCHEMA_VERSION, PolicyStore


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


SECRET_CODE = "80417263"
CODE8 = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, code_length=8)


def _raw(db: Path) -> bytes:
    """Every byte of the store's file and its WAL, after a checkpoint."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


class TestFingerprints:
    """The audit trail finds a code by its keyed fingerprint and never holds the code."""

    def test_found_by_code_and_stored_nowhere_once_deleted(self, tmp_path: Path) -> None:
        db = tmp_path / "p.db"
        with PolicyStore(db) as store:
            store.set_group("acme", CODE8, actor="ann")
            store.add_codes("acme", [SECRET_CODE, "11112222"], actor="ann")
            store.add_codes("acme", ["33334444"], actor="ann")
            added = store.audit()[1]
            assert [r.id for r in store.audit(code=SECRET_CODE)] == [added.id]
            assert [r.id for r in store.audit("acme", code=SECRET_CODE)] == [added.id]
            assert store.audit("other", code=SECRET_CODE) == []
            store.delete_codes("acme", [SECRET_CODE], actor="ann")
            deleted = store.audit()[-1]
            assert [r.id for r in store.audit(code=SECRET_CODE)] == [added.id, deleted.id]
            assert store.audit(code="99999999") == []
        assert SECRET_CODE.encode() not in _raw(db)
        conn = sqlite3.connect(db)
        try:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
            for table in tables:
                if table.startswith("sqlite_") or "by" in table:
                    continue
                rows = conn.execute(f"SELECT * FROM {table}").fetchall()
                assert SECRET_CODE not in repr(rows), table
        finally:
            conn.close()

    def test_listed_code_is_in_no_audit_table(self, tmp_path: Path) -> None:
        db = tmp_path / "p.db"
        with PolicyStore(db) as store:
            store.set_group("acme", CODE8, actor="ann")
            store.add_codes("acme", [SECRET_CODE], actor="ann")
            store.edit_codes("acme", {SECRET_CODE: "front desk"}, actor="ann")
            assert len(store.audit(code=SECRET_CODE)) == 2
        conn = sqlite3.connect(db)
        try:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                rows = conn.execute(f"SELECT * FROM {table}").fetchall()
                # the change journal names a listed code until it goes (TestJournal)
                listed = table in {"policy_codes", "policy_changes"}
                assert (SECRET_CODE in repr(rows)) == listed, table
        finally:
            conn.close()

    def test_big_batch_is_found_by_any_code(self, tmp_path: Path) -> None:
        with PolicyStore(tmp_path / "p.db") as store:
            store.set_group("acme", CODE8, actor="ann")
            batch = [f"{n:08d}" for n in range(1000)]
            store.add_codes("acme", batch, actor="ann")
            record = store.audit()[-1]
            assert record.detail["count"] == 1000
            for code in (batch[0], batch[500], batch[-1]):
                assert [r.id for r in store.audit(code=code)] == [record.id]

    def test_every_kind_of_change_is_found(self, tmp_path: Path) -> None:
        with PolicyStore(tmp_path / "p.db") as store:
            store.set_group("acme", CODE8, actor="ann")
            store.add_codes("acme", [SECRET_CODE], actor="ann")
            store.edit_codes("acme", {SECRET_CODE: "x"}, actor="ann")
            store.update_codes("acme", [cc.CodeEntry(SECRET_CODE, level=3)], actor="ann")
            store.replace_codes("acme", [SECRET_CODE, "11112222"], actor="ann")
            store.replace_group("acme", CODE8, [SECRET_CODE], actor="ann")
            store.delete_codes("acme", [SECRET_CODE], actor="ann")
            found = [r.action.value for r in store.audit(code=SECRET_CODE)]
        assert found == [
            "codes.add",
            "codes.edit",
            "codes.update",
            "codes.replace",
            "group.replace",
            "codes.delete",
        ]

    def test_two_stores_have_different_secrets(self, tmp_path: Path) -> None:
        fingerprints = []
        for name in ("a.db", "b.db"):
            with PolicyStore(tmp_path / name) as store:
                store.set_group("acme", CODE8, actor="ann")
                store.add_codes("acme", [SECRET_CODE], actor="ann")
                assert len(store.audit(code=SECRET_CODE)) == 1
            conn = sqlite3.connect(tmp_path / name)
            try:
                fingerprints.append(conn.execute("SELECT fp FROM policy_audit_codes").fetchall())
                (secret,) = conn.execute("SELECT secret FROM policy_secret").fetchone()
                assert len(secret) == 32
            finally:
                conn.close()
        assert fingerprints[0] != fingerprints[1]

    def test_an_old_store_migrates_and_gets_a_secret(self, tmp_path: Path) -> None:
        db = tmp_path / "p.db"
        with PolicyStore(db) as store:
            store.set_group("acme", CODE8, actor="ann")
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("DROP TABLE policy_secret")
            conn.execute("DROP TABLE policy_audit_codes")
            conn.execute("ALTER TABLE policy_groups DROP COLUMN provider")  # version 5's
            conn.execute("UPDATE callcodes_schema SET version = 3 WHERE component = 'policy'")
        conn.close()
        with PolicyStore(db) as store:
            assert store.schema_version == SCHEMA_VERSION
            store.add_codes("acme", [SECRET_CODE], actor="ann")
            assert [r.action.value for r in store.audit(code=SECRET_CODE)] == ["codes.add"]

    def test_account_codes_stay_in_clear_and_switching_keeps_fingerprints(
        self, tmp_path: Path
    ) -> None:
        with PolicyStore(tmp_path / "p.db") as store:
            store.set_group("acme", cc.GroupSettings(mode="account", code_length=8), actor="ann")
            store.add_codes("acme", [SECRET_CODE], actor="ann")
            (record,) = store.audit(code=SECRET_CODE)
            assert record.detail["codes"] == [{"code": SECRET_CODE}]
            store.set_group("acme", CODE8, actor="ann")
            (record,) = store.audit(code=SECRET_CODE)
            assert record.detail["codes"] == [{"code": "********"}]

    def test_cli_finds_records_by_code(self, tmp_path: Path) -> None:
        db = tmp_path / "p.db"
        assert _run(db, "group", "set", "acme", "--mode", "authorization")[0] == 0
        assert _run(db, "codes", "add", "acme", "1234", "5678")[0] == 0
        assert _run(db, "codes", "delete", "acme", "1234")[0] == 0
        env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
        shown = CliRunner().invoke(main, ["audit", "acme", "--code", "1234", "--json"], env=env)
        assert shown.exit_code == 0, shown.output
        found = json.loads(shown.stdout)["records"]
        assert [r["action"] for r in found] == ["codes.add", "codes.delete"]
        assert "1234" not in shown.stdout
        bad = CliRunner().invoke(main, ["audit", "--code", "12x4"], env=env)
        assert bad.exit_code != 0
        assert "12x4" not in bad.output

    @pytest.mark.parametrize("bad", ["7", "987654321098765", "98a7", "١٢٣٤"])
    def test_the_code_asked_for_is_checked_and_not_shown(self, tmp_path: Path, bad: str) -> None:
        with PolicyStore(tmp_path / "p.db") as store, pytest.raises(cc.InvalidValueError) as caught:
            store.audit(code=bad)
        assert bad not in str(caught.value)
