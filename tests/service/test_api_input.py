"""Every write is all or nothing, and every malformed request is refused with a problem document.

A real ``callcodes serve``; the group administrator of ``p1-acme`` sends batches with bad rows
(every bad row reported, numbered from 1, nothing changed), and every route that takes a body
(enumerated from the OpenAPI document) gets an oversized body, a wrong media type, malformed
JSON, bad UTF-8 and JSON of the wrong shape: each refused with ``application/problem+json`` and
the store's file unchanged, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_server import Server, Tenants, seed_tenants, store_bytes

from callcodes.service.config import MAX_BODY

PROBLEM = "application/problem+json"
CODES = "/api/v1/groups/p1-acme/codes"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Tenants, Path]]:
    """A server on the seeded store, with the store's path."""
    db = tmp_path_factory.mktemp("input") / "store.db"
    tenants = seed_tenants(db)
    with Server(db) as server:
        yield server, tenants, db


def body_routes(server: Server) -> list[tuple[str, str, set[str]]]:
    """Every (method, path with p1-acme, media types of its body) that takes a body."""
    document = server.client.get("/api/v1/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                types = set(operation["requestBody"]["content"])
                found.append((method.upper(), path.format(group="p1-acme"), types))
    return found


def send(server: Server, token: str, method: str, path: str, body: bytes, media: str) -> Any:
    """*body* as *media* with *token*."""
    headers = {**server.headers(token), "Content-Type": media}
    return server.client.request(method, path, content=body, headers=headers)


def assert_problem(response: Any, statuses: tuple[int, ...], where: object) -> None:
    """*response* is a problem document with one of *statuses*."""
    assert response.status_code in statuses, (where, response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0] == PROBLEM, (where, response.text)
    body = response.json()
    assert body["status"] == response.status_code
    assert body["title"]
    assert body["detail"]
    assert body["type"]


# One kind of row each: good ones get fresh codes; the others are each bad for one reason.
KINDS = ["good", "short", "letters", "stored", "long_description", "bad_level", "number", "junk"]


def row(kind: str, index: int) -> Any:
    """A row of *kind*; *index* makes the good codes of one batch distinct."""
    fresh = f"5{index:03d}"
    return {
        "good": {"code": fresh, "description": "fine"},
        "short": {"code": "123"},
        "letters": "12a4",
        "stored": {"code": "1234", "description": "already there"},
        "long_description": {"code": fresh, "description": "x" * 81},
        "bad_level": {"code": fresh, "level": "high"},
        "number": {"code": 5678},
        "junk": [fresh],
    }[kind]


class TestBatches:
    """A batch with bad rows is refused whole, with every bad row, and nothing changes."""

    @settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=12))
    def test_add_reports_every_bad_row(
        self, world: tuple[Server, Tenants, Path], kinds: list[str]
    ) -> None:
        """Adding codes: the bad rows are exactly those reported (from 1); the store unchanged."""
        server, tenants, db = world
        if all(kind == "good" for kind in kinds):
            kinds = [*kinds, "short"]
        rows = [row(kind, index) for index, kind in enumerate(kinds)]
        before = store_bytes(db)
        response = send(
            server,
            tenants.tokens["group1"],
            "POST",
            CODES,
            _json({"codes": rows}),
            "application/json",
        )
        assert_problem(response, (422,), kinds)
        reported = {error["row"] for error in response.json()["errors"]}
        expected = {n for n, kind in enumerate(kinds, start=1) if kind != "good"}
        assert reported == expected
        assert store_bytes(db) == before

    def test_delete_selection_with_a_missing_code_deletes_nothing(
        self, world: tuple[Server, Tenants, Path]
    ) -> None:
        """A selection naming a code that is not on the list deletes none of them."""
        server, tenants, db = world
        before = store_bytes(db)
        response = send(
            server,
            tenants.tokens["group1"],
            "POST",
            f"{CODES}/delete",
            _json({"codes": ["1234", "9999", 42]}),
            "application/json",
        )
        assert_problem(response, (422,), "delete")
        assert store_bytes(db) == before

    def test_bulk_edit_with_a_bad_row_edits_nothing(
        self, world: tuple[Server, Tenants, Path]
    ) -> None:
        """Editing descriptions: one unknown code or bad text refuses the whole edit."""
        server, tenants, db = world
        before = store_bytes(db)
        for body in (
            {"descriptions": {"1234": "new", "9999": "nope"}},
            {"descriptions": {"1234": "new", "0042": 7}},
            {"descriptions": {"1234": "bad\u0007bell"}},
        ):
            response = send(
                server, tenants.tokens["group1"], "PATCH", CODES, _json(body), "application/json"
            )
            assert_problem(response, (422,), body)
        assert store_bytes(db) == before

    def test_csv_import_reports_rows_by_line(self, world: tuple[Server, Tenants, Path]) -> None:
        """A CSV import with bad rows names each by its line, and imports nothing."""
        server, tenants, db = world
        before = store_bytes(db)
        csv = b"code,description\n3001,Fine\n301,Too short\n1234,On the list\n3001,Twice\n"
        response = send(
            server, tenants.tokens["group1"], "POST", f"{CODES}/import", csv, "text/csv"
        )
        assert_problem(response, (422,), "import")
        assert [e["row"] for e in response.json()["errors"]] == [3, 4, 5]
        assert store_bytes(db) == before

    def test_directory_rows_of_another_group_are_refused(
        self, world: tuple[Server, Tenants, Path]
    ) -> None:
        """A directory naming another group (another tenant's) is refused whole."""
        server, tenants, db = world
        before = store_bytes(db)
        csv = (
            b"group,user_id,first_name,last_name\n"
            b"p1-acme,alice,Alice,Smith\np2-acme,mallory,Mal,Lory\n"
        )
        response = send(
            server,
            tenants.tokens["group1"],
            "PUT",
            "/api/v1/groups/p1-acme/directory",
            csv,
            "text/csv",
        )
        assert_problem(response, (422,), "directory")
        assert [e["row"] for e in response.json()["errors"]] == [3]
        assert store_bytes(db) == before


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


