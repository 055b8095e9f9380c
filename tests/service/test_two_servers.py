"""Two real servers on one store, and a Kamailio worker beside them: an edit reaches them all.

A code added through the first server's API is seen by the second server's decisions and by a
Kamailio router in this process (driven by ``FakeKSR``); a code deleted through the second is
refused by the first; the decisions of both are read from one event log; the user directory,
the sessions, the passwords and the login locks written through one server hold on the other.
On each backend: an SQLite file, and a PostgreSQL database (each server journaling its events
in a spool). Propagation is awaited by asking again until the answer changes, within a bound
that only ends a broken run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest
from real_server import Server
from test_api_decide import DECIDE, PLAN, make_policy

import callcodes as cc
from callcodes.integrations import kamailio as kam
from callcodes.service.node import RETRY_AWAY
from callcodes.store import open_store
from callcodes.store.accounts import Accounts, LoginPolicy, Role
from callcodes.testing import FakeKSR, Request
from pgserver import PostgresServer

#: The longest a change may take to reach every process before the test fails (a bound on a
#: broken run, not a wait: the test goes on as soon as the change is seen).
PROPAGATION_LIMIT: Final = 30.0
CALL = {"group": "acme", "user": "1001", "dialed": "*714321913125550123"}
LOGIN = "/api/v1/login"


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Ask *condition* again (every few milliseconds) until it holds; fail past the bound."""
    deadline = time.monotonic() + PROPAGATION_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {PROPAGATION_LIMIT} s")
        time.sleep(0.005)  # pacing the polls, not waiting for the change


class Kamailio:
    """A Kamailio worker's router on the same store, its own event log, a stand-in KSR."""

    def __init__(self, db: Path | str, events: Path) -> None:
        config = kam.KamailioConfig(
            store=db,
            events=events,
            gateway="sip:192.0.2.10:5060",
            dial_plan=PLAN,
            domains={"acme.example": "acme"},
            refresh_ms=0,
        )
        self.ksr = FakeKSR(Request())
        self.router = kam.Router(config, ksr=self.ksr)
        assert self.router.child_init(1) == 0

    def invite(self, dialed: str) -> int | None:
        """Send an INVITE from 1001@acme.example; the final status (0: relayed)."""
        self.ksr.receive(Request(ruri_user=dialed, from_user="1001", from_domain="acme.example"))
        assert self.router.ksr_request_route(None) == 1
        return self.ksr.status


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Server, Server, Kamailio, dict[str, str]]]:
    db: Path | str = tmp_path / "policy.db"
    options: dict[str, tuple[str, ...]] = {"s1": (), "s2": ()}
    if request.param == "postgres":
        db = request.getfixturevalue("pg_url")
        spool = str(tmp_path / "spool")
        options = {name: ("--spool", spool, "--node", name) for name in options}
    tokens = make_policy(db)
    with Server(db, *options["s1"]) as first, Server(db, *options["s2"]) as second:
        worker = Kamailio(db, tmp_path / "kamailio-events.db")
        try:
            yield first, second, worker, tokens
        finally:
            worker.router.close()


def reason(server: Server, token: str) -> str:
    response = server.client.post(DECIDE, json=CALL, headers=server.headers(token))
    assert response.status_code == 200, response.text
    reason: str = response.json()["reason"]
    return reason


def test_an_edit_through_one_server_reaches_the_other_and_kamailio(
    cluster: tuple[Server, Server, Kamailio, dict[str, str]],
) -> None:
    first, second, worker, tokens = cluster
    switch = tokens["softswitch"]
    assert reason(first, switch) == reason(second, switch) == "invalid code"
    assert worker.invite(CALL["dialed"]) == 403

    added = first.client.post(
        "/api/v1/groups/acme/codes",
        json={"codes": [{"code": "4321", "description": "New project"}]},
        headers=first.headers(tokens["acme-admin"]),
    )
    assert added.status_code == 201, added.text

    eventually(lambda: reason(second, switch) == "authorized", "the second server allowing 4321")
    assert reason(first, switch) == "authorized"  # its own edit: seen at once
    eventually(lambda: worker.invite(CALL["dialed"]) == 0, "Kamailio relaying with 4321")
    assert worker.ksr.relayed[0].ruri_user == "913125550123"

    deleted = second.client.post(
        "/api/v1/groups/acme/codes/delete",
        json={"codes": ["4321"]},
        headers=second.headers(tokens["north-admin"]),
    )
    assert deleted.status_code == 200, deleted.text
    eventually(lambda: reason(first, switch) == "invalid code", "the first server refusing 4321")
    eventually(lambda: worker.invite(CALL["dialed"]) == 403, "Kamailio refusing 4321")


