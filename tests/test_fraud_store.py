"""Hours, zones, use limits, redirect and suspensions kept like every other setting.

The policy store (schema version 6), group files, the command line and the audit trail carry
them; a suspension made by the engine reaches the store, its audit trail and a second process.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callcodes as cc
from callcodes import policyfile as pf
from callcodes._timefmt import zone
from callcodes.audit import Action
from callcodes.store import SCHEMA_VERSION, PolicyStore
from strategies import full_settings
from test_store_rules import js, run

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
FILES = itertools.count()
PARIS = zone("Europe/Paris")
GUARDED = cc.GroupSettings(
    mode=cc.Mode.AUTHORIZATION,
    mandatory_users=frozenset({"alice", "bob"}),
    hours={cc.CallType.INTERNATIONAL: "mon-fri 08:00-18:00"},
    time_zone=PARIS,
    limits=cc.Limits(costly_per_code=1, users_per_code=3, suspend=True),
    redirect=cc.Redirect.EXEMPT_ONLY,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "p.db"


class TestStore:
    """The store keeps the new settings and the suspensions."""

    @settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(full_settings())
    def test_settings_read_back_equal(self, tmp_path: Path, group: cc.GroupSettings) -> None:
        """Any settings written are read back equal, by the same store and a fresh one."""
        db = tmp_path / f"{next(FILES)}.db"  # a new file for each example
        with PolicyStore(db) as store:
            store.set_group("acme", group, actor="ann")
            assert store.group("acme") == group
        with PolicyStore(db, read_only=True) as again:
            assert again.group("acme") == group
            assert again.load().group("acme") == group

    def test_a_version_5_file_upgrades_in_place_with_the_defaults(self, path: Path) -> None:
        """A file from before version 6 opens, upgraded: its groups get the defaults."""
        with PolicyStore(path) as store:
            store.set_group("acme", cc.GroupSettings(mode="authorization"), actor="ann")
            store.add_codes("acme", ["1234"], actor="ann")
        with sqlite3.connect(path) as conn:
            conn.execute("ALTER TABLE policy_groups DROP COLUMN fraud")
            conn.execute("ALTER TABLE policy_codes DROP COLUMN suspended")
            conn.execute("UPDATE callcodes_schema SET version = 5 WHERE component = 'policy'")
        conn.close()
        with PolicyStore(path) as store:
            assert store.schema_version == SCHEMA_VERSION == 6
            settings_ = store.group("acme")
            assert (settings_.limits, settings_.redirect, dict(settings_.hours)) == (
                cc.Limits(),
                cc.Redirect.BLOCK,
                {},
            )
            assert store.suspended("acme") == {}
            store.set_group("acme", GUARDED, actor="ann")
            assert store.group("acme") == GUARDED

    def test_a_file_whose_version_row_was_set_back_opens_again(self, path: Path) -> None:
        """Version 6's columns are not added twice to a file that already has them."""
        with PolicyStore(path) as store:
            store.set_group("acme", GUARDED, actor="ann")
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE callcodes_schema SET version = 5 WHERE component = 'policy'")
        conn.close()
        with PolicyStore(path) as store:
            assert store.group("acme") == GUARDED

    def test_the_engine_suspends_through_the_store_audited_and_seen_elsewhere(
        self, path: Path
    ) -> None:
        """A reached limit suspends the code in the store; the audit names it only masked;
        another process's book refuses the code; a restore lifts it everywhere."""
        with PolicyStore(path, clock=lambda: NOW) as store:
            store.set_group("acme", GUARDED, actor="ann")
            store.add_codes("acme", ["1234", "5678"], actor="ann")
            monday_noon = datetime(2026, 3, 2, 11, tzinfo=UTC)
            engine = cc.Engine(store.load(), clock=lambda: monday_noon, store=store)
            call = cc.Call("acme", "alice", "0044207", cc.CallType.INTERNATIONAL)
            assert engine.decide(call, "1234").reason is cc.Reason.AUTHORIZED
            assert engine.decide(call, "1234").reason is cc.Reason.COSTLY_LIMIT
            assert store.suspended("acme") == {"1234": monday_noon}
            records = store.audit("acme", action="code.suspend")
            assert [(r.actor, r.detail) for r in records] == [
                (cc.GUARD_ACTOR, {"code": "****", "since": monday_noon.isoformat()})
            ]
            assert store.audit("acme", code="1234", action="code.suspend") == records
            assert "1234" not in json.dumps([r.detail for r in store.audit("acme")])
            other = store.load()  # what another process loads
            national = attrs.evolve(call, call_type=cc.CallType.NATIONAL)
            refused = cc.decide(other, national, "1234", now=monday_noon)
            assert refused.reason is cc.Reason.SUSPENDED
            assert engine.restore("acme", "1234", actor="ann") is True
            assert store.suspended("acme") == {}
            assert [r.action for r in store.audit("acme", action="code.restore")] == [
                Action.CODE_RESTORE
            ]
            assert cc.decide(store.load(), national, "1234", now=monday_noon).verdict is (
                cc.Verdict.ALLOW
            )

    def test_suspending_an_unknown_code_changes_nothing(self, path: Path) -> None:
        """An unlisted code is not suspended and no record is written; restore says False."""
        with PolicyStore(path, clock=lambda: NOW) as store:
            store.set_group("acme", GUARDED, actor="ann")
            before = len(store.audit("acme"))
            assert store.suspend("acme", "9999", NOW, actor="ann") is False
            assert store.restore("acme", "9999", actor="ann") is False
            assert len(store.audit("acme")) == before
            with pytest.raises(cc.InvalidValueError):
                store.suspend("acme", "9999", datetime(2026, 1, 1), actor="ann")  # noqa: DTZ001