class TestMalformedBodies:
    """Every route with a body refuses each malformed one with a problem document."""

    def test_there_are_body_routes(self, world: tuple[Server, Tenants, Path]) -> None:
        """The OpenAPI document names the write routes (the checks below are not empty)."""
        assert len(body_routes(world[0])) >= 9

    @pytest.mark.parametrize(
        ("case", "body", "json_media", "statuses"),
        [
            ("wrong media type", b"{}", "application/xml", (415,)),
            ("no media type", b"{}", "", (415,)),
            ("malformed JSON", b'{"codes": [', "application/json", (400,)),
            ("bad UTF-8", b'{"codes": ["\xff\xfe"]}', "application/json", (400, 422)),
            ("NaN", b'{"codes": NaN}', "application/json", (400,)),
            ("not an object", b"[1, 2, 3]", "application/json", (400, 422)),
            ("unknown keys", b'{"nonsense": true}', "application/json", (400, 422)),
            ("wrong types", b'{"codes": 7, "mode": 1, "users": 1}', "application/json", (400, 422)),
            ("empty", b"", "application/json", (400, 422)),
        ],
    )
    def test_malformed_json(
        self,
        world: tuple[Server, Tenants, Path],
        case: str,
        body: bytes,
        json_media: str,
        statuses: tuple[int, ...],
    ) -> None:
        """Each malformed JSON body: refused with a problem document; nothing changes."""
        server, tenants, db = world
        for method, path, types in body_routes(server):
            if "application/json" not in types:
                continue
            before = store_bytes(db)
            response = send(server, tenants.tokens["operator"], method, path, body, json_media)
            assert_problem(response, statuses, (case, method, path))
            assert store_bytes(db) == before, (case, method, path)

    def test_bad_csv(self, world: tuple[Server, Tenants, Path]) -> None:
        """CSV bodies that are not UTF-8 or have no header are refused; nothing changes."""
        server, tenants, db = world
        for method, path, types in body_routes(server):
            if "text/csv" not in types:
                continue
            for body in (b"code,description\n\xff\xfe1,x\n", b"", b"what,ever\n1,2\n"):
                before = store_bytes(db)
                response = send(server, tenants.tokens["group1"], method, path, body, "text/csv")
                assert_problem(response, (400, 422), (method, path, body))
                assert store_bytes(db) == before

    def test_oversized_body(self, world: tuple[Server, Tenants, Path]) -> None:
        """A body over the service's limit is refused with 413 before it is read whole."""
        server, tenants, db = world
        big = b" " * (MAX_BODY + 1)
        for method, path, types in body_routes(server):
            before = store_bytes(db)
            media = sorted(types)[0]
            response = send(server, tenants.tokens["group1"], method, path, big, media)
            assert_problem(response, (413,), (method, path))
            assert store_bytes(db) == before
