"""No tenant reaches another's data: every route of the OpenAPI document, called by every role.

A real ``callcodes serve`` on a store of two service providers' groups. Each route is taken from
``/api/v1/openapi.json`` (so routes added later are covered too), called by each role on its own
group, on another provider's group and on a group that does not exist, with a minimal body built
from the document. Another tenant's group answers exactly as a missing one does (404, the same
body), a softswitch account gets 403 everywhere but decisions, and no refused request changes a
byte of the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_server import Server, Tenants, seed_tenants, store_bytes

PROBLEM = "application/problem+json"
ROLES = ["operator", "provider1", "group1", "provider2", "group2", "softswitch"]
#: Routes open to a softswitch account, or without an account at all.
SOFTSWITCH_OK = {("POST", "/api/v1/decide"), ("POST", "/api/v1/login")}
#: Routes outside the API's accounts: health and metrics (their own tests cover them).
PUBLIC_PREFIXES = ("/healthz", "/metrics")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Tenants, Path]]:
    """A server on the seeded store, with the store's path."""
    db = tmp_path_factory.mktemp("tenancy") / "store.db"
    tenants = seed_tenants(db)
    with Server(db) as server:
        yield server, tenants, db


def operations(server: Server) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of the server's OpenAPI document."""
    document = server.client.get("/api/v1/openapi.json").json()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]


def _value(schema: dict[str, Any]) -> str:
    """A value a query parameter's schema takes: its first choice, else a number or a word."""
    for choice in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]:
        if choice.get("enum"):
            return str(choice["enum"][0])
    return "1" if schema.get("type") == "integer" else "x"


def minimal_request(operation: dict[str, Any]) -> dict[str, Any]:
    """The smallest request the operation documents: required query parameters, and a body
    of ``{}`` or a CSV header."""
    request: dict[str, Any] = {
        "params": {
            p["name"]: _value(p.get("schema", {}))
            for p in operation.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        }
    }
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        request |= {"content": b"{}", "headers": {"Content-Type": "application/json"}}
    elif "text/csv" in content:
        request |= {"content": b"code,description\n", "headers": {"Content-Type": "text/csv"}}
    return request


def call(
    server: Server, method: str, path: str, token: str, request: dict[str, Any]
) -> httpx.Response:
    """*method* on *path* with *token* and the minimal *request*."""
    headers = {**server.headers(token), **request.get("headers", {})}
    return server.client.request(
        method, path, content=request.get("content"), headers=headers, params=request["params"]
    )


def is_problem(response: httpx.Response) -> bool:
    """Whether *response* is an RFC 9457 problem document of its own status."""
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM:
        return False
    body = response.json()
    return body.get("status") == response.status_code and {"type", "title", "detail"} <= set(body)


