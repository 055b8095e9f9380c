"""A group administrator with only a token does every workflow of the seed over HTTP.

Set the mode, code length and the local and toll-free exemption; fill the user directory and
move users between Available, Mandatory and Optional with the search; add codes, edit their
descriptions in bulk, delete a selection, import and export CSV. Each effect is checked in the
store itself, opened read-only beside the running server.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from real_server import Server, Tenants, seed_tenants

import callcodes as cc
from callcodes.store import PolicyStore
from callcodes.store.directory import UserDirectory

GROUP = "/api/v1/groups/p1-acme"
DIRECTORY = b"""group,user_id,first_name,last_name,department,phone_number,extension
p1-acme,alice,Alice,Smith,Sales,+12125550101,101
p1-acme,bob,Bob,Smithers,Support,+12125550102,102
p1-acme,carol,Carol,Jones,Sales,+12125550103,103
p1-acme,dave,Dave,Osmith,Engineering,,104
p1-acme,erin,Erin,Brown,Sales,+12125550105,105
"""


@pytest.fixture(scope="module")
def admin(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, str], Path]]:
    """A server, the headers of p1-acme's group administrator, and the store's path."""
    db = tmp_path_factory.mktemp("workflow") / "store.db"
    tenants: Tenants = seed_tenants(db)
    with Server(db) as server:
        yield server, server.headers(tenants.tokens["group1"]), db


def stored(db: Path) -> PolicyStore:
    """The store, opened read-only: what the server wrote."""
    return PolicyStore(db, read_only=True)


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of a response that has *status*."""
    assert response.status_code == status, response.text
    return response.json()


