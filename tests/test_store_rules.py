"""Groups' service providers, and the store's own rules for library callers.

A group may belong to a service provider (schema version 5); group names and actors are
checked inside the store, whoever calls it; the user directory's rule holds for the store's own
writes; the directory creates nothing before a change it makes; JSON listings carry a cursor.
"""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import callcodes as cc
from callcodes.cli import main
from callcodes.store import SCHEMA_VERSION, PolicyStore, UserDirectory
from callcodes.store.directory import ALL
from policy_helpers import snapshot

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
AUTH = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION)
DIRECTORY = b"""group,user_id,first_name,last_name
acme,alice,Alice,Smith
acme,bob,Bob,Jones
"""
SRC = Path(__file__).resolve().parents[1] / "src" / "callcodes"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "p.db"


@pytest.fixture
def file_store(path: Path) -> Iterator[PolicyStore]:
    """A store with one group in an SQLite file: for the file itself and the user directory."""
    with PolicyStore(path, clock=lambda: NOW) as opened:
        opened.set_group("acme", AUTH, actor="ann")
        yield opened


@pytest.fixture
def store(store_at: Callable[..., PolicyStore]) -> Iterator[PolicyStore]:
    """A store with one group, on each backend (SQLite, PostgreSQL)."""
    with store_at(clock=lambda: NOW) as opened:
        opened.set_group("acme", AUTH, actor="ann")
        yield opened


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}


def run(db: Path, *args: str) -> tuple[int, str, str]:
    env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def js(db: Path, *args: str) -> Any:
    status, out, err = run(db, *args, "--json")
    assert status == 0, (out, err)
    return json.loads(out)


# -- service providers ----------------------------------------------------------------------------


class TestProvider:
    def test_set_read_clear_and_audit(self, store: PolicyStore) -> None:
        assert store.provider("acme") is None
        store.set_group("globex", AUTH, actor="ann")
        store.set_provider("acme", "sp-east", actor="ann")
        assert store.provider("acme") == "sp-east"
        assert store.providers() == {"acme": "sp-east", "globex": None}
        before = store.version
        store.set_provider("acme", "sp-east", actor="ann")  # unchanged: no record, no change
        assert store.version == before
        store.set_provider("acme", None, actor="bob")
        assert store.provider("acme") is None
        records = store.audit("acme", action="group.provider")
        assert [(r.actor, r.detail) for r in records] == [
            ("ann", {"from": None, "to": "sp-east"}),
            ("bob", {"from": "sp-east", "to": None}),
        ]

    def test_a_provider_change_moves_the_version_and_books_stay_right(
        self, store: PolicyStore
    ) -> None:
        book = store.load()
        before = store.version
        store.set_provider("acme", "sp", actor="ann")
        assert store.version > before
        store.refresh(book)
        assert book.group("acme") == store.group("acme")

    @pytest.mark.parametrize("bad", ["", " sp", "sp ", "s\np", "\x1b[31mred", "x" * 31, 7])
    def test_bad_provider_ids_are_refused_untouched(self, store: PolicyStore, bad: object) -> None:
        before = snapshot(store)
        with pytest.raises(cc.InvalidValueError, match="provider"):
            store.set_provider("acme", bad, actor="ann")  # type: ignore[arg-type]
        assert snapshot(store) == before
        assert store.provider("acme") is None

    def test_thirty_characters_are_enough(self, store: PolicyStore) -> None:
        store.set_provider("acme", "p" * 30, actor="ann")
        assert store.provider("acme") == "p" * 30

    def test_unknown_group(self, store: PolicyStore) -> None:
        with pytest.raises(cc.UnknownGroupError):
            store.provider("nope")
        with pytest.raises(cc.UnknownGroupError):
            store.set_provider("nope", "sp", actor="ann")

    def test_removing_the_group_removes_its_provider(self, store: PolicyStore) -> None:
        store.set_provider("acme", "sp", actor="ann")
        store.remove_group("acme", actor="ann")
        assert store.providers() == {}
        store.set_group("acme", AUTH, actor="ann")
        assert store.provider("acme") is None

    def test_replacing_the_group_keeps_its_provider(self, store: PolicyStore) -> None:
        store.set_provider("acme", "sp", actor="ann")
        store.replace_group("acme", AUTH, ["1234"], actor="ann")
        store.set_group("acme", cc.GroupSettings(mode=cc.Mode.ACCOUNT), actor="ann")
        assert store.provider("acme") == "sp"