def test_a_lock_lifted_through_one_server_frees_the_user_on_the_other(
    cluster: tuple[Server, Server, Kamailio, dict[str, str]],
) -> None:
    first, second, worker, tokens = cluster
    admin = tokens["acme-admin"]
    locked = first.client.get("/api/v1/groups/acme/locks", headers=first.headers(admin))
    assert locked.json()["locks"] == []
    # A lock placed by hand in the store (as `callcodes locks add` does) reaches both servers.
    with open_store(worker.router.config.store) as store:
        store.lock(cc.Lock("acme", "1001", store.now()), actor="test")
    body = {**CALL, "dialed": "*711234913125550123"}

    def decided(server: Server) -> str:
        answer = server.client.post(DECIDE, json=body, headers=server.headers(tokens["softswitch"]))
        found: str = answer.json()["reason"]
        return found

    eventually(lambda: decided(first) == decided(second) == "locked out", "both servers locking")
    lifted = second.client.delete(
        "/api/v1/groups/acme/locks", params={"user": "1001"}, headers=second.headers(admin)
    )
    assert lifted.json()["unlocked"] is True
    assert decided(second) == "authorized"
    eventually(lambda: decided(first) == "authorized", "the first server seeing the unlock")


def test_the_decisions_of_both_servers_are_in_one_log(
    cluster: tuple[Server, Server, Kamailio, dict[str, str]],
) -> None:
    """Each server records its decisions; either one reads both (shipped to one database)."""
    first, second, _worker, tokens = cluster
    for name, server in (("first", first), ("second", second)):
        body = {**CALL, "call_id": f"{name}@pbx"}
        answer = server.client.post(DECIDE, json=body, headers=server.headers(tokens["softswitch"]))
        assert answer.status_code == 200, answer.text

    def logged(server: Server) -> list[str]:
        page = server.client.get(
            "/api/v1/groups/acme/events", headers=server.headers(tokens["acme-admin"])
        )
        assert page.status_code == 200, page.text
        return sorted(event["call_id"] for event in page.json()["events"])

    for server in (first, second):
        eventually(lambda s=server: logged(s) == ["first@pbx", "second@pbx"], "both decisions")


def test_a_directory_put_through_one_server_is_read_and_enforced_by_the_other(
    cluster: tuple[Server, Server, Kamailio, dict[str, str]],
) -> None:
    """The directory and the lists are read from the shared store: no server keeps a copy."""
    first, second, _worker, tokens = cluster
    admin = tokens["acme-admin"]
    people = (("1001", "Ann"), ("1002", "Bob"), ("1003", "Cy"), ("1004", "Di"))
    users = [{"user_id": u, "first_name": name, "last_name": "Smith"} for u, name in people]
    put = first.client.put(
        "/api/v1/groups/acme/directory", json={"users": users}, headers=first.headers(admin)
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"group": "acme", "users": 4}

    listed = second.client.get("/api/v1/groups/acme/directory", headers=second.headers(admin))
    assert listed.status_code == 200, listed.text
    assert [(u["user_id"], u["first_name"]) for u in listed.json()["users"]] == list(people)
    free = second.client.get("/api/v1/groups/acme/users/available", headers=second.headers(admin))
    assert [u["user_id"] for u in free.json()["users"]] == ["1004"]  # on neither list

    # The second server holds to the directory the first one wrote.
    outside = second.client.put(
        "/api/v1/groups/acme/users",
        json={"optional": ["1002", "9999"]},
        headers=second.headers(admin),
    )
    assert outside.status_code == 409, outside.text
    assert "9999" in outside.json()["detail"]
    moved = second.client.put(
        "/api/v1/groups/acme/users",
        json={"optional": ["1002", "1004"]},
        headers=second.headers(admin),
    )
    assert moved.status_code == 200, moved.text
    lists = first.client.get("/api/v1/groups/acme/users", headers=first.headers(admin))
    assert lists.json() == {
        "group": "acme",
        "mandatory": ["1001", "1003"],
        "optional": ["1002", "1004"],
    }


