"""A group's locks, events, reports and audit over HTTP: as the library reads them, per tenant."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from test_api_decide import DECIDE, bearer, make_policy

import callcodes as cc
from callcodes.events.reports import export_csv, query_events, report_events
from callcodes.service import ServiceConfig, create_app
from callcodes.store import PolicyStore

GROUP = "/api/v1/groups/acme"
CALLS = [
    {"group": "acme", "user": "1001", "dialed": "*711234913125550123", "call_id": "a"},
    {"group": "acme", "user": "1001", "dialed": "913125550123", "call_id": "b"},
    {"group": "acme", "user": "1002", "dialed": "913125550123", "call_id": "c"},
    {"group": "acme", "user": "1003", "dialed": "*710000913125550123", "call_id": "d"},
    {"group": "acme", "user": "1001", "dialed": "911", "call_id": "e"},
    {"group": "globex", "user": "2001", "dialed": "13125550123", "code": "5555"},
    {"group": "globex", "user": "2001", "dialed": "13125550123", "code": "5555"},
]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient[Any], dict[str, str], Path]]:
    db = tmp_path / "policy.db"
    tokens = make_policy(db)
    with TestClient(create_app(ServiceConfig(db))) as client:
        for body in CALLS:
            response = client.post(DECIDE, json=body, headers=bearer(tokens["softswitch"]))
            assert response.status_code == 200
        yield client, tokens, db


Setup = tuple[TestClient[Any], dict[str, str], Path]


class TestLocks:
    def test_listed_and_lifted_by_the_group_admin_who_is_audited(self, setup: Setup) -> None:
        client, tokens, db = setup
        since = datetime.now(UTC) - timedelta(minutes=1)
        with PolicyStore(db) as store:
            store.lock(cc.Lock("acme", "1001", since), actor="test")
            store.lock(cc.Lock("acme", None, since, since + timedelta(days=1)), actor="test")
        admin = bearer(tokens["acme-admin"])
        listed = client.get(f"{GROUP}/locks", headers=admin).json()
        assert [(lock["user"], lock["until"] is None) for lock in listed["locks"]] == [
            (None, False),
            ("1001", True),
        ]
        response = client.delete(f"{GROUP}/locks", params={"user": "1001"}, headers=admin)
        assert response.status_code == 200
        assert response.json() == {"group": "acme", "user": "1001", "unlocked": True}
        again = client.delete(f"{GROUP}/locks", params={"user": "1001"}, headers=admin)
        assert again.json()["unlocked"] is False
        assert client.delete(f"{GROUP}/locks", headers=admin).json()["unlocked"] is True
        assert client.get(f"{GROUP}/locks", headers=admin).json()["locks"] == []
        with PolicyStore(db, read_only=True) as store:
            unlocks = store.audit("acme", action="unlock")
            assert store.locks("acme") == []
        assert [(r.actor, r.detail.get("user")) for r in unlocks] == [
            ("acme-admin", "1001"),
            ("acme-admin", None),
        ]
        # The lift reaches this server's decisions at once, and is in the event log.
        body = {"group": "acme", "user": "1001", "dialed": "*711234913125550123"}
        decided = client.post(DECIDE, json=body, headers=bearer(tokens["softswitch"]))
        assert decided.json()["reason"] == "authorized"
        lifted = [e for e in cc.read_events(db) if e.description and "unlocked" in e.description]
        assert [e.description for e in lifted] == [
            "user unlocked by acme-admin",
            "group unlocked by acme-admin",
        ]

    def test_a_bad_user_is_a_problem(self, setup: Setup) -> None:
        client, tokens, _ = setup
        response = client.delete(
            f"{GROUP}/locks", params={"user": " 1001"}, headers=bearer(tokens["operator"])
        )
        assert response.status_code == 422
        assert response.json()["field"] == "user"


class TestEvents:
    def test_paged_with_a_cursor_as_the_library_reads_them(self, setup: Setup) -> None:
        client, tokens, db = setup
        seen: list[dict[str, Any]] = []
        after = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2}
            if after is not None:
                params["after"] = after
            page = client.get(f"{GROUP}/events", params=params, headers=bearer(tokens["operator"]))
            assert page.status_code == 200
            seen += page.json()["events"]
            pages += 1
            after = page.json()["next"]
            if after is None:
                break
        assert pages == 3
        whole = query_events(db, "acme", limit=None)
        assert seen == [event.to_dict() for event in whole.events]
        assert [e["call_id"] for e in seen] == ["a", "b", "c", "d", "e"]
        # The authorization code is masked, as the CLI shows it.
        assert (seen[0]["code"], seen[0]["masked"]) == (None, "****")

    def test_filtered(self, setup: Setup) -> None:
        client, tokens, _ = setup
        params = {"user": "1001", "verdict": "allow", "since": "2000-01-01", "until": "2999-01-01"}
        page = client.get(f"{GROUP}/events", params=params, headers=bearer(tokens["north-admin"]))
        assert [e["call_id"] for e in page.json()["events"]] == ["a", "e"]
        page = client.get(
            f"{GROUP}/events", params={"reason": "invalid code"}, headers=bearer(tokens["operator"])
        )
        assert [e["call_id"] for e in page.json()["events"]] == ["d"]

    def test_account_codes_are_shown_and_filtered(self, setup: Setup) -> None:
        client, tokens, _ = setup
        page = client.get(
            "/api/v1/groups/globex/events",
            params={"code": "5555"},
            headers=bearer(tokens["south-admin"]),
        )
        assert [e["code"] for e in page.json()["events"]] == ["5555", "5555"]

    @pytest.mark.parametrize(
        ("params", "status", "field"),
        [
            ({"since": "yesterday"}, 422, "since"),
            ({"until": "2026-13-01"}, 422, "until"),
            ({"limit": 0}, 400, "limit"),
            ({"limit": 1001}, 400, "limit"),
            ({"limit": "many"}, 400, "limit"),
            ({"verdict": "maybe"}, 422, "verdict"),
            ({"reason": "bored"}, 422, "reason"),
            ({"after": "page-2"}, 422, "after"),
            ({"user": "u" * 200}, 400, "user"),
        ],
    )
    def test_bad_parameters_are_problems_saying_what_to_fix(
        self, setup: Setup, params: dict[str, Any], status: int, field: str
    ) -> None:
        client, tokens, _ = setup
        response = client.get(f"{GROUP}/events", params=params, headers=bearer(tokens["operator"]))
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text


class TestReports:
    @pytest.mark.parametrize("by", ["code", "user", "day"])
    def test_json_matches_the_library(self, setup: Setup, by: str) -> None:
        client, tokens, db = setup
        response = client.get(
            "/api/v1/groups/globex/reports", params={"by": by}, headers=bearer(tokens["operator"])
        )
        assert response.status_code == 200
        rows = report_events(db, "globex", by)  # type: ignore[arg-type]
        got = response.json()["rows"]
        assert [(r["key"], r["events"], r["calls"], r["log_only"]) for r in got] == [
            (r.key, r.events, r.calls, r.log_only) for r in rows
        ]
        assert response.json()["by"] == by

    @pytest.mark.parametrize("how", ["format", "accept"])
    def test_csv_matches_the_export(self, setup: Setup, how: str) -> None:
        client, tokens, db = setup
        headers = bearer(tokens["acme-admin"])
        params = {"by": "user"}
        if how == "format":
            params["format"] = "csv"
        else:
            headers["Accept"] = "text/csv"
        response = client.get(f"{GROUP}/reports", params=params, headers=headers)
        assert response.headers["content-type"].startswith("text/csv")
        expected = io.StringIO(newline="")
        export_csv(report_events(db, "acme", "user"), expected, kind="report")
        assert response.text == expected.getvalue()
        assert [row[0] for row in csv.reader(io.StringIO(response.text))] == [
            "key",
            "1001",
            "1002",
            "1003",
        ]

    def test_a_bad_key_or_date_is_a_problem(self, setup: Setup) -> None:
        client, tokens, _ = setup
        headers = bearer(tokens["operator"])
        assert (
            client.get(f"{GROUP}/reports", params={"by": "month"}, headers=headers).status_code
            == 400
        )
        assert client.get(f"{GROUP}/reports", headers=headers).status_code == 400
        response = client.get(
            f"{GROUP}/reports", params={"by": "day", "since": "01/02/2026"}, headers=headers
        )
        assert response.status_code == 422
        assert "ISO 8601" in response.json()["detail"]


class TestAudit:
    def test_paged_with_a_cursor(self, setup: Setup) -> None:
        client, tokens, db = setup
        with PolicyStore(db) as store:
            for code in ("1111", "2222", "3333"):
                store.add_codes("acme", [code], actor="someone")
            whole = store.audit("acme")
        seen: list[dict[str, Any]] = []
        after = 0
        while True:
            page = client.get(
                f"{GROUP}/audit",
                params={"after": after, "limit": 2},
                headers=bearer(tokens["acme-admin"]),
            ).json()
            seen += page["records"]
            if page["next"] is None:
                break
            after = int(page["next"])
        assert seen == [record.to_dict() for record in whole]
        assert all(r["group"] == "acme" for r in seen)

    def test_filtered_by_action_and_code(self, setup: Setup) -> None:
        client, tokens, db = setup
        with PolicyStore(db) as store:
            store.add_codes("acme", ["1111"], actor="someone")
            store.add_codes("acme", ["2222"], actor="someone")
        headers = bearer(tokens["operator"])
        page = client.get(f"{GROUP}/audit", params={"code": "2222"}, headers=headers).json()
        assert [(r["action"], r["detail"]["codes"][0]["code"]) for r in page["records"]] == [
            ("codes.add", "****")
        ]
        page = client.get(f"{GROUP}/audit", params={"action": "dialplan.update"}, headers=headers)
        assert [r["action"] for r in page.json()["records"]] == ["dialplan.update"]
        response = client.get(f"{GROUP}/audit", params={"action": "nap"}, headers=headers)
        assert response.status_code == 422
        assert (
            client.get(f"{GROUP}/audit", params={"after": -1}, headers=headers).status_code == 400
        )


ROUTES = [
    ("get", "locks"),
    ("delete", "locks"),
    ("get", "events"),
    ("get", "reports?by=day"),
    ("get", "audit"),
]


class TestTenancy:
    @pytest.mark.parametrize(("method", "route"), ROUTES)
    @pytest.mark.parametrize(
        ("name", "group"),
        [("acme-admin", "globex"), ("north-admin", "globex"), ("south-admin", "acme")],
    )
    def test_another_tenants_group_is_as_missing_as_a_missing_one(
        self, setup: Setup, method: str, route: str, name: str, group: str
    ) -> None:
        client, tokens, db = setup
        headers = bearer(tokens[name])
        other = client.request(method, f"/api/v1/groups/{group}/{route}", headers=headers)
        missing = client.request(method, f"/api/v1/groups/missing/{route}", headers=headers)
        assert other.status_code == missing.status_code == 404
        assert other.json()["detail"].replace(group, "missing") == missing.json()["detail"]
        with PolicyStore(db, read_only=True) as store:
            assert store.audit(action="unlock") == []

    @pytest.mark.parametrize(("method", "route"), ROUTES)
    def test_a_softswitch_may_not_read_records(self, setup: Setup, method: str, route: str) -> None:
        client, tokens, _ = setup
        response = client.request(method, f"{GROUP}/{route}", headers=bearer(tokens["softswitch"]))
        assert response.status_code == 403

    @pytest.mark.parametrize(("method", "route"), ROUTES)
    def test_a_provider_admin_reaches_the_groups_of_the_provider(
        self, setup: Setup, method: str, route: str
    ) -> None:
        client, tokens, _ = setup
        response = client.request(method, f"{GROUP}/{route}", headers=bearer(tokens["north-admin"]))
        assert response.status_code == 200