class TestCreateGroup:
    def test_creates_with_its_provider_in_one_transaction(self, store: PolicyStore) -> None:
        before = store.version
        store.create_group("beta", AUTH, provider="sp2", actor="ann")
        assert store.group("beta") == AUTH
        assert store.provider("beta") == "sp2"
        actions = [r.action.value for r in store.audit("beta")]
        assert actions == ["group.create", "group.provider"]
        assert store.version > before

    def test_an_existing_name_is_refused_and_that_group_kept(self, store: PolicyStore) -> None:
        store.set_provider("acme", "sp1", actor="ann")
        before = snapshot(store)
        other = cc.GroupSettings(mode=cc.Mode.ACCOUNT, code_length=6)
        with pytest.raises(cc.ConflictError, match="exists already"):
            store.create_group("acme", other, provider="sp2", actor="mallory")
        assert snapshot(store) == before
        assert store.group("acme") == AUTH
        assert store.provider("acme") == "sp1"

    @pytest.mark.parametrize(
        ("group", "provider"), [("bad\nname", None), ("beta", " sp"), ("beta", "x" * 31)]
    )
    def test_bad_names_are_refused_untouched(
        self, store: PolicyStore, group: str, provider: str | None
    ) -> None:
        before = snapshot(store)
        with pytest.raises(cc.InvalidValueError):
            store.create_group(group, AUTH, provider=provider, actor="ann")
        assert snapshot(store) == before


class TestSchemaFive:
    def _as_version_4(self, path: Path) -> None:
        with PolicyStore(path) as store:
            store.set_group("acme", AUTH, actor="ann")
            store.add_codes("acme", ["1234"], actor="ann")
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("ALTER TABLE policy_groups DROP COLUMN provider")
            conn.execute("UPDATE callcodes_schema SET version = 4 WHERE component = 'policy'")
        conn.close()

    def test_a_version_4_file_upgrades_in_place(self, path: Path) -> None:
        self._as_version_4(path)
        with PolicyStore(path) as store:
            assert store.schema_version == SCHEMA_VERSION == 6
            assert store.providers() == {"acme": None}
            assert store.count("acme") == 1
            store.set_provider("acme", "sp", actor="ann")
            assert store.provider("acme") == "sp"

    def test_a_version_4_file_opened_read_only_is_not_changed(self, path: Path) -> None:
        self._as_version_4(path)
        before = path.read_bytes()
        with pytest.raises(cc.InvalidValueError, match="older callcodes"):
            PolicyStore(path, read_only=True)
        assert path.read_bytes() == before