class TestTenancy:
    """Every group route keeps each tenant to its own groups."""

    def test_the_document_has_group_routes_to_check(
        self, world: tuple[Server, Tenants, Path]
    ) -> None:
        """The OpenAPI document names the group routes this test walks (the test is not empty)."""
        paths = {path for _m, path, _o in operations(world[0])}
        assert "/api/v1/groups/{group}" in paths
        assert "/api/v1/groups/{group}/codes" in paths
        assert len([p for p in paths if "{group}" in p]) >= 8

    @pytest.mark.parametrize("role", ROLES)
    def test_another_tenants_group_is_a_missing_group(
        self, world: tuple[Server, Tenants, Path], role: str
    ) -> None:
        """Every group route: another provider's group answers as a missing one; nothing changes."""
        server, tenants, db = world
        token = tenants.tokens[role]
        checked = 0
        for method, path, operation in operations(server):
            if "{group}" not in path:
                continue
            request = minimal_request(operation)
            before = store_bytes(db)
            other_group = tenants.other[role]
            creates = method == "PUT" and path == "/api/v1/groups/{group}"
            if role in ("operator", "provider1", "provider2") and creates:
                # Operators and providers create groups with PUT: check another's group only.
                if other_group is not None:
                    target = path.format(group=other_group)
                    assert call(server, method, target, token, request).status_code == 404
                    assert store_bytes(db) == before
                continue
            missing = call(server, method, path.format(group=tenants.missing), token, request)
            expected = 403 if role == "softswitch" else 404
            assert missing.status_code == expected, (method, path, missing.text)
            assert is_problem(missing), (method, path, missing.text)
            if other_group is not None:
                other = call(server, method, path.format(group=other_group), token, request)
                assert other.status_code == expected, (method, path, other.text)
                assert other.content == missing.content, (method, path)
                assert other.headers["content-type"] == missing.headers["content-type"]
            assert store_bytes(db) == before, (method, path)
            checked += 1
        assert checked >= 8

    @pytest.mark.parametrize("role", ROLES)
    def test_own_group_is_reached(self, world: tuple[Server, Tenants, Path], role: str) -> None:
        """Every group route lets the role reach its own group (a softswitch: 403 still)."""
        server, tenants, _db = world
        token = tenants.tokens[role]
        for method, path, operation in operations(server):
            if "{group}" not in path or method not in ("GET",):
                continue  # writes on one's own group are the workflow tests' business
            request = minimal_request(operation)
            response = call(server, method, path.format(group=tenants.own[role]), token, request)
            if role == "softswitch":
                assert response.status_code == 403, (method, path, response.text)
                assert is_problem(response)
            else:
                assert response.status_code == 200, (method, path, response.text)

    @pytest.mark.parametrize("role", ROLES)
    def test_routes_without_a_group(self, world: tuple[Server, Tenants, Path], role: str) -> None:
        """A softswitch gets 403 on every API route but decisions; refusals change nothing."""
        server, tenants, db = world
        token = tenants.tokens[role]
        for method, path, operation in operations(server):
            if "{" in path or path.startswith(PUBLIC_PREFIXES) or path == "/api/v1/logout":
                continue  # logout would end nothing for an API token, but keep tokens simple
            if (method, path) == ("POST", "/api/v1/login"):
                continue  # no account: the session tests cover it (failed logins are written)
            before = store_bytes(db)
            response = call(server, method, path, token, minimal_request(operation))
            if role == "softswitch" and (method, path) not in SOFTSWITCH_OK:
                assert response.status_code == 403, (method, path, response.text)
            if response.status_code >= 400:
                assert is_problem(response), (method, path, response.text)
                assert store_bytes(db) == before, (method, path)

    @pytest.mark.parametrize("role", ROLES)
    def test_group_list_shows_only_the_tenants_groups(
        self, world: tuple[Server, Tenants, Path], role: str
    ) -> None:
        """``GET /api/v1/groups`` lists exactly the groups the role manages."""
        server, tenants, _db = world
        response = server.client.get("/api/v1/groups", headers=server.headers(tenants.tokens[role]))
        expected = {
            "operator": {"p1-acme", "p1-beta", "p2-acme"},
            "provider1": {"p1-acme", "p1-beta"},
            "group1": {"p1-acme"},
            "provider2": {"p2-acme"},
            "group2": {"p2-acme"},
        }
        if role == "softswitch":
            assert response.status_code == 403
            return
        listed = {g["group"] for g in response.json()["groups"]}
        assert listed >= expected[role]
        assert not listed & ({"p1-acme", "p1-beta", "p2-acme"} - expected[role])

    def test_no_token_and_a_bad_token_are_401(self, world: tuple[Server, Tenants, Path]) -> None:
        """Every API route but login refuses a request without a valid token, with 401."""
        server, _tenants, db = world
        before = store_bytes(db)
        for method, path, operation in operations(server):
            if path.startswith(PUBLIC_PREFIXES) or path == "/api/v1/login":
                continue
            target = path.format(group="p1-acme")
            request = minimal_request(operation)
            for headers in ({}, {"Authorization": "Bearer cc_0123456789abcdef_" + "0" * 64}):
                response = server.client.request(
                    method,
                    target,
                    content=request.get("content"),
                    headers={**headers, **request.get("headers", {})},
                    params=request["params"],
                )
                assert response.status_code == 401, (method, path, response.text)
                assert is_problem(response)
        assert store_bytes(db) == before


class TestTenancyProperty:
    """Whatever group a request names, a tenant sees its own groups and nothing of others'."""

    @settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        role=st.sampled_from(["provider1", "group1", "provider2", "group2"]),
        group=st.one_of(
            st.sampled_from(["p1-acme", "p1-beta", "p2-acme", "P1", "p1-acme2", "nowhere"]),
            # "." and ".." would be path steps, not group names
            st.text(
                alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=30
            ).filter(lambda name: name.strip(".") != ""),
        ),
    )
    def test_a_group_is_reached_only_by_its_tenants(
        self, world: tuple[Server, Tenants, Path], role: str, group: str
    ) -> None:
        """GET of a group: 200 when the role manages it, else the one 404 of a missing group."""
        server, tenants, _db = world
        headers = server.headers(tenants.tokens[role])
        response = server.client.get(f"/api/v1/groups/{group}", headers=headers)
        reference = server.client.get("/api/v1/groups/no-such-group-at-all", headers=headers)
        mine = {
            "provider1": {"p1-acme", "p1-beta"},
            "group1": {"p1-acme"},
            "provider2": {"p2-acme"},
            "group2": {"p2-acme"},
        }[role]
        if group in mine:
            assert response.status_code == 200
            assert response.json()["group"] == group
        else:
            assert response.status_code == 404
            assert response.content == reference.content
