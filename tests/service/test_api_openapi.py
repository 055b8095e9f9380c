"""The OpenAPI document describes the API well enough for a client.

It parses, names every route the application serves (also those added later), describes every
request body the routes read and every response, and every route documents its refusals as
``application/problem+json`` problem documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from callcodes.service import ServiceConfig, create_app
from callcodes.store import PolicyStore

PROBLEM = "application/problem+json"
#: The framework's own routes that serve the document (and its not-found answers).
OPENAPI_ROUTES = {"/api/v1", "/api/v1/openapi.json", "/api/v1/{path:str}"}
#: The management routes this document must name (method, path), besides any others.
MANAGEMENT = {
    ("post", "/api/v1/login"),
    ("post", "/api/v1/logout"),
    ("get", "/api/v1/account"),
    ("put", "/api/v1/account/password"),
    ("get", "/api/v1/groups"),
    ("get", "/api/v1/groups/{group}"),
    ("put", "/api/v1/groups/{group}"),
    ("delete", "/api/v1/groups/{group}"),
    ("get", "/api/v1/groups/{group}/codes"),
    ("post", "/api/v1/groups/{group}/codes"),
    ("patch", "/api/v1/groups/{group}/codes"),
    ("post", "/api/v1/groups/{group}/codes/delete"),
    ("post", "/api/v1/groups/{group}/codes/import"),
    ("get", "/api/v1/groups/{group}/codes/export"),
    ("get", "/api/v1/groups/{group}/users"),
    ("put", "/api/v1/groups/{group}/users"),
    ("get", "/api/v1/groups/{group}/users/available"),
    ("get", "/api/v1/groups/{group}/directory"),
    ("put", "/api/v1/groups/{group}/directory"),
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Any]]:
    """The OpenAPI document as the application serves it, and the application."""
    db: Path = tmp_path_factory.mktemp("openapi") / "store.db"
    PolicyStore(db).close()
    app = create_app(ServiceConfig(db))
    with TestClient(app) as client:
        response = client.get("/api/v1/openapi.json")
        assert response.status_code == 200
        yield response.json(), app


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of *document*."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield method, path, operation


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """*schema*, its ``$ref`` followed into the document's components."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.rsplit("/", 1)[-1]
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


class TestDocument:
    """The OpenAPI document."""

    def test_parses_and_names_every_route(self, document: tuple[dict[str, Any], Any]) -> None:
        """It is OpenAPI 3.1 JSON and names every API route the application serves.

        The portal's pages are left out of the document on purpose (``include_in_schema``):
        they are HTML for people, not an API.
        """
        doc, app = document
        assert doc["openapi"].startswith("3.1")
        named = {(m, p) for m, p, _o in operations(doc)}
        assert named >= MANAGEMENT
        served = {
            (method.lower(), route.path.replace("{group:str}", "{group}"))
            for route in app.routes
            for handler in getattr(route, "route_handlers", [])
            for method in getattr(handler, "http_methods", ())
            if method not in ("OPTIONS", "HEAD")
            and route.path not in OPENAPI_ROUTES
            and handler.resolve_include_in_schema()
        }
        assert served - named == set()

    def test_every_route_documents_its_problems(self, document: tuple[dict[str, Any], Any]) -> None:
        """Every route documents refusals as problem documents (type, title, status, detail)."""
        doc, _app = document
        for method, path, operation in operations(doc):
            problems = {
                status: response
                for status, response in operation["responses"].items()
                if PROBLEM in response.get("content", {})
            }
            assert problems, (method, path)
            for status, response in problems.items():
                schema = resolve(doc, response["content"][PROBLEM]["schema"])
                assert {"type", "title", "status", "detail"} <= set(schema["required"]), status
            if path.startswith("/api/v1/groups/{group}"):
                assert "404" in problems, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= set(problems), (method, path)

    def test_bodies_and_responses_are_described(self, document: tuple[dict[str, Any], Any]) -> None:
        """Each management route's request body and success response have a schema."""
        doc, _app = document
        for method, path, operation in operations(doc):
            if (method, path) not in MANAGEMENT:
                continue
            if method in ("put", "post", "patch") and path != "/api/v1/logout":
                content = operation["requestBody"]["content"]
                assert content, (method, path)
                for media in content.values():
                    schema = resolve(doc, media["schema"])
                    assert schema.get("type") or schema.get("properties"), (method, path)
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert success, (method, path)
            if success[0] != "204":
                content = operation["responses"][success[0]]["content"]
                assert content, (method, path)

    def test_bearer_security(self, document: tuple[dict[str, Any], Any]) -> None:
        """Bearer tokens are the security scheme; login needs none."""
        doc, _app = document
        assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert doc["paths"]["/api/v1/login"]["post"]["security"] == [{}]