class TestProviderCli:
    def test_set_show_list_clear(self, path: Path) -> None:
        js(path, "group", "set", "acme", "--mode", "authorization")
        js(path, "group", "set", "globex", "--mode", "account")
        status, out, _ = run(path, "group", "provider", "acme", "sp-east")
        assert status == 0
        assert out == "group acme: provider none -> sp-east\n"
        assert js(path, "group", "provider", "acme", "sp-east") == {
            "group": "acme",
            "provider": "sp-east",
            "from": "sp-east",
            "changed": False,
        }
        listed = js(path, "group", "list")
        assert [(g["group"], g["provider"]) for g in listed] == [
            ("acme", "sp-east"),
            ("globex", None),
        ]
        assert listed[1] == {
            "group": "globex",
            "mode": "account",
            "code_length": 4,
            "codes": 0,
            "provider": None,
        }
        _, table, _ = run(path, "group", "list")
        assert table.splitlines()[0].split() == ["GROUP", "MODE", "DIGITS", "CODES", "PROVIDER"]
        assert table.splitlines()[1].split()[-1] == "sp-east"
        assert table.splitlines()[2].split()[-1] == "-"
        assert js(path, "group", "show", "acme")["provider"] == "sp-east"
        _, shown, _ = run(path, "group", "show", "acme")
        assert "provider:" in shown
        assert "sp-east" in shown
        assert js(path, "group", "provider", "acme", "--none") == {
            "group": "acme",
            "provider": None,
            "from": "sp-east",
            "changed": True,
        }
        _, audit, _ = run(path, "audit", "acme", "--action", "group.provider")
        assert "provider none -> sp-east" in audit
        assert "provider sp-east -> none" in audit

    @pytest.mark.parametrize(
        "args",
        [
            ("acme",),
            ("acme", "sp", "--none"),
            ("acme", "s\np"),
            ("acme", "x" * 31),
            ("acme", " sp"),
        ],
    )
    def test_refused_with_status_2_and_nothing_changed(
        self, path: Path, args: tuple[str, ...]
    ) -> None:
        js(path, "group", "set", "acme")
        before = path.read_bytes()
        status, _, err = run(path, "group", "provider", *args)
        assert status == 2
        assert "Traceback" not in err
        assert path.read_bytes() == before

    def test_unknown_group_is_status_1(self, path: Path) -> None:
        js(path, "group", "set", "acme")
        status, _, err = run(path, "group", "provider", "nope", "sp")
        assert status == 1
        assert "unknown group" in err


# -- names checked inside the store ---------------------------------------------------------------

BAD_NAMES = ["", " acme", "ac\nme", "ac\tme", "\x1b[2Jacme", "a\u202eb", "g" * 31]


class TestNames:
    @pytest.mark.parametrize("bad", BAD_NAMES)
    def test_every_write_refuses_a_bad_group_name_untouched(
        self, store: PolicyStore, bad: str
    ) -> None:
        before = snapshot(store)
        writes = [
            lambda: store.set_group(bad, AUTH, actor="ann"),
            lambda: store.modify_group(bad, lambda s: s, actor="ann", create=True),
            lambda: store.replace_group(bad, AUTH, ["1234"], actor="ann"),
            lambda: store.add_codes(bad, ["1234"], actor="ann"),
            lambda: store.replace_codes(bad, ["1234"], actor="ann"),
            lambda: store.edit_codes(bad, {"1234": "x"}, actor="ann"),
            lambda: store.update_codes(bad, [cc.CodeEntry("1234")], actor="ann"),
            lambda: store.modify_codes(bad, ["1234"], lambda e: e, actor="ann"),
            lambda: store.delete_codes(bad, ["1234"], actor="ann"),
            lambda: store.set_dialplan(bad, None, actor="ann"),
            lambda: store.set_provider(bad, "sp", actor="ann"),
        ]
        for write in writes:
            with pytest.raises(cc.InvalidValueError, match="group id"):
                write()
        assert snapshot(store) == before
        assert store.groups() == ["acme"]

    @pytest.mark.parametrize("bad", ["ann\n", "\x1b[31mann", "a" * 162, " ann"])
    def test_a_bad_actor_is_refused(self, file_store: PolicyStore, path: Path, bad: str) -> None:
        before = path.read_bytes()
        with pytest.raises(cc.InvalidValueError, match="actor"):
            file_store.add_codes("acme", ["1234"], actor=bad)
        with pytest.raises(cc.InvalidValueError, match="actor"):
            UserDirectory(file_store).import_csv(DIRECTORY, actor=bad)
        assert path.read_bytes() == before

    @pytest.mark.parametrize("bad", ["", " bob", "bo\nb", "\x1bbob", "u" * 162])
    def test_user_ids_in_settings_are_checked_by_the_model(self, bad: str) -> None:
        with pytest.raises(cc.InvalidValueError):
            cc.GroupSettings(mandatory_users={bad})

    def test_a_group_stored_under_a_name_refused_today_can_still_go(
        self, file_store: PolicyStore, path: Path
    ) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE policy_groups SET name = ? WHERE name = 'acme'", ("g" * 40,))
        legacy = "g" * 40
        file_store.lock(cc.Lock(legacy, "alice", NOW), actor="ann")
        assert file_store.unlock(legacy, "alice", actor="ann")
        file_store.remove_group(legacy, actor="ann")
        assert file_store.groups() == []


