"""The callcodes command: each workflow, exit statuses 0/1/2, real processes, two processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import callcodes as cc
from callcodes.cli import main
from callcodes.store import PolicyStore
from policy_helpers import dump
from strategies import NON_ASCII_DIGITS

BAD_FILES = {
    "not-utf8.csv": b"code,description\n1234,caf\xe9\n",
    "bad-rows.csv": b"code,description\n123,short\n5555,x\n5555,twice\n0042,stored\n",
    "no-header.csv": b"1234,Sales\n",
    "long.csv": b"code,description\n1234," + b"x" * 81 + b"\n",
    "control.csv": b"code,description\n1234,bell\x07\n",
    "digits.csv": f"code,description\n{NON_ASCII_DIGITS[:4]},x\n".encode(),
    "empty.csv": b"",
}


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "policy.db"


def run(db: Path, *args: str, stdin: str | None = None) -> Result:
    """Run the command in-process against *db*, as the actor 'ann'."""
    runner = CliRunner()
    env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    return runner.invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def ok(db: Path, *args: str) -> str:
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(db: Path, *args: str) -> str:
    """Run a command that must fail on bad input: exit 1, one Error line, no traceback."""
    result = run(db, *args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def acme(db: Path) -> Path:
    ok(db, "group", "set", "acme", "--mode", "authorization", "--local-toll-free")
    ok(db, "users", "add", "acme", "--mandatory", "alice")
    ok(db, "users", "add", "acme", "--optional", "bob")
    ok(db, "codes", "add", "acme", "1234", "--description", "Sales")
    ok(db, "codes", "add", "acme", "0042", "--description", "Support")
    return db


class TestExitStatus:
    """0 on success, 1 on bad input with a message, 2 on usage errors."""

    def test_usage_errors(self, acme: Path) -> None:
        """Unknown commands, missing arguments and bad choices are usage errors (2)."""
        for args in (
            ["nonsense"],
            ["codes", "add", "acme"],
            ["check", "acme", "alice", "123", "--type", "moon"],
            ["users", "add", "acme", "carol"],
            ["codes", "import", "acme", "missing.csv"],
            ["audit", "--csv", "--json"],
        ):
            assert run(acme, *args).exit_code == 2, args

    def test_bad_input(self, acme: Path) -> None:
        """Bad values exit 1 with one line saying what to fix."""
        assert "unknown group 'nope'" in refused(acme, "group", "show", "nope")
        assert "callcodes group set nope" in refused(acme, "codes", "list", "nope")
        assert "code_length" in refused(acme, "group", "set", "acme", "--digits", "6")
        out_of_range = run(acme, "group", "set", "acme", "--attempts", "0")  # refused on entry
        assert out_of_range.exit_code == 2
        assert "'--attempts': '0': must be from 1 to 10" in out_of_range.stderr
        assert "--valid-from" in refused(acme, "codes", "add", "acme", "7777", "--valid-from", "x")
        assert "--yes" in refused(acme, "group", "remove", "acme")

    def test_no_store_yet(self, db: Path) -> None:
        """Reading a store that does not exist says how to make one, and creates nothing."""
        assert "create a group first" in refused(db, "group", "list")
        assert not db.exists()


class TestGroupAndUsers:
    """View and change settings; manage mandatory and optional users."""

    def test_show(self, acme: Path) -> None:
        """group show prints every setting; --json gives them to scripts."""
        shown = ok(acme, "group", "show", "acme")
        assert "mode:                       authorization" in shown
        assert "local and toll-free exempt: yes" in shown
        assert "mandatory users:            alice" in shown
        data = json.loads(ok(acme, "group", "show", "acme", "--json"))
        assert data["settings"]["code_length"] == 4
        assert data["users"] == {"mandatory": ["alice"], "optional": ["bob"]}
        assert data["codes"] == 2

    def test_set_changes_only_what_is_given(self, acme: Path) -> None:
        """group set changes the options given and reports each change."""
        out = ok(
            acme,
            "group",
            "set",
            "acme",
            "--attempts",
            "3",
            "--min-level",
            "international=5",
            "--coded-types",
            "national,international",
            "--lock-for",
            "0",
            "--code-prefix",
            "#77",
        )
        assert "max_attempts 2 -> 3" in out
        with PolicyStore(acme) as store:
            settings = store.group("acme")
        assert settings.max_attempts == 3
        assert settings.min_levels == {cc.CallType.INTERNATIONAL: 5}
        assert settings.coded_call_types == {cc.CallType.NATIONAL, cc.CallType.INTERNATIONAL}
        assert settings.lockout.lock_for is None
        assert settings.code_prefix == "#77"
        assert settings.mandatory_users == {"alice"}
        assert "unchanged" in ok(acme, "group", "set", "acme", "--attempts", "3")

    def test_users(self, acme: Path) -> None:
        """Users are added to one list, listed, and removed; one user is on one list only."""
        ok(acme, "users", "add", "acme", "--mandatory", "carol", "dave")
        listed = json.loads(ok(acme, "users", "list", "acme", "--json"))
        assert [u["user"] for u in listed if u["list"] == "mandatory"] == ["alice", "carol", "dave"]
        assert "at most one list" in refused(acme, "users", "add", "acme", "--optional", "carol")
        ok(acme, "users", "remove", "acme", "carol", "bob")
        assert ok(acme, "users", "list", "acme", "--optional").splitlines() == ["USER  LIST"]
        assert "not on the mandatory list" in refused(
            acme, "users", "remove", "acme", "--mandatory", "erin"
        )

    def test_export_and_import_whole_groups(self, acme: Path) -> None:
        """A group exported as TOML or JSON imports back, under its name or another."""
        ok(acme, "group", "export", "acme", "acme.toml")
        ok(acme, "group", "import", "acme.toml", "--group", "copy")
        text = ok(acme, "group", "export", "acme")
        assert json.loads(text)["codes"][0] == {"code": "0042", "description": "Support"}
        exported = json.loads(ok(acme, "group", "export", "copy", "--format", "json"))
        assert exported == {**json.loads(text), "group": "copy"}

    def test_bad_group_file(self, acme: Path) -> None:
        """A bad group document is refused whole, by code position, and changes nothing."""
        Path("bad.json").write_text('{"group": "acme", "codes": [{"code": "1"}, {"code": 2}]}')
        before = dump(acme)
        message = refused(acme, "group", "import", "bad.json")
        assert "row 1 ('1')" in message
        assert "row 2 ('2')" in message
        assert dump(acme) == before


class TestCodes:
    """Add, list, bulk edit, delete, import and export codes."""

    def test_list_pages(self, acme: Path) -> None:
        """Codes list in code order, with a prefix, page by page."""
        ok(acme, "codes", "add", "acme", *[f"{n:04d}" for n in range(100, 130)])
        assert ok(acme, "codes", "list", "acme", "--prefix", "00").splitlines() == [
            "CODE  DESCRIPTION",
            "0042  Support",
        ]
        page = ok(acme, "codes", "list", "acme", "--limit", "10", "--page", "2").splitlines()
        assert page[1:] == [f"{n:04d}" for n in range(109, 119)]
        after = json.loads(ok(acme, "codes", "list", "acme", "--after", "0127", "--json"))
        assert [e["code"] for e in after["codes"]] == ["0128", "0129", "1234"]
        assert after["next"] is None
        assert ok(acme, "codes", "list", "acme", "--page", "9") == "CODE  DESCRIPTION\n"

    def test_bulk_edit_and_delete(self, acme: Path) -> None:
        """Edit and delete take many codes at once, all or nothing."""
        ok(acme, "codes", "edit", "acme", "1234", "0042", "--description", "HQ", "--max-uses", "5")
        listed = json.loads(ok(acme, "codes", "list", "acme", "--json"))
        blank = {"level": 0, "valid_from": None, "valid_until": None}
        assert listed["codes"] == [
            {"code": "0042", "description": "HQ", **blank, "max_uses": 5, "hours": None},
            {"code": "1234", "description": "HQ", **blank, "max_uses": 5, "hours": None},
        ]
        before = dump(acme)
        assert "9999" in refused(acme, "codes", "delete", "acme", "1234", "9999")
        assert "9999" in refused(acme, "codes", "edit", "acme", "9999", "--level", "3")
        assert dump(acme) == before
        ok(acme, "codes", "delete", "acme", "1234", "0042")
        assert ok(acme, "codes", "list", "acme") == "CODE  DESCRIPTION\n"
        assert run(acme, "codes", "edit", "acme", "1234").exit_code == 2

    def test_import_and_export(self, acme: Path) -> None:
        """A CSV list imports (BOM, CRLF, trailing blank line) and exports with leading zeros."""
        Path("new.csv").write_bytes(b"\xef\xbb\xbfcode,description\r\n0007,Lab\r\n0100,\r\n\r\n")
        assert "2 code(s)" in ok(acme, "codes", "import", "acme", "new.csv")
        assert ok(acme, "codes", "export", "acme").splitlines() == [
            "code,description",
            "0007,Lab",
            "0042,Support",
            "0100,",
            "1234,Sales",
        ]
        ok(acme, "codes", "export", "acme", "out.csv", "--prefix", "00")
        assert Path("out.csv").read_bytes().startswith(b"\xef\xbb\xbfcode,description\r\n0007")
        ok(acme, "codes", "import", "acme", "out.csv", "--replace")
        assert json.loads(ok(acme, "group", "show", "acme", "--json"))["codes"] == 2

    @pytest.mark.parametrize("name", sorted(BAD_FILES))
    def test_bad_files(self, acme: Path, name: str) -> None:
        """Every kind of bad file: a clear error, exit status 1, the store unchanged."""
        Path(name).write_bytes(BAD_FILES[name])
        before = dump(acme)
        message = refused(acme, "codes", "import", "acme", name)
        assert name in message
        assert dump(acme) == before

    def test_bad_rows_name_their_lines(self, acme: Path) -> None:
        """Each bad row of a file is listed with its line number and reason."""
        Path("rows.csv").write_bytes(BAD_FILES["bad-rows.csv"])
        message = refused(acme, "codes", "import", "acme", "rows.csv")
        assert "row 2 ('123'): has 3 digits" in message
        assert "row 4 ('5555'): appears twice" in message
        assert "row 5 ('0042'): is already on the group's list" in message

    def test_progress_on_large_files(self, acme: Path) -> None:
        """Large imports and exports show a progress bar on standard error."""
        rows = "".join(f"{n:04d},\n" for n in range(2000, 9999))
        Path("big.csv").write_text("code,description\n" + rows)
        result = run(acme, "codes", "import", "acme", "big.csv")
        assert result.exit_code == 0
        assert "importing big.csv" in result.stderr
        result = run(acme, "codes", "export", "acme", "all.csv")
        assert result.exit_code == 0
        assert "exported 8001 code(s)" in result.stderr


class TestLocksCheckAuditDemo:
    """Locks, one decision, the audit trail and the demo."""

    def test_locks(self, acme: Path) -> None:
        """A lock is listed, lifted once, and lifting it again is an error."""
        ok(acme, "locks", "add", "acme", "alice")
        listed = json.loads(ok(acme, "locks", "list", "acme", "--json"))
        assert [lock["user"] for lock in listed] == ["alice"]
        assert "alice" in ok(acme, "locks", "list", "acme")
        blocked = ok(acme, "check", "acme", "alice", "0114420", "--type", "international")
        assert "locked out" in blocked
        assert "unlocked alice" in ok(acme, "locks", "unlock", "acme", "alice")
        assert "not locked" in refused(acme, "locks", "unlock", "acme", "alice")

    def test_check(self, acme: Path) -> None:
        """check prints one decision, judged against the stored policy."""
        out = ok(
            acme, "check", "acme", "alice", "0114420", "--type", "international", "--code", "1234"
        )
        assert out.splitlines() == [
            "verdict: allow",
            "reason:  authorized",
            "retry:   no",
            "code:    1234 (Sales)",
        ]
        data = json.loads(
            ok(
                acme,
                "check",
                "acme",
                "alice",
                "0114",
                "--type",
                "national",
                "--code",
                "9",
                "--json",
            )
        )
        assert data == {
            "verdict": "block",
            "reason": "malformed code",
            "retry": True,
            "description": None,
            "known_group": True,
        }
        assert "not in the store" in ok(acme, "check", "x", "a", "1", "--type", "local")

    def test_audit(self, acme: Path) -> None:
        """audit shows who changed what; CSV and JSON for scripts; codes masked."""
        table = ok(acme, "audit", "acme")
        assert table.splitlines()[0].split() == ["ID", "TIME", "ACTOR", "GROUP", "ACTION", "WHAT"]
        assert "**** (Sales)" in table
        assert "1234" not in table
        records = json.loads(ok(acme, "audit", "--json", "--action", "codes.add"))["records"]
        assert [r["detail"]["codes"][0]["description"] for r in records] == ["Sales", "Support"]
        assert {r["actor"] for r in records} == {"ann"}
        csv_lines = ok(acme, "audit", "--csv", "--limit", "1").splitlines()
        assert csv_lines[0] == "id,at,actor,group,action,detail"
        assert len(csv_lines) == 2

    def test_demo_and_events(self, db: Path) -> None:
        """demo prints the sample decisions; the events commands are there."""
        shown = ok(db, "demo")
        assert re.search(r"alice .* 1234 +allow +authorized", shown)
        assert re.search(r"alice .* 9999 +block +invalid code", shown)
        assert re.search(r"100200 +calls=1 logged=1", shown)
        assert ok(db, "events", "--help").startswith("Usage:")


def _callcodes() -> list[str]:
    """The installed console script, next to this Python."""
    return [str(Path(sys.executable).with_name("callcodes"))]


@pytest.mark.slow
class TestRealProcesses:
    """The installed command and python -m callcodes, as separate processes."""

    def test_entry_point_and_module(self, tmp_path: Path) -> None:
        """Both ways in run the same command, read CALLCODES_DB, and report errors in one line."""
        env = {**os.environ, "CALLCODES_DB": str(tmp_path / "p.db"), "CALLCODES_ACTOR": "ops"}
        for command in (_callcodes(), [sys.executable, "-m", "callcodes"]):
            done = subprocess.run(
                [*command, "group", "set", "acme", "--mode", "account"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
        (tmp_path / "bad.csv").write_bytes(BAD_FILES["not-utf8.csv"])
        done = subprocess.run(
            [*_callcodes(), "codes", "import", "acme", str(tmp_path / "bad.csv")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1
        assert done.stderr.startswith("Error: ")
        assert "not UTF-8" in done.stderr
        done = subprocess.run(
            [*_callcodes(), "--db", str(tmp_path / "p.db"), "audit", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert [r["actor"] for r in json.loads(done.stdout)["records"]] == ["ops"]

    def test_an_edit_reaches_another_process(self, tmp_path: Path) -> None:
        """A worker holding a loaded book sees an administrator's CLI edit after refresh()."""
        db = tmp_path / "p.db"
        with PolicyStore(db) as store:
            store.set_group(
                "acme",
                cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"})),
                actor="t",
            )
        worker_code = textwrap.dedent(
            """
            import sys
            import callcodes as cc
            from callcodes.store import PolicyStore
            store = PolicyStore(sys.argv[1])
            book = store.load()
            call = cc.Call("acme", "alice", "0114420", cc.CallType.INTERNATIONAL)
            for line in sys.stdin:
                changed = store.refresh(book)
                print(changed, cc.decide(book, call, "4321").verdict.value, flush=True)
            """
        )
        worker = subprocess.Popen(
            [sys.executable, "-c", worker_code, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdin is not None
        assert worker.stdout is not None
        try:
            worker.stdin.write("check\n")
            worker.stdin.flush()
            assert worker.stdout.readline().split() == ["False", "block"]
            subprocess.run(
                [*_callcodes(), "--db", str(db), "codes", "add", "acme", "4321"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            worker.stdin.write("check\n")
            worker.stdin.flush()
            assert worker.stdout.readline().split() == ["True", "allow"]
        finally:
            worker.stdin.close()
            worker.wait(timeout=60)


class TestCheckWithoutPhonenumbers:
    """``check`` with a dial plan, without the phone extra: emergency and extensions still work."""

    def test_emergency_and_extensions_without_phonenumbers(
        self, acme: Path, tmp_path: Path
    ) -> None:
        ok(acme, "dialplan", "set", "acme", "--region", "US", "--extensions", "1000-1999")
        blocker = tmp_path / "blocker"
        blocker.mkdir()
        # Every process started with this folder on its path has no phonenumbers to import.
        blocked = "import sys\nsys.modules['phonenumbers'] = None\n"
        (blocker / "sitecustomize.py").write_text(blocked)
        env = {
            **os.environ,
            "CALLCODES_DB": str(acme),
            "CALLCODES_ACTOR": "ops",
            "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]),
        }

        def check(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "callcodes", "check", "acme", "alice", *args, "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        for dialed, call_type, reason in (
            ("911", "emergency", "emergency"),
            ("1234", "internal", "internal call"),
        ):
            done = check(dialed)
            assert done.returncode == 0, done.stderr
            found = json.loads(done.stdout)
            assert (found["call_type"], found["reason"]) == (call_type, reason)
        done = check("13125550123")
        assert done.returncode == 1
        assert "pip install 'callcodes[phone]'" in json.loads(done.stdout)["error"]
        assert "Traceback" not in done.stderr


class TestDeleteMany:
    """Every code, or those with a prefix, deleted at once only when confirmed."""

    def test_all_needs_yes_and_changes_nothing_without(self, acme: Path) -> None:
        """--all without --yes is refused with the count, and the store stays as it was."""
        before = dump(acme)
        assert "2 code(s)" in refused(acme, "codes", "delete", "acme", "--all")
        assert dump(acme) == before
        assert (
            ok(acme, "codes", "delete", "acme", "--all", "--yes") == "deleted 2 code(s) from acme\n"
        )
        with PolicyStore(acme) as store:
            assert store.count("acme") == 0

    def test_prefix_deletes_exactly_the_codes_it_names(self, acme: Path) -> None:
        """--prefix removes the codes that start with it and no other."""
        ok(acme, "codes", "add", "acme", "0043", "1299")
        ok(acme, "codes", "delete", "acme", "--prefix", "12", "--yes")
        with PolicyStore(acme) as store:
            assert [entry.code for entry in store.iter_codes("acme")] == ["0042", "0043"]

    def test_one_way_of_choosing_at_a_time(self, acme: Path) -> None:
        """Codes and --all, or nothing at all, are usage errors; nothing is deleted."""
        before = dump(acme)
        assert run(acme, "codes", "delete", "acme", "1234", "--all", "--yes").exit_code == 2
        assert run(acme, "codes", "delete", "acme", "--all", "--prefix", "1").exit_code == 2
        assert run(acme, "codes", "delete", "acme").exit_code == 2
        assert dump(acme) == before