class TestFiles:
    """Group files carry the settings: JSON and TOML, and refuse bad values by name."""

    @given(full_settings(), st.sampled_from(["json", "toml"]))
    def test_group_files_round_trip(self, group: cc.GroupSettings, fmt: str) -> None:
        """A group written to a file reads back with equal settings."""
        text = pf.dumps_group(pf.GroupDocument("acme", group), fmt)  # type: ignore[arg-type]
        assert pf.loads_group(text.encode(), fmt).settings == group  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("settings_", "where"),
        [
            ({"time_zone": "Mars/Olympus"}, "settings.time_zone"),
            ({"hours": {"international": "24/7"}}, "settings.hours[international]"),
            ({"limits": {"calls_per_code": 0}}, "settings.limits.calls_per_code"),
            ({"limits": {"window_seconds": -5}}, "settings.limits.window_seconds"),
            ({"limits": {"per_day": 5}}, "settings.limits"),
            ({"redirect": "sometimes"}, "settings.redirect"),
        ],
    )
    def test_bad_values_are_refused_naming_the_key(
        self, settings_: dict[str, Any], where: str
    ) -> None:
        """Each bad value is refused with the key it was found under."""
        text = json.dumps({"group": "acme", "settings": settings_})
        with pytest.raises(cc.InvalidValueError) as caught:
            pf.loads_group(text.encode(), "json")
        assert caught.value.field == where