# -- the directory's rule in the store's own writes -----------------------------------------------


class TestDirectoryRule:
    @pytest.fixture
    def directory(self, file_store: PolicyStore) -> UserDirectory:
        found = UserDirectory(file_store)
        found.import_csv(DIRECTORY, actor="ann")
        return found

    def test_store_writes_refuse_users_outside_the_directory(
        self, file_store: PolicyStore, directory: UserDirectory, path: Path
    ) -> None:
        before = path.read_bytes()
        outsider = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users={"alice", "zoe"})
        for write in (
            lambda: file_store.set_group("acme", outsider, actor="ann"),
            lambda: file_store.modify_group("acme", lambda _s: outsider, actor="ann"),
            lambda: file_store.replace_group("acme", outsider, [], actor="ann"),
        ):
            with pytest.raises(cc.ConflictError, match="zoe"):
                write()
        assert path.read_bytes() == before
        inside = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, optional_users={"bob"})
        file_store.set_group("acme", inside, actor="ann")
        file_store.replace_group("acme", inside, ["1234"], actor="ann")
        assert file_store.group("acme").optional_users == {"bob"}
        assert directory.missing("acme", ["bob", "zoe"]) == ["zoe"]

    def test_a_group_without_a_directory_enrolls_anyone(
        self, file_store: PolicyStore, directory: UserDirectory
    ) -> None:
        file_store.set_group("globex", cc.GroupSettings(mandatory_users={"zoe"}), actor="ann")
        assert file_store.group("globex").mandatory_users == {"zoe"}

    def test_removing_a_group_removes_its_directory(
        self, file_store: PolicyStore, directory: UserDirectory
    ) -> None:
        file_store.remove_group("acme", actor="ann")
        file_store.set_group("acme", cc.GroupSettings(mandatory_users={"zoe"}), actor="ann")
        assert directory.users() == []
        assert file_store.group("acme").mandatory_users == {"zoe"}

    def test_a_new_group_ignores_the_directory_left_by_an_older_version(
        self, file_store: PolicyStore, directory: UserDirectory, path: Path
    ) -> None:
        with sqlite3.connect(path) as conn:  # as remove_group left it before it removed these
            conn.execute("DELETE FROM policy_groups WHERE name = 'acme'")
        file_store.set_group("acme", cc.GroupSettings(mandatory_users={"zoe"}), actor="ann")
        assert file_store.group("acme").mandatory_users == {"zoe"}
        assert directory.users() == []

    def test_removing_a_group_in_a_store_without_a_directory_creates_nothing(
        self, file_store: PolicyStore, path: Path
    ) -> None:
        file_store.remove_group("acme", actor="ann")
        assert "directory_users" not in tables(path)


# -- the directory creates nothing before its first change ----------------------------------------


