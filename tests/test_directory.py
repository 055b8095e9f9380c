"""The user directory: import (all or nothing), search of the available users, lists moved."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import callcodes as cc
from callcodes.store import PolicyStore
from callcodes.store.components import component_version
from callcodes.store.directory import ALL, DirectoryUser, Match, UserDirectory, write_csv
from callcodes.store.sql_tx import SqlTransaction

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

CSV = b"""group,user_id,first_name,last_name,department,phone_number,extension
acme,alice,Alice,Smith,Sales,+12125550101,101
acme,bob,Bob,Smithers,Support,+12125550102,102
acme,carol,Carol,Jones,Sales,+12125550103,103
acme,dave,Dave,Osmith,Engineering,+12125550104,104
globex,erin,Erin,Smith,Sales,,201
"""


@pytest.fixture
def store(store_at: Callable[..., PolicyStore]) -> Iterator[PolicyStore]:
    """A store with two groups, on each backend (SQLite, PostgreSQL)."""
    with store_at(clock=lambda: NOW) as opened:
        opened.set_group("acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION), actor="t")
        opened.set_group("globex", cc.GroupSettings(mode=cc.Mode.ACCOUNT), actor="t")
        yield opened


@pytest.fixture
def directory(store: PolicyStore) -> UserDirectory:
    found = UserDirectory(store)
    found.import_csv(CSV, actor="ann", source="dir.csv")
    return found


def ids(users: list[DirectoryUser]) -> list[str]:
    return [u.user_id for u in users]


class TestImport:
    def test_import_lists_every_group_and_writes_one_record_per_group(
        self, store: PolicyStore, directory: UserDirectory
    ) -> None:
        assert ids(directory.users("acme")) == ["alice", "bob", "carol", "dave"]
        assert ids(directory.users()) == ["alice", "bob", "carol", "dave", "erin"]
        alice = directory.users("acme")[0]
        assert alice == DirectoryUser(
            "acme", "alice", "Alice", "Smith", "Sales", "+12125550101", "101"
        )
        records = store.audit(action="users.directory")
        assert [(r.group, r.actor) for r in records] == [("acme", "ann"), ("globex", "ann")]
        change = records[0].detail["changed"]["directory"]
        assert change["added"] == ["alice", "bob", "carol", "dave"]
        assert change["users"] == 4

    def test_the_same_file_again_changes_nothing(
        self, store: PolicyStore, directory: UserDirectory
    ) -> None:
        before = len(store.audit())
        assert directory.import_csv(CSV, actor="ann") == {"acme": 4, "globex": 1}
        assert len(store.audit()) == before

    def test_every_bad_row_is_reported_by_line_and_nothing_changes(
        self, store: PolicyStore, directory: UserDirectory
    ) -> None:
        bad = (
            b"group,user_id,first_name,last_name,phone_number\n"
            b"acme,alice,Alice,Smith,+1\n"
            b"acme,x,,X,\n"
            b"\n"
            b"nowhere,y,Y,Y,\n"
            b"acme,alice,Al,Smith,\n"
            b"acme,z,Z,Z,12a\n"
            b"acme,w,W\n"
        )
        before = directory.users()
        with pytest.raises(cc.BatchError) as caught:
            directory.import_csv(bad, actor="ann", source="bad.csv")
        rows = [(row.row, row.code) for row in caught.value.rows]
        assert rows == [(3, "x"), (5, "y"), (6, "alice"), (7, "z"), (8, "w")]
        assert "bad.csv" in caught.value.what
        assert directory.users() == before

    def test_bad_files_are_refused_whole(self, directory: UserDirectory) -> None:
        for data, says in (
            (b"", "empty"),
            (b"group,user_id,first_name\n", "missing column(s) last_name"),
            (b"group,user_id,first_name,last_name,shoe\n", "unknown column(s) shoe"),
            (b"group,user_id,first_name,last_name\nacme,caf\xe9,A,B\n", "not UTF-8"),
        ):
            with pytest.raises(cc.InvalidValueError, match=re.escape(says)):
                directory.import_csv(data, actor="ann")

    def test_leaving_out_an_enrolled_user_is_refused(
        self, store: PolicyStore, directory: UserDirectory
    ) -> None:
        directory.enroll("acme", ["bob"], "optional", actor="ann")
        smaller = b"group,user_id,first_name,last_name\nacme,alice,Alice,Smith\n"
        with pytest.raises(cc.ConflictError, match="bob"):
            directory.import_csv(smaller, actor="ann")
        assert len(directory.users("acme")) == 4

    def test_a_bom_crlf_and_quoted_cells_round_trip(
        self, tmp_path: Path, directory: UserDirectory
    ) -> None:
        out = tmp_path / "out.csv"
        with out.open("w", encoding="utf-8", newline="") as file:
            assert write_csv(directory.users(), file) == 5
        text = out.read_text(encoding="utf-8")
        assert "'+12125550101" in text  # spreadsheet-safe: a cell starting with + is quoted
        again = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
        before = directory.users()
        directory.import_csv(again, actor="ann")
        assert directory.users() == before

    def test_the_directory_is_a_component_of_its_own(
        self, store: PolicyStore, directory: UserDirectory
    ) -> None:
        with store.reading() as tx:
            assert isinstance(tx, SqlTransaction)
            assert component_version(tx, "directory") == 1
            assert component_version(tx, "policy") == store.schema_version

    def test_a_newer_directory_schema_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "p.db"
        with PolicyStore(path) as store:
            store.set_group("acme", cc.GroupSettings(), actor="t")
            UserDirectory(store).import_csv(CSV.split(b"\nglobex")[0] + b"\n", actor="t")
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE callcodes_schema SET version = 9 WHERE component = 'directory'")
        with PolicyStore(path) as store, pytest.raises(cc.ConflictError, match="upgrade"):
            UserDirectory(store)


class TestAvailable:
    @pytest.mark.parametrize(
        ("criteria", "match", "expected"),
        [
            ({"last_name": "smi"}, Match.STARTS, ["alice", "bob"]),
            ({"last_name": "SMITH"}, Match.CONTAINS, ["dave", "alice", "bob"]),
            ({"last_name": "smith"}, Match.EQUAL, ["alice"]),
            ({"department": "sales"}, Match.EQUAL, ["carol", "alice"]),
            ({"first_name": "c", "department": "sa"}, Match.STARTS, ["carol"]),
            ({"user_id": "AL"}, Match.STARTS, ["alice"]),
            ({"phone_number": "0103"}, Match.CONTAINS, ["carol"]),
            ({"extension": "104"}, "equal", ["dave"]),
            ({}, Match.STARTS, ["carol", "dave", "alice", "bob"]),
        ],
    )
    def test_search(
        self, directory: UserDirectory, criteria: dict[str, str], match: Match, expected: list[str]
    ) -> None:
        assert ids(directory.available("acme", match=match, **criteria)) == expected

    def test_enrolled_users_are_not_available_and_the_limit_holds(
        self, directory: UserDirectory
    ) -> None:
        directory.set_users("acme", mandatory=["alice"], optional=["bob"], actor="ann")
        assert ids(directory.available("acme")) == ["carol", "dave"]
        assert ids(directory.available("acme", limit=1)) == ["carol"]

    def test_bad_arguments(self, directory: UserDirectory) -> None:
        with pytest.raises(cc.InvalidValueError):
            directory.available("acme", match="like")
        with pytest.raises(cc.InvalidValueError):
            directory.available("acme", limit=0)
        with pytest.raises(cc.UnknownGroupError):
            directory.available("nowhere")


class TestSetUsers:
    def test_all_and_none_move_users_in_one_record(
        self, store: PolicyStore, directory: UserDirectory
    ) -> None:
        directory.set_users("acme", mandatory=["alice"], actor="ann")
        before = len(store.audit())
        after = directory.set_users("acme", mandatory=ALL, optional=["alice"], actor="ann")
        assert after.mandatory_users == {"bob", "carol", "dave"}
        assert after.optional_users == {"alice"}
        assert len(store.audit()) == before + 1
        (record,) = store.audit(latest=1)
        assert record.detail["changed"]["optional_users"] == {"added": ["alice"], "removed": []}
        after = directory.set_users("acme", optional=(), actor="ann")
        assert (after.mandatory_users, after.optional_users) == ({"bob", "carol", "dave"}, set())
        after = directory.set_users("acme", optional=ALL, mandatory=(), actor="ann")
        assert after.optional_users == {"alice", "bob", "carol", "dave"}

    def test_users_named_for_one_list_leave_the_other(self, directory: UserDirectory) -> None:
        directory.set_users("acme", mandatory=["alice", "bob"], actor="ann")
        after = directory.set_users("acme", optional=["bob"], actor="ann")
        assert (after.mandatory_users, after.optional_users) == ({"alice"}, {"bob"})

    def test_contradictions_are_refused(self, store: PolicyStore, directory: UserDirectory) -> None:
        before = len(store.audit())
        with pytest.raises(cc.InvalidValueError):
            directory.set_users("acme", mandatory=ALL, optional=ALL, actor="ann")
        with pytest.raises(cc.InvalidValueError, match="alice"):
            directory.set_users("acme", mandatory=["alice"], optional=["alice"], actor="ann")
        with pytest.raises(cc.InvalidValueError):
            directory.set_users("acme", actor="ann")
        with pytest.raises(cc.InvalidValueError):
            directory.set_users("acme", mandatory="alice", actor="ann")
        assert len(store.audit()) == before

    def test_users_outside_the_directory_are_refused_by_name(
        self, store: PolicyStore, directory: UserDirectory
    ) -> None:
        with pytest.raises(cc.ConflictError, match="mallory, zoe"):
            directory.set_users("acme", mandatory=["alice", "zoe", "mallory"], actor="ann")
        with pytest.raises(cc.ConflictError, match="zoe"):
            directory.enroll("acme", ["zoe"], "optional", actor="ann")
        assert store.group("acme").mandatory_users == frozenset()

    def test_a_group_without_a_directory_enrolls_anyone(self, store: PolicyStore) -> None:
        directory = UserDirectory(store)
        after = directory.set_users("acme", mandatory=["zoe"], actor="ann")
        assert after.mandatory_users == {"zoe"}
        with pytest.raises(cc.ConflictError, match="no user directory"):
            directory.set_users("acme", optional=ALL, actor="ann")

    def test_already_enrolled_users_outside_the_directory_may_stay(
        self, store: PolicyStore
    ) -> None:
        store.set_group("acme", cc.GroupSettings(mandatory_users=frozenset({"legacy"})), actor="t")
        directory = UserDirectory(store)
        legacy = b"group,user_id,first_name,last_name\nacme,legacy,L,L\nacme,new,N,N\n"
        directory.import_csv(legacy, actor="ann")
        after = directory.set_users("acme", optional=["new"], actor="ann")
        assert (after.mandatory_users, after.optional_users) == ({"legacy"}, {"new"})