class TestCommandLine:
    """``group set`` and ``group show`` carry the settings; ``codes`` lists and restores."""

    def test_set_show_and_clear(self, path: Path) -> None:
        """Every new option is set, shown in JSON and text, and turned off again."""
        out = js(
            path,
            "group", "set", "acme", "--mode", "authorization",
            "--hours", "international=mon-fri 08:00-18:00",
            "--hours", "premium=sat 10:00-12:00",
            "--time-zone", "Europe/Paris",
            "--limit-window", "7200",
            "--calls-per-code", "20", "--users-per-code", "2", "--costly-per-code", "5",
            "--costly-per-user", "3", "--concurrent-per-code", "1", "--suspend",
            "--redirect", "exempt_only",
        )  # fmt: skip
        assert {"hours", "time_zone", "limits", "redirect"} <= set(out["changed"])
        shown = js(path, "group", "show", "acme")["settings"]
        assert shown["hours"] == {
            "international": "mon-fri 08:00-18:00",
            "premium": "sat 10:00-12:00",
        }
        assert shown["time_zone"] == "Europe/Paris"
        assert shown["limits"] == {
            "window_seconds": 7200,
            "calls_per_code": 20,
            "users_per_code": 2,
            "costly_per_code": 5,
            "costly_per_user": 3,
            "concurrent_per_code": 1,
            "suspend": True,
        }
        assert shown["redirect"] == "exempt_only"
        status, text, _ = run(path, "group", "show", "acme")
        assert status == 0
        assert "international mon-fri 08:00-18:00; premium sat 10:00-12:00" in text
        assert "code suspended when reached" in text
        js(path, "group", "set", "acme", "--no-hours", "--calls-per-code", "0", "--no-suspend")
        shown = js(path, "group", "show", "acme")["settings"]
        assert shown["hours"] == {}
        assert "calls_per_code" not in shown["limits"]
        assert shown["limits"]["suspend"] is False

    @pytest.mark.parametrize(
        "args",
        [
            ("--time-zone", "Nowhere/Land"),
            ("--hours", "international"),
            ("--hours", "international=all day"),
            ("--calls-per-code", "-1"),
            ("--users-per-code", "100001"),
            ("--redirect", "maybe"),
        ],
    )
    def test_bad_options_change_nothing(self, path: Path, args: tuple[str, ...]) -> None:
        """A bad option is refused with an error and the group is left as it was."""
        js(path, "group", "set", "acme", "--mode", "authorization")
        before = js(path, "group", "show", "acme")
        status, _, err = run(path, "group", "set", "acme", *args)
        assert status != 0
        assert "Traceback" not in err
        assert js(path, "group", "show", "acme") == before

    def test_suspended_codes_are_listed_and_restored(self, path: Path) -> None:
        """codes suspended lists a suspension; codes restore lifts it, audited."""
        js(path, "group", "set", "acme", "--mode", "authorization")
        js(path, "codes", "add", "acme", "1234")
        assert js(path, "codes", "suspend", "acme", "1234") == {"group": "acme", "suspended": True}
        status, _, err = run(path, "codes", "suspend", "acme", "9999")
        assert status == 1
        assert "not on the list" in err
        listed = js(path, "codes", "suspended", "acme")["suspended"]
        assert [entry["code"] for entry in listed] == ["1234"]
        status, text, _ = run(path, "codes", "suspended", "acme")
        assert status == 0
        assert text.startswith("CODE  SUSPENDED SINCE\n1234  ")
        with PolicyStore(path, read_only=True) as store:
            assert [r.actor for r in store.audit("acme", action="code.suspend")] == ["ann"]
        assert js(path, "codes", "restore", "acme", "1234") == {"group": "acme", "restored": True}
        assert js(path, "codes", "restore", "acme", "1234") == {"group": "acme", "restored": False}
        assert js(path, "codes", "suspended", "acme")["suspended"] == []
        status, text, _ = run(path, "audit", "acme", "--action", "code.restore")
        assert status == 0
        assert "code **** suspended since" in text
        status, _, err = run(path, "codes", "restore", "acme", "12ab")
        assert status != 0
        assert "ASCII digits" in err

    def test_a_codes_hours_are_set_listed_exported_and_cleared(self, path: Path) -> None:
        """codes add --hours, codes list, the CSV export, and codes edit --hours ''."""
        js(path, "group", "set", "acme", "--mode", "authorization")
        js(path, "codes", "add", "acme", "1234", "--hours", "Mon-Fri 08:00-18:00")
        (listed,) = js(path, "codes", "list", "acme")["codes"]
        assert listed["hours"] == "mon-fri 08:00-18:00"
        status, text, _ = run(path, "codes", "list", "acme")
        assert status == 0
        assert text.splitlines()[0].split()[-1] == "HOURS"
        status, out, _ = run(path, "codes", "export", "acme")
        assert status == 0
        assert out.splitlines()[0].endswith(",max_uses,hours")
        assert out.splitlines()[1].endswith(",mon-fri 08:00-18:00")
        js(path, "codes", "edit", "acme", "1234", "--hours", "")
        assert js(path, "codes", "list", "acme")["codes"][0]["hours"] is None
        status, _, err = run(path, "codes", "edit", "acme", "1234", "--hours", "always")
        assert status != 0
        assert "hours" in err

    def test_limit_window_bounds(self, path: Path) -> None:
        """The window is more than 0 and at most 366 days."""
        js(path, "group", "set", "acme")
        for bad in ("0", "nan", str(367 * 86400)):
            status, _, _ = run(path, "group", "set", "acme", "--limit-window", bad)
            assert status != 0
        js(
            path,
            "group",
            "set",
            "acme",
            "--limit-window",
            str(int(timedelta(days=1).total_seconds())),
        )
        assert js(path, "group", "show", "acme")["settings"]["limits"]["window_seconds"] == 86400
