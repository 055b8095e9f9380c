"""``callcodes users``: the lists, the user directory (CSV), the available users, ``set``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callcodes.cli import main
from callcodes.store import PolicyStore

DIRECTORY = """group,user_id,first_name,last_name,department,phone_number,extension
acme,alice,Alice,Smith,Sales,+12125550101,101
acme,bob,Bob,Smithers,Support,+12125550102,102
acme,carol,Carol,Jones,Sales,+12125550103,103
acme,dave,Dave,Osmith,Engineering,,104
"""


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "policy.db"


def run(db: Path, *args: str) -> Result:
    env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def ok(db: Path, *args: str) -> str:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(db: Path, *args: str, status: int = 1) -> str:
    result = run(db, *args)
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    return result.stderr


def audit_count(db: Path) -> int:
    with PolicyStore(db) as store:
        return len(store.audit())


@pytest.fixture
def acme(db: Path) -> Path:
    ok(db, "group", "set", "acme", "--mode", "authorization")
    Path("dir.csv").write_text(DIRECTORY, encoding="utf-8")
    assert ok(db, "users", "directory", "import", "dir.csv") == (
        "imported the user directory from dir.csv: acme 4 user(s)\n"
    )
    return db


class TestTheLists:
    def test_list_add_remove_keep_their_output(self, db: Path) -> None:
        ok(db, "group", "set", "acme")
        assert ok(db, "users", "add", "acme", "--mandatory", "alice", "carol") == (
            "mandatory users of acme: added alice, carol; now alice, carol\n"
        )
        ok(db, "users", "add", "acme", "--optional", "bob")
        assert ok(db, "users", "remove", "acme", "carol") == "removed from acme: carol\n"
        assert ok(db, "users", "list", "acme") == (
            "USER   LIST\nalice  mandatory\nbob    optional\n"
        )
        assert "usage" in refused(db, "users", "add", "acme", "x", status=2).lower()

    def test_add_refuses_users_outside_the_directory(self, acme: Path) -> None:
        before = audit_count(acme)
        error = refused(acme, "users", "add", "acme", "--mandatory", "alice", "zoe", "mallory")
        assert "mallory, zoe" in error
        assert "not in the user directory" in error
        assert audit_count(acme) == before
        ok(acme, "users", "add", "acme", "--mandatory", "alice")


class TestDirectory:
    def test_list_and_export_round_trip(self, acme: Path) -> None:
        listed = ok(acme, "users", "directory", "list", "acme")
        assert listed.splitlines()[1].split() == [
            "alice",
            "Smith",
            "Alice",
            "Sales",
            "+12125550101",
            "101",
        ]
        shown = json.loads(ok(acme, "users", "directory", "list", "--json"))
        assert [u["user_id"] for u in shown] == ["alice", "bob", "carol", "dave"]
        exported = ok(acme, "users", "directory", "export")
        assert exported.splitlines()[0] == DIRECTORY.splitlines()[0]
        result = run(acme, "users", "directory", "export", "out.csv")
        assert result.exit_code == 0
        assert result.stderr == "exported 4 directory user(s) to out.csv\n"
        assert Path("out.csv").read_text(encoding="utf-8") == exported
        before = audit_count(acme)
        ok(acme, "users", "directory", "import", "out.csv")
        assert audit_count(acme) == before  # the same directory: nothing changed

    def test_bad_rows_are_all_reported_by_line(self, acme: Path) -> None:
        Path("bad.csv").write_text(
            "group,user_id,first_name,last_name\nacme,x,,X\nnope,y,Y,Y\nacme,ok,O,K\n",
            encoding="utf-8",
        )
        error = refused(acme, "users", "directory", "import", "bad.csv")
        assert "2 bad row(s), nothing was changed" in error
        assert "row 2 ('x')" in error
        assert "row 3 ('y'): group 'nope' is not in the store" in error
        assert "ok" not in ok(acme, "users", "directory", "list")

    def test_a_failed_export_leaves_the_old_file(
        self, acme: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        Path("out.csv").write_text("old\n", encoding="utf-8")

        def broken(users: object, out: object) -> int:
            out.write("group,user_id\nhalf")  # type: ignore[attr-defined]
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(sys.modules["callcodes.cli.users"], "write_csv", broken)
        error = refused(acme, "users", "directory", "export", "out.csv")
        assert "No space left" in error
        assert Path("out.csv").read_text(encoding="utf-8") == "old\n"
        assert sorted(p.name for p in Path().iterdir() if "out.csv" in p.name) == ["out.csv"]


class TestAvailable:
    def test_search_like_broadworks(self, acme: Path) -> None:
        ok(acme, "users", "add", "acme", "--optional", "bob")
        shown = ok(acme, "users", "available", "acme", "--last-name", "smi")
        assert [line.split()[0] for line in shown.splitlines()[1:]] == ["alice"]
        found = json.loads(
            ok(
                acme,
                "users",
                "available",
                "acme",
                "--department",
                "SALES",
                "--match",
                "equal",
                "--json",
            )
        )
        assert [u["user_id"] for u in found["users"]] == ["carol", "alice"]
        assert found["next"] is None
        found = json.loads(
            ok(
                acme,
                "users",
                "available",
                "acme",
                "--last-name",
                "smith",
                "--match",
                "contains",
                "--limit",
                "1",
                "--json",
            )
        )
        assert [u["user_id"] for u in found["users"]] == ["dave"]
        assert found["next"] == "dave"
        assert refused(acme, "users", "available", "acme", "--limit", "0", status=2)
        assert "unknown group" in refused(acme, "users", "available", "nope")


class TestSet:
    def test_all_and_none_in_one_audit_record(self, acme: Path) -> None:
        ok(acme, "users", "add", "acme", "--mandatory", "alice")
        before = audit_count(acme)
        shown = ok(acme, "users", "set", "acme", "--mandatory", "all", "--optional", "alice,bob")
        assert shown == (
            "mandatory users of acme: carol, dave\noptional users of acme: alice, bob\n"
        )
        assert audit_count(acme) == before + 1
        with PolicyStore(acme) as store:
            (record,) = store.audit(latest=1)
        assert record.action.value == "users.update"
        assert record.detail["changed"]["optional_users"]["added"] == ["alice", "bob"]
        shown = ok(acme, "users", "set", "acme", "--optional", "none")
        assert shown.endswith("optional users of acme: none\n")
        shown = ok(acme, "users", "set", "acme", "--optional", "dave", "--optional", "alice")
        assert shown == "mandatory users of acme: carol\noptional users of acme: alice, dave\n"

    @pytest.mark.parametrize(
        "args",
        [
            ("--mandatory", "all", "--optional", "all"),
            ("--mandatory", "alice", "--optional", "alice"),
            ("--mandatory", "all,bob"),
            ("--optional", "none", "--optional", "bob"),
            ("--mandatory", "alice,,bob"),
            (),
        ],
    )
    def test_contradictions_are_usage_errors(self, acme: Path, args: tuple[str, ...]) -> None:
        before = audit_count(acme)
        refused(acme, "users", "set", "acme", *args, status=2)
        assert audit_count(acme) == before

    def test_outside_the_directory_or_without_one(self, acme: Path) -> None:
        assert "zoe" in refused(acme, "users", "set", "acme", "--mandatory", "zoe")
        ok(acme, "group", "set", "other")
        assert "no user directory" in refused(acme, "users", "set", "other", "--optional", "all")
        assert ok(acme, "users", "set", "other", "--optional", "zoe").endswith(
            "optional users of other: zoe\n"
        )
