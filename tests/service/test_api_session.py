"""Sessions over HTTP: login throttling, token revocation, a password change ending sessions.

Real ``callcodes serve`` processes on seeded stores; accounts and tokens are changed through
``Accounts`` on the store's file while the server runs, as ``callcodes accounts`` would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from real_server import PASSWORD, Server, Tenants, seed_tenants

from callcodes.store import PolicyStore
from callcodes.store.accounts import Accounts, LoginPolicy

LOGIN = "/api/v1/login"
ME = "/api/v1/account"
POLICY = LoginPolicy()


def _serve(db: Path) -> Iterator[tuple[Server, Tenants, Path]]:
    tenants = seed_tenants(db)
    with Server(db) as server:
        yield server, tenants, db


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Tenants, Path]]:
    """A server shared by the tests that fail no login."""
    yield from _serve(tmp_path_factory.mktemp("session") / "store.db")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Server, Tenants, Path]]:
    """A server of its own: failed logins lock names and the source for later tests."""
    yield from _serve(tmp_path / "store.db")


def login(server: Server, name: str, password: str) -> tuple[int, dict[str, object]]:
    """The status and body of a login."""
    response = server.client.post(LOGIN, json={"username": name, "password": password})
    if response.status_code != 200:
        assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code, response.json()


class TestLogin:
    """Logging in and out."""

    def test_login_gives_a_session_that_logout_ends(
        self, world: tuple[Server, Tenants, Path]
    ) -> None:
        """A right password opens a session (a bearer token); logout ends it (then 401)."""
        server, _tenants, _db = world
        status, body = login(server, "group1", PASSWORD)
        assert status == 200
        assert body["account"] == {
            "name": "group1",
            "role": "group",
            "scope": "p1-acme",
            "created": body["account"]["created"],  # type: ignore[index]
            "has_password": True,
        }
        token = str(body["token"])
        assert body["expires"]
        assert server.client.get(ME, headers=server.headers(token)).json()["name"] == "group1"
        assert (
            server.client.post("/api/v1/logout", headers=server.headers(token)).status_code == 204
        )
        assert server.client.get(ME, headers=server.headers(token)).status_code == 401

    def test_throttled_per_name(self, fresh: tuple[Server, Tenants, Path]) -> None:
        """After max_failures wrong passwords, even the right one is refused for that name."""
        server, _tenants, _db = fresh
        for _ in range(POLICY.max_failures):
            assert login(server, "provider1", "wrong password!")[0] == 401
        status, body = login(server, "provider1", PASSWORD)
        assert status == 401
        assert body["status"] == 401
        assert login(server, "group1", PASSWORD)[0] == 200  # another name is not locked

    def test_throttled_per_source(self, fresh: tuple[Server, Tenants, Path]) -> None:
        """After max_source_failures from one address, every name is refused from it."""
        server, _tenants, _db = fresh
        for n in range(POLICY.max_source_failures):
            assert login(server, f"nobody{n % 4}", "wrong password!")[0] == 401
        assert login(server, "group1", PASSWORD)[0] == 401


class TestTokens:
    """Tokens end when revoked, sessions when the password changes."""

    def test_revoked_token_is_refused_on_its_next_request(
        self, world: tuple[Server, Tenants, Path]
    ) -> None:
        """An API token revoked (as callcodes accounts token --revoke does) is refused.

        A node trusts a token it accepted for its refresh interval (100 ms), so the refusal
        comes within that time: the test asks until it comes, with a generous upper bound.
        """
        server, _tenants, db = world
        with PolicyStore(db) as store:
            info, token = Accounts(store).issue_token("group2", actor="test")
        headers = server.headers(token)
        assert server.client.get("/api/v1/groups/p2-acme", headers=headers).status_code == 200
        with PolicyStore(db) as store:
            Accounts(store).revoke_token(info.id, actor="test")
        deadline = time.monotonic() + 30
        response = server.client.get("/api/v1/groups/p2-acme", headers=headers)
        while response.status_code == 200 and time.monotonic() < deadline:
            response = server.client.get("/api/v1/groups/p2-acme", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_password_change_ends_sessions(self, world: tuple[Server, Tenants, Path]) -> None:
        """Changing the password ends the sessions opened before; the new password works."""
        server, tenants, _db = world
        first = str(login(server, "provider1", PASSWORD)[1]["token"])
        second = str(login(server, "provider1", PASSWORD)[1]["token"])
        new = "a much better passphrase"
        wrong = server.client.put(
            "/api/v1/account/password",
            json={"current": "not the password", "new": new},
            headers=server.headers(first),
        )
        assert wrong.status_code == 403
        changed = server.client.put(
            "/api/v1/account/password",
            json={"current": PASSWORD, "new": new},
            headers=server.headers(first),
        )
        assert changed.status_code == 200, changed.text
        for token in (first, second):
            assert server.client.get(ME, headers=server.headers(token)).status_code == 401
        assert login(server, "provider1", PASSWORD)[0] == 401
        assert login(server, "provider1", new)[0] == 200
        # An API token is not a session: it stays valid.
        api = server.headers(tenants.tokens["provider1"])
        assert server.client.get(ME, headers=api).status_code == 200