class TestWorkflow:
    """The seed's workflows, in the order an administrator follows them (tests share a store)."""

    def test_settings(self, admin: tuple[Server, dict[str, str], Path]) -> None:
        """Mode, attempts and the local/toll-free exemption change; the rest stays."""
        server, headers, db = admin
        body = ok(
            server.client.put(
                GROUP,
                json={"allow_local_and_toll_free": True, "max_attempts": 3},
                headers=headers,
            )
        )
        assert body["changed"] == ["allow_local_and_toll_free", "max_attempts"]
        with stored(db) as store:
            settings = store.group("p1-acme")
        assert settings.allow_local_and_toll_free
        assert settings.max_attempts == 3
        assert settings.mode is cc.Mode.AUTHORIZATION
        assert settings.code_length == 4

    def test_account_to_authorization_needs_confirmation(
        self, admin: tuple[Server, dict[str, str], Path]
    ) -> None:
        """Account codes become authorization codes only with confirm (they were in clear)."""
        server, headers, db = admin
        ok(server.client.put(GROUP, json={"mode": "account"}, headers=headers))
        refused = server.client.put(GROUP, json={"mode": "authorization"}, headers=headers)
        assert refused.status_code == 409
        assert "recorded in clear" in refused.json()["detail"]
        with stored(db) as store:
            assert store.group("p1-acme").mode is cc.Mode.ACCOUNT
        ok(
            server.client.put(
                GROUP + "?confirm=true", json={"mode": "authorization"}, headers=headers
            )
        )
        with stored(db) as store:
            assert store.group("p1-acme").mode is cc.Mode.AUTHORIZATION

    def test_code_length_with_codes_in_the_way(
        self, admin: tuple[Server, dict[str, str], Path]
    ) -> None:
        """Changing the code length while codes of the old length exist is a conflict."""
        server, headers, _db = admin
        refused = server.client.put(GROUP, json={"code_length": 6}, headers=headers)
        assert refused.status_code == 409
        assert "code(s)" in refused.json()["detail"]

    def test_directory_and_available_users(
        self, admin: tuple[Server, dict[str, str], Path]
    ) -> None:
        """The directory is imported as CSV; the available users are searched page by page."""
        server, headers, db = admin
        put = server.client.put(
            GROUP + "/directory", content=DIRECTORY, headers={**headers, "Content-Type": "text/csv"}
        )
        assert ok(put) == {"group": "p1-acme", "users": 5}
        with stored(db) as store:
            assert len(UserDirectory(store).users("p1-acme")) == 5
        listed = ok(server.client.get(GROUP + "/directory", headers=headers))["users"]
        assert [u["user_id"] for u in listed] == ["alice", "bob", "carol", "dave", "erin"]
        assert listed[3]["phone_number"] is None
        # alice is mandatory (seeded): the others are available, by last name.
        page = ok(server.client.get(GROUP + "/users/available", headers=headers))
        assert [u["user_id"] for u in page["users"]] == ["erin", "carol", "dave", "bob"]
        query = {"department": "sales", "match": "equal", "limit": 1}
        first = ok(server.client.get(GROUP + "/users/available", params=query, headers=headers))
        assert [u["user_id"] for u in first["users"]] == ["erin"]
        second = ok(
            server.client.get(
                GROUP + "/users/available",
                params={**query, "after": first["next"]},
                headers=headers,
            )
        )
        assert [u["user_id"] for u in second["users"]] == ["carol"]
        assert second["next"] is None
        contains = {"last_name": "smith", "match": "contains"}
        found = ok(server.client.get(GROUP + "/users/available", params=contains, headers=headers))
        assert [u["user_id"] for u in found["users"]] == ["dave", "bob"]

    def test_move_users_between_the_lists(self, admin: tuple[Server, dict[str, str], Path]) -> None:
        """Both lists change in one request and one audit record; "all" and "none" work."""
        server, headers, db = admin
        body = ok(
            server.client.put(
                GROUP + "/users",
                json={"mandatory": "all", "optional": ["bob", "carol"]},
                headers=headers,
            )
        )
        assert body == {
            "group": "p1-acme",
            "mandatory": ["alice", "dave", "erin"],
            "optional": ["bob", "carol"],
        }
        with stored(db) as store:
            before = len(store.audit("p1-acme"))
        ok(
            server.client.put(
                GROUP + "/users",
                json={"optional": ["dave"], "mandatory": ["alice"]},
                headers=headers,
            )
        )
        with stored(db) as store:
            settings = store.group("p1-acme")
            records = store.audit("p1-acme")
        assert settings.mandatory_users == {"alice"}
        assert settings.optional_users == {"dave"}
        assert len(records) == before + 1
        assert records[-1].actor == "group1"
        assert ok(server.client.get(GROUP + "/users", headers=headers)) == {
            "group": "p1-acme",
            "mandatory": ["alice"],
            "optional": ["dave"],
        }
        refused = server.client.put(GROUP + "/users", json={"mandatory": ["zoe"]}, headers=headers)
        assert refused.status_code in (409, 422)

    def test_codes(self, admin: tuple[Server, dict[str, str], Path]) -> None:
        """Add codes, list by prefix and page, bulk edit, delete a selection."""
        server, headers, db = admin
        added = server.client.post(
            GROUP + "/codes",
            json={
                "codes": [
                    {"code": "0043", "description": "Support"},
                    {"code": "0044", "description": "Support"},
                    {
                        "code": "7001",
                        "description": "Contractor",
                        "valid_until": "2027-01-01T00:00:00Z",
                        "max_uses": 20,
                    },
                    "2001",
                ]
            },
            headers=headers,
        )
        assert ok(added, 201)["added"] == 4
        with stored(db) as store:
            assert store.get("p1-acme", "7001") is not None
            assert store.get("p1-acme", "7001").max_uses == 20  # type: ignore[union-attr]
            assert store.count("p1-acme") == 6
        page = ok(server.client.get(GROUP + "/codes", params={"prefix": "00"}, headers=headers))
        assert [c["code"] for c in page["codes"]] == ["0042", "0043", "0044"]
        first = ok(server.client.get(GROUP + "/codes", params={"limit": 4}, headers=headers))
        assert first["next"] == "1234"
        rest = ok(
            server.client.get(GROUP + "/codes", params={"after": first["next"]}, headers=headers)
        )
        assert [c["code"] for c in rest["codes"]] == ["2001", "7001"]
        assert rest["next"] is None
        edited = server.client.patch(
            GROUP + "/codes",
            json={"descriptions": {"0043": "Support EMEA", "0044": "Support EMEA", "2001": None}},
            headers=headers,
        )
        assert ok(edited)["edited"] == 3
        limits = server.client.patch(
            GROUP + "/codes",
            json={"codes": ["7001"], "set": {"max_uses": None, "level": 2}},
            headers=headers,
        )
        assert ok(limits)["codes"] == ["7001"]
        with stored(db) as store:
            assert store.get("p1-acme", "0043").description == "Support EMEA"  # type: ignore[union-attr]
            assert store.get("p1-acme", "2001").description is None  # type: ignore[union-attr]
            assert store.get("p1-acme", "7001").max_uses is None  # type: ignore[union-attr]
            assert store.get("p1-acme", "7001").level == 2  # type: ignore[union-attr]
        deleted = server.client.post(
            GROUP + "/codes/delete", json={"codes": ["0043", "0044"]}, headers=headers
        )
        assert ok(deleted) == {"group": "p1-acme", "deleted": 2, "codes": ["0043", "0044"]}
        with stored(db) as store:
            assert [e.code for e in store.iter_codes("p1-acme")] == ["0042", "1234", "2001", "7001"]
        assert store_actor(db) == "group1"

    def test_delete_by_prefix_needs_confirmation(
        self, admin: tuple[Server, dict[str, str], Path]
    ) -> None:
        """Deleting every code with a prefix says how many, and waits for confirm."""
        server, headers, _db = admin
        refused = server.client.post(GROUP + "/codes/delete", json={"prefix": "7"}, headers=headers)
        assert refused.status_code == 409
        assert "(1 code(s))" in refused.json()["detail"]
        done = server.client.post(
            GROUP + "/codes/delete", json={"prefix": "7", "confirm": True}, headers=headers
        )
        assert ok(done)["codes"] == ["7001"]

    def test_import_and_export(self, admin: tuple[Server, dict[str, str], Path]) -> None:
        """A CSV list is imported all at once and exported spreadsheet-safe."""
        server, headers, db = admin
        csv_body = b"code,description\r\n3001,=cmd()\r\n3002,Marketing\r\n"
        imported = server.client.post(
            GROUP + "/codes/import",
            content=csv_body,
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert ok(imported) == {"group": "p1-acme", "imported": 2, "replaced": False}
        with stored(db) as store:
            assert store.get("p1-acme", "3001").description == "=cmd()"  # type: ignore[union-attr]
        exported = server.client.get(
            GROUP + "/codes/export", params={"prefix": "3"}, headers=headers
        )
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert exported.text.startswith("\ufeff")
        rows = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff"))))
        assert rows == [["code", "description"], ["3001", "'=cmd()"], ["3002", "Marketing"]]
        # A replacement that removes most codes waits for confirm.
        replace = server.client.post(
            GROUP + "/codes/import?replace=true",
            content=b"code,description\n9001,Only\n",
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert replace.status_code == 409
        with stored(db) as store:
            assert store.get("p1-acme", "9001") is None

    def test_group_admin_cannot_remove_the_group(
        self, admin: tuple[Server, dict[str, str], Path]
    ) -> None:
        """Removing a group is for its provider or the operator, and needs confirm."""
        server, headers, db = admin
        refused = server.client.delete(GROUP + "?confirm=true", headers=headers)
        assert refused.status_code == 403
        with stored(db) as store:
            assert "p1-acme" in store


def store_actor(db: Path) -> str:
    """The actor of the store's latest audit record of p1-acme."""
    with stored(db) as store:
        return store.audit("p1-acme")[-1].actor


class TestProviderAdministrator:
    """A provider's administrator creates and removes the provider's groups."""

    def test_create_and_remove(
        self, admin: tuple[Server, dict[str, str], Path], tmp_path: Path
    ) -> None:
        """A group created by a provider administrator belongs to the provider."""
        server, _headers, db = admin
        with PolicyStore(db) as store:
            from callcodes.store.accounts import Accounts

            token = Accounts(store).issue_token("provider1", actor="test")[1]
        headers = server.headers(token)
        created = server.client.put(
            "/api/v1/groups/p1-new", json={"mode": "account", "code_length": 6}, headers=headers
        )
        body = ok(created)
        assert body["created"] is True
        assert body["provider"] == "P1"
        with stored(db) as store:
            assert store.provider("p1-new") == "P1"
            assert store.group("p1-new").code_length == 6
        moved = server.client.put("/api/v1/groups/p1-new", json={"provider": "P2"}, headers=headers)
        assert moved.status_code == 403
        refused = server.client.delete("/api/v1/groups/p1-new", headers=headers)
        assert refused.status_code == 409
        removed = server.client.delete("/api/v1/groups/p1-new?confirm=true", headers=headers)
        assert ok(removed) == {"group": "p1-new", "removed": True, "codes_deleted": 0}
        with stored(db) as store:
            assert "p1-new" not in store