class TestDirectoryTables:
    def test_reading_and_refused_changes_create_no_tables(
        self, file_store: PolicyStore, path: Path
    ) -> None:
        directory = UserDirectory(file_store)
        assert directory.users() == []
        assert directory.available("acme") == []
        with pytest.raises(cc.ConflictError, match="no user directory"):
            directory.set_users("acme", mandatory=ALL, actor="ann")
        with pytest.raises(cc.BatchError):
            directory.import_csv(DIRECTORY + b"nope,carol,Carol,Jones\n", actor="ann")
        assert "directory_users" not in tables(path)
        directory.import_csv(DIRECTORY, actor="ann")
        assert "directory_users" in tables(path)

    def test_a_read_only_store_is_never_changed(self, file_store: PolicyStore, path: Path) -> None:
        before = path.read_bytes()
        with PolicyStore(path, read_only=True) as reader:
            directory = UserDirectory(reader)
            assert directory.users("acme") == []
            assert directory.missing("acme", ["zoe"]) == []
            with pytest.raises(sqlite3.OperationalError, match="readonly"):  # as its own writes
                directory.import_csv(DIRECTORY, actor="ann")
        assert path.read_bytes() == before
        assert "directory_users" not in tables(path)

    @pytest.mark.parametrize(
        "args",
        [
            ("users", "set", "acme", "--mandatory", "all"),
            ("users", "directory", "import", "bad.csv"),
            ("users", "add", "acme", "--mandatory", "bob", "--optional"),
            ("users", "available", "acme", "--after", "zoe"),
        ],
    )
    def test_refused_commands_create_no_tables(
        self, tmp_path: Path, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        db = tmp_path / "c.db"
        js(db, "group", "set", "acme")
        Path("bad.csv").write_bytes(DIRECTORY.replace(b"acme,bob", b"nope,bob"))
        before = db.read_bytes()
        status, _, _ = run(db, *args)
        assert status in (1, 2)
        assert db.read_bytes() == before
        assert "directory_users" not in tables(db)


def _reaches_in(path: Path) -> list[str]:
    """Where *path* reads another object's underscore attribute (not self's, cls's or super's)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        if not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and ast.unparse(owner.func) == "super":
            continue
        found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "module",
    sorted(p.relative_to(SRC).as_posix() for d in ("store", "cli") for p in (SRC / d).glob("*.py")),
)
def test_no_module_reaches_into_another_objects_private_attributes(module: str) -> None:
    """The store's components and the CLI use the store's public seam only."""
    assert _reaches_in(SRC / module) == []


# -- next-page cursors in JSON listings -----------------------------------------------------------


class TestCursors:
    @pytest.fixture
    def db(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.chdir(tmp_path)
        db = tmp_path / "c.db"
        js(db, "group", "set", "acme")
        rows = "".join(f"acme,u{n},First{n},Last{n}\n" for n in range(7))
        Path("dir.csv").write_text("group,user_id,first_name,last_name\n" + rows, encoding="utf-8")
        js(db, "users", "directory", "import", "dir.csv")
        return db

    def test_available_users_page_by_page(self, db: Path) -> None:
        seen: list[str] = []
        after: list[str] = []
        for _ in range(10):
            page = js(db, "users", "available", "acme", "--limit", "3", *after)
            assert page["group"] == "acme"
            seen += [user["user_id"] for user in page["users"]]
            if page["next"] is None:
                break
            after = ["--after", page["next"]]
        assert seen == [f"u{n}" for n in range(7)]
        whole = js(db, "users", "available", "acme")
        assert whole["next"] is None
        assert len(whole["users"]) == 7
        assert js(db, "users", "available", "acme", "--limit", "7")["next"] is None
        status, out, _ = run(db, "users", "available", "acme", "--after", "zoe", "--json")
        assert status == 1
        assert "next" in json.loads(out)["error"]

    def test_audit_page_by_page(self, db: Path) -> None:
        for n in range(4):
            js(db, "codes", "add", "acme", f"{n:04d}")
        latest = js(db, "audit", "acme", "--limit", "2")
        assert latest["group"] == "acme"
        assert latest["next"] is None  # the latest records: none is newer
        assert [r["action"] for r in latest["records"]] == ["codes.add", "codes.add"]
        ids: list[int] = []
        after = "0"
        for _ in range(10):
            page = js(db, "audit", "acme", "--limit", "2", "--after", after)
            ids += [record["id"] for record in page["records"]]
            if page["next"] is None:
                break
            after = str(page["next"])
        everything = js(db, "audit", "acme", "--all")
        assert ids == [record["id"] for record in everything["records"]]
        assert len(ids) == 6  # the group, its directory, four codes
        assert everything["next"] is None
        _, _, err = run(db, "audit", "acme", "--limit", "2", "--after", "0")
        assert "(more: --after" in err
