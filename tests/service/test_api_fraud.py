"""The settings against stolen codes and forwarding, over HTTP: read, changed, refused, decided.

A group administrator sets allowed hours, a time zone, use limits and the redirect setting with
``PUT /api/v1/groups/{group}``; each change reaches the store (opened read-only beside the
running server) and its audit trail; bad values change nothing; ``/decide`` on a forwarded leg
follows the redirect setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from real_server import Server, Tenants, seed_tenants

import callcodes as cc
from callcodes.store import PolicyStore

GROUP = "/api/v1/groups/p1-acme"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Tenants, Path]]:
    """A server over the seeded tenants, and the store's path."""
    db = tmp_path_factory.mktemp("fraud") / "store.db"
    tenants = seed_tenants(db)
    with Server(db) as server:
        yield server, tenants, db


@pytest.fixture
def admin(seeded: tuple[Server, Tenants, Path]) -> tuple[Server, dict[str, str], Path]:
    """The server, the headers of p1-acme's group administrator, and the store's path."""
    server, tenants, db = seeded
    return server, server.headers(tenants.tokens["group1"]), db


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_settings_are_read_changed_and_audited(
    admin: tuple[Server, dict[str, str], Path],
) -> None:
    """Each new field is shown, changed alone (the others stay), and reaches the store."""
    server, headers, db = admin
    shown = ok(server.client.get(GROUP, headers=headers))["settings"]
    assert shown["hours"] == {}
    assert shown["time_zone"] == "UTC"
    assert shown["limits"] == {"window_seconds": 3600, "suspend": False}
    assert shown["redirect"] == "block"
    body = {
        "hours": {"international": "mon-fri 08:00-18:00"},
        "time_zone": "Europe/Paris",
        "limits": {"costly_per_code": 5, "users_per_code": 3, "suspend": True},
        "redirect": "exempt_only",
    }
    changed = ok(server.client.put(GROUP, json=body, headers=headers))
    assert set(changed["changed"]) == {"hours", "time_zone", "limits", "redirect"}
    assert changed["settings"]["limits"] == {
        "window_seconds": 3600,
        "costly_per_code": 5,
        "users_per_code": 3,
        "suspend": True,
    }
    # A limit set to null is turned off; the others stay.
    again = ok(server.client.put(GROUP, json={"limits": {"users_per_code": None}}, headers=headers))
    assert again["settings"]["limits"] == {
        "window_seconds": 3600,
        "costly_per_code": 5,
        "suspend": True,
    }
    with PolicyStore(db, read_only=True) as store:
        settings = store.group("p1-acme")
        assert str(settings.hours[cc.CallType.INTERNATIONAL]) == "mon-fri 08:00-18:00"
        assert getattr(settings.time_zone, "key", None) == "Europe/Paris"
        assert settings.limits == cc.Limits(costly_per_code=5, suspend=True)
        assert settings.redirect is cc.Redirect.EXEMPT_ONLY
        changes = store.audit("p1-acme", action="group.update")
        assert "limits" in changes[-1].detail["changed"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"time_zone": "Mars/Olympus"}, "settings.time_zone"),
        ({"hours": {"international": "always"}}, "settings.hours[international]"),
        ({"hours": {"emergency": "mon 08:00-09:00"}}, "settings.hours"),
        ({"limits": {"calls_per_code": 0}}, "settings.limits.calls_per_code"),
        ({"limits": {"window_seconds": 0}}, "settings.limits.window_seconds"),
        ({"limits": {"suspend": "yes"}}, "settings.limits.suspend"),
        ({"redirect": "sometimes"}, "settings.redirect"),
    ],
)
def test_bad_values_change_nothing(
    admin: tuple[Server, dict[str, str], Path], body: dict[str, Any], where: str
) -> None:
    """A bad value is a 422 problem naming the field; the group is left as it was."""
    server, headers, _ = admin
    before = ok(server.client.get(GROUP, headers=headers))
    response = server.client.put(GROUP, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == where
    assert ok(server.client.get(GROUP, headers=headers)) == before


def test_a_reached_limit_suspends_and_an_administrator_restores(
    admin: tuple[Server, dict[str, str], Path], seeded: tuple[Server, Tenants, Path]
) -> None:
    """Through /decide, the second call of a code over its limit is refused and the code
    suspended; the group's administrator sees it and restores it, audited under their name."""
    server, headers, db = admin
    body = {"limits": {"calls_per_code": 1, "suspend": True}, "hours": {}}
    ok(server.client.put(GROUP, json=body, headers=headers))
    with PolicyStore(db, read_only=True) as store:
        assert store.suspended("p1-acme") == {}
    switch = server.headers(seeded[1].tokens["softswitch"])
    call = {"group": "p1-acme", "user": "alice", "dialed": "*71123412125550123"}
    first = ok(server.client.post("/api/v1/decide", json=call, headers=switch))
    assert first["reason"] == "authorized"
    second = ok(server.client.post("/api/v1/decide", json=call, headers=switch))
    assert (second["verdict"], second["reason"]) == ("block", "code call limit reached")
    listed = ok(server.client.get(f"{GROUP}/suspended", headers=headers))
    assert [entry["code"] for entry in listed["suspended"]] == ["1234"]
    restore = f"{GROUP}/restore"
    assert ok(server.client.post(restore, json={"code": "1234"}, headers=headers)) == {
        "group": "p1-acme",
        "restored": True,
    }
    assert ok(server.client.get(f"{GROUP}/suspended", headers=headers))["suspended"] == []
    with PolicyStore(db, read_only=True) as store:
        records = store.audit("p1-acme", action="code.restore")
        assert [(r.actor, r.detail["code"]) for r in records] == [("group1", "****")]
    other = server.client.get("/api/v1/groups/p2-acme/suspended", headers=headers)
    assert other.status_code == 404


def test_a_redirected_leg_follows_the_redirect_setting(
    admin: tuple[Server, dict[str, str], Path], seeded: tuple[Server, Tenants, Path]
) -> None:
    """/decide with ``redirected``: the forwarding user's outside leg without a code gets what
    the group's ``redirect`` setting says; the same call not redirected asks for a code."""
    server, headers, _ = admin
    switch = server.headers(seeded[1].tokens["softswitch"])
    leg = {"group": "p1-acme", "user": "alice", "dialed": "12125550123", "redirected": True}
    before = ok(server.client.get(GROUP, headers=headers))["settings"]["redirect"]
    try:
        outcomes = {}
        for setting in ("block", "allow"):
            ok(server.client.put(GROUP, json={"redirect": setting}, headers=headers))
            answer = ok(server.client.post("/api/v1/decide", json=leg, headers=switch))
            outcomes[setting] = (answer["verdict"], answer["reason"], answer["retry"])
        plain = ok(
            server.client.post("/api/v1/decide", json={**leg, "redirected": False}, headers=switch)
        )
    finally:
        ok(server.client.put(GROUP, json={"redirect": before}, headers=headers))
    assert outcomes == {
        "block": ("block", "redirected call blocked", False),
        "allow": ("allow", "redirected call allowed", False),
    }
    assert (plain["verdict"], plain["reason"]) == ("block", "missing code")
    refused = server.client.post(
        "/api/v1/decide", json={**leg, "redirected": "yes"}, headers=switch
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "redirected"


def test_codes_carry_their_hours(admin: tuple[Server, dict[str, str], Path]) -> None:
    """A code's allowed hours are added, shown, changed in bulk and cleared over the API, and
    stored; bad hours are refused naming the field, and change nothing."""
    server, headers, db = admin
    codes = f"{GROUP}/codes"
    added = {"codes": [{"code": "7777", "hours": "mon-fri 08:00-18:00"}, "7778"]}
    ok(server.client.post(codes, json=added, headers=headers), 201)
    try:
        page = ok(server.client.get(codes, params={"prefix": "777"}, headers=headers))
        assert [(c["code"], c["hours"]) for c in page["codes"]] == [
            ("7777", "mon-fri 08:00-18:00"),
            ("7778", None),
        ]
        edit = {"codes": ["7777", "7778"], "set": {"hours": "sat-sun 10:00-12:00"}}
        ok(server.client.patch(codes, json=edit, headers=headers))
        with PolicyStore(db, read_only=True) as store:
            stored = {e.code: str(e.hours) for e in store.codes("p1-acme", "777", None, 10)}
        assert stored == {"7777": "sat-sun 10:00-12:00", "7778": "sat-sun 10:00-12:00"}
        bad = {"codes": ["7777"], "set": {"hours": "weekends"}}
        refused = server.client.patch(codes, json=bad, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "set.hours"
        clear = {"codes": ["7777"], "set": {"hours": None}}
        ok(server.client.patch(codes, json=clear, headers=headers))
        page = ok(server.client.get(codes, params={"prefix": "777"}, headers=headers))
        assert [c["hours"] for c in page["codes"]] == [None, "sat-sun 10:00-12:00"]
    finally:
        gone = {"codes": ["7777", "7778"]}
        ok(server.client.post(f"{codes}/delete", json=gone, headers=headers))