def test_sessions_passwords_and_login_locks_are_shared_by_the_servers(
    cluster: tuple[Server, Server, Kamailio, dict[str, str]],
) -> None:
    """A session opened on one server works on the other; a password changed on one is the
    password of both; a logout ends the session on both; failed logins on one lock the name on
    the other. (A server trusts an accepted token again for ``refresh_ms`` without reading the
    store, so the end of a session reaches the other server within that time.)"""
    first, second, worker, _tokens = cluster
    old, new = "correct horse battery", "staple battery horse"
    with open_store(worker.router.config.store) as store:  # as `callcodes accounts add` does
        Accounts(store).add("olga", Role.GROUP, scope="acme", password=old, actor="test")

    def login(server: Server, password: str) -> tuple[int, str]:
        answer = server.client.post(LOGIN, json={"username": "olga", "password": password})
        return answer.status_code, answer.json()["token"] if answer.status_code == 200 else ""

    def me(server: Server, session: str) -> int:
        return server.client.get("/api/v1/account", headers=server.headers(session)).status_code

    status, session = login(first, old)
    assert status == 200
    answer = second.client.get("/api/v1/account", headers=second.headers(session))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["name"], answer.json()["scope"]) == ("olga", "acme")

    changed = second.client.put(
        "/api/v1/account/password",
        json={"current": old, "new": new},
        headers=second.headers(session),
    )
    assert changed.status_code == 200, changed.text
    eventually(lambda: me(first, session) == 401, "the first server ending the old session")
    assert login(first, old)[0] == 401
    status, session = login(first, new)
    assert status == 200
    assert me(second, session) == 200

    out = second.client.post("/api/v1/logout", headers=second.headers(session))
    assert out.status_code == 204, out.text
    assert me(second, session) == 401
    eventually(lambda: me(first, session) == 401, "the first server ending the logged-out session")

    for _ in range(LoginPolicy().max_failures):  # the name's limit, all on the first server
        assert login(first, "not the password")[0] == 401
    refused = second.client.post(LOGIN, json={"username": "olga", "password": new})
    assert refused.status_code == 401
    assert "too many failed logins for olga" in refused.json()["detail"]


def test_while_postgresql_is_away_decisions_go_on_and_edits_are_refused(
    postgres: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    """The server decides from the policy and the token it holds, for longer than it waits
    between two looks at the store (100 ms) and between two tries while it is away (1 s); an
    edit is answered 503 and changes nothing; once the database is back, the edit works and
    every decision is in the log."""
    tokens = make_policy(pg_url)
    switch, admin = tokens["softswitch"], tokens["acme-admin"]
    with Server(pg_url, "--spool", str(tmp_path / "spool"), "--node", "s1") as server:
        body = {**CALL, "dialed": "*711234913125550123"}
        assert reason(server, switch) == "invalid code"
        postgres.kill()
        try:
            away = []
            ends = time.monotonic() + 2.5 * RETRY_AWAY  # the span the decisions cover
            while len(away) < 3 or time.monotonic() < ends:
                away.append(f"away-{len(away)}")
                answer = server.client.post(
                    DECIDE, json={**body, "call_id": away[-1]}, headers=server.headers(switch)
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["reason"] == "authorized"
                time.sleep(0.05)  # pacing the decisions over the span, not waiting for anything
            health = server.client.get("/healthz")
            assert health.json() == {"status": "failing", "store": "failing", "event_log": "ok"}
            edit = server.client.post(
                "/api/v1/groups/acme/codes",
                json={"codes": [{"code": "4321"}]},
                headers=server.headers(admin),
            )
            assert edit.status_code == 503, edit.text
            page = server.client.get("/api/v1/groups/acme/events", headers=server.headers(admin))
            assert page.status_code == 503, page.text
        finally:
            postgres.start()
        with open_store(pg_url) as store:
            assert store.get("acme", "4321") is None

        def logged() -> list[str]:
            page = server.client.get("/api/v1/groups/acme/events", headers=server.headers(admin))
            if page.status_code != 200:
                return []
            return sorted(e["call_id"] for e in page.json()["events"] if e["call_id"])

        eventually(lambda: logged() == sorted(away), "the spooled decisions")
