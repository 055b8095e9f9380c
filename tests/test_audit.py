"""The audit trail: one record per change, in its transaction, with authorization codes masked."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path

import attrs
import pytest

import callcodes as cc
from callcodes.audit import MAX_DETAIL_CODES, Action, write_csv, write_json
from callcodes.store import PolicyStore
from policy_helpers import T0, Clock

AUTH = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION)
ACCOUNT = cc.GroupSettings(mode=cc.Mode.ACCOUNT)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PolicyStore]:
    with PolicyStore(tmp_path / "policy.db", clock=Clock()) as opened:
        yield opened


class TestRecords:
    """Every administrative change leaves exactly one record; a refused one leaves none."""

    def test_the_kind_of_change_is_named(self, store: PolicyStore) -> None:
        """Users only: users.update; any other setting: group.update; a plan: dialplan.update."""
        store.set_group("acme", AUTH, actor="ann")
        users_only = attrs.evolve(AUTH, mandatory_users=frozenset({"alice"}))
        store.set_group("acme", users_only, actor="ann")
        both = attrs.evolve(users_only, optional_users=frozenset({"bob"}), max_attempts=3)
        store.set_group("acme", both, actor="ann")
        store.set_dialplan("acme", cc.DialPlan("US", extensions=["100-199"]), actor="ann")
        assert [r.action for r in store.audit()] == [
            Action.GROUP_CREATE,
            Action.USERS_UPDATE,
            Action.GROUP_UPDATE,
            Action.DIALPLAN_UPDATE,
        ]

    def test_each_change_is_recorded(self, store: PolicyStore) -> None:
        """Each write method records its action, actor, group and time (from the clock)."""
        store.set_group("acme", AUTH, actor="ann")
        store.modify_group("acme", lambda s: attrs.evolve(s, max_attempts=3), actor="bob")
        store.add_codes("acme", ["1234", "5678"], actor="ann")
        store.edit_codes("acme", {"1234": "Sales"}, actor="ann")
        store.update_codes("acme", [cc.CodeEntry("5678", level=2)], actor="ann")
        store.delete_codes("acme", ["5678"], actor="ann")
        store.replace_codes("acme", ["1111"], actor="ann")
        store.lock(cc.Lock("acme", "alice", T0), actor="guard")
        store.unlock("acme", "alice", actor="ann")
        store.replace_group("acme", ACCOUNT, ["2222"], actor="ann")
        store.remove_group("acme", actor="ann")
        records = store.audit()
        assert [r.action for r in records] == [
            Action.GROUP_CREATE,
            Action.GROUP_UPDATE,
            Action.CODES_ADD,
            Action.CODES_EDIT,
            Action.CODES_UPDATE,
            Action.CODES_DELETE,
            Action.CODES_REPLACE,
            Action.LOCK,
            Action.UNLOCK,
            Action.GROUP_REPLACE,
            Action.GROUP_REMOVE,
        ]
        assert [r.actor for r in records[:2]] == ["ann", "bob"]
        assert {r.group for r in records} == {"acme"}
        assert [r.at for r in records] == [T0 + timedelta(seconds=n) for n in range(1, 12)]
        assert records[1].detail == {"changed": {"max_attempts": {"from": 2, "to": 3}}}

    def test_refused_and_empty_changes_leave_no_record(self, store: PolicyStore) -> None:
        """A refused change, or one that changes nothing, writes no record."""
        store.set_group("acme", AUTH, actor="ann")
        with pytest.raises(cc.BatchError):
            store.add_codes("acme", ["1234", "12"], actor="ann")
        store.set_group("acme", AUTH, actor="ann")
        store.add_codes("acme", [], actor="ann")
        assert not store.unlock("acme", "nobody", actor="ann")
        assert len(store.audit()) == 1

    def test_times_are_utc(self, tmp_path: Path) -> None:
        """A clock in another time zone gives records at the same instant, in UTC."""
        paris = timezone(timedelta(hours=1))
        with PolicyStore(tmp_path / "p.db", clock=lambda: T0.astimezone(paris)) as store:
            store.set_group("acme", AUTH, actor="ann")
            (record,) = store.audit()
        assert record.at == T0
        assert record.at.utcoffset() == timedelta(0)

    def test_users_changes_are_named(self, store: PolicyStore) -> None:
        """Adding and removing users records who was added to and removed from which list."""
        store.set_group("acme", attrs.evolve(AUTH, mandatory_users={"alice"}), actor="ann")
        store.modify_group(
            "acme",
            lambda s: attrs.evolve(s, mandatory_users={"bob"}, optional_users={"carol"}),
            actor="ann",
        )
        assert store.audit()[-1].detail["changed"] == {
            "mandatory_users": {"added": ["bob"], "removed": ["alice"]},
            "optional_users": {"added": ["carol"], "removed": []},
        }


class TestMasking:
    """Authorization codes never appear in clear; account codes do."""

    @pytest.mark.parametrize(
        ("mode", "shown"),
        [
            (cc.Mode.AUTHORIZATION, "****"),
            (cc.Mode.DEACTIVATED, "****"),
            (cc.Mode.ACCOUNT, "1234"),
        ],
    )
    def test_codes_in_records(self, store: PolicyStore, mode: cc.Mode, shown: str) -> None:
        """Adding, editing and deleting a code records it masked unless the group counts calls."""
        store.set_group("acme", cc.GroupSettings(mode=mode), actor="ann")
        store.add_codes("acme", [cc.CodeEntry("1234", "Sales")], actor="ann")
        store.edit_codes("acme", {"1234": "Sales EMEA"}, actor="ann")
        store.delete_codes("acme", ["1234"], actor="ann")
        added, edited, deleted = (r.detail for r in store.audit()[1:])
        assert added == {"count": 1, "codes": [{"code": shown, "description": "Sales"}]}
        assert edited["codes"] == [
            {"code": shown, "changed": {"description": {"from": "Sales", "to": "Sales EMEA"}}}
        ]
        assert deleted["codes"][0]["code"] == shown
        if shown == "****":
            assert all("1234" not in json.dumps(r.to_dict()) for r in store.audit())

    def test_two_digit_codes_stay_hidden(self, store: PolicyStore) -> None:
        """Even a 2-digit code shows only its length."""
        store.set_group("acme", attrs.evolve(AUTH, code_length=2), actor="ann")
        store.add_codes("acme", ["07"], actor="ann")
        assert store.audit()[-1].detail["codes"] == [{"code": "**"}]

    def test_big_batches_are_summed_up(self, store: PolicyStore) -> None:
        """A batch lists its first codes only, and says how many there were."""
        store.set_group("acme", attrs.evolve(AUTH, code_length=6), actor="ann")
        store.add_codes("acme", [f"{n:06d}" for n in range(250)], actor="ann")
        detail = store.audit()[-1].detail
        assert detail["count"] == 250
        assert len(detail["codes"]) == MAX_DETAIL_CODES


class TestReading:
    """Filters, paging, and the CSV and JSON forms."""

    @pytest.fixture
    def filled(self, store: PolicyStore) -> PolicyStore:
        store.set_group("acme", AUTH, actor="ann")
        store.set_group("globex", ACCOUNT, actor="=cmd()")
        store.add_codes("globex", [cc.CodeEntry("1234", "@SUM(A1)")], actor="bob")
        store.add_codes("acme", ["5555"], actor="bob")
        return store

    def test_filters(self, filled: PolicyStore) -> None:
        """Records are chosen by group, actor, action and time, and paged in written order."""
        assert [r.id for r in filled.audit("acme")] == [1, 4]
        assert [r.id for r in filled.audit(actor="bob")] == [3, 4]
        assert [r.id for r in filled.audit(action="codes.add")] == [3, 4]
        assert [r.id for r in filled.audit(since=T0 + timedelta(seconds=2))] == [2, 3, 4]
        assert [r.id for r in filled.audit(until=T0 + timedelta(seconds=2))] == [1]
        assert [r.id for r in filled.audit(after_id=1, limit=2)] == [2, 3]
        assert [r.id for r in filled.audit(latest=2)] == [3, 4]
        with pytest.raises(cc.InvalidValueError, match=r"codes\.nothing"):
            filled.audit(action="codes.nothing")
        with pytest.raises(cc.InvalidValueError):
            filled.audit(since=T0.replace(tzinfo=None))

    def test_csv_is_safe_for_spreadsheets(self, filled: PolicyStore) -> None:
        """The CSV form has a header, one row per record, and no cell a spreadsheet would run."""
        out = io.StringIO()
        assert write_csv(filled.audit(), out) == 4
        rows = list(csv.reader(io.StringIO(out.getvalue())))
        assert rows[0] == ["id", "at", "actor", "group", "action", "detail"]
        assert rows[2][2] == "'=cmd()"
        assert json.loads(rows[3][5])["codes"] == [{"code": "1234", "description": "@SUM(A1)"}]
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    def test_json(self, filled: PolicyStore) -> None:
        """The JSON form is one array of the records' plain values."""
        out = io.StringIO()
        assert write_json(filled.audit(), out) == 4
        items = json.loads(out.getvalue())
        assert items[0]["action"] == "group.create"
        assert items[0]["at"] == (T0 + timedelta(seconds=1)).isoformat()
        assert items == [r.to_dict() for r in filled.audit()]
