"""Two real servers on one store, and a Kamailio worker beside them: an edit reaches them all.

A code added through the first server's API is seen by the second server's decisions and by a
Kamailio router in this process (driven by ``FakeKSR``); a code deleted through the second is
refused by the first; the decisions of both are read from one event log. On each backend: an
SQLite file, and a PostgreSQL database (each server journaling its events in a spool).
Propagation is awaited by asking again until the answer changes, within
a bound that only ends a broken run.
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
from callcodes.store import open_store
from callcodes.testing import FakeKSR, Request
from pgserver import PostgresServer

#: The longest a change may take to reach every process before the test fails (a bound on a
#: broken run, not a wait: the test goes on as soon as the change is seen).
PROPAGATION_LIMIT: Final = 30.0
CALL = {"group": "acme", "user": "1001", "dialed": "*714321913125550123"}


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


def test_while_postgresql_is_away_decisions_go_on_and_edits_are_refused(
    postgres: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    """The server decides from the policy it holds; an edit is answered 503 and changes
    nothing; once the database is back, the edit works and every decision is in the log."""
    tokens = make_policy(pg_url)
    switch, admin = tokens["softswitch"], tokens["acme-admin"]
    with Server(pg_url, "--spool", str(tmp_path / "spool"), "--node", "s1") as server:
        body = {**CALL, "dialed": "*711234913125550123"}
        assert reason(server, switch) == "invalid code"
        postgres.kill()
        try:
            for n in range(3):
                answer = server.client.post(
                    DECIDE, json={**body, "call_id": f"away-{n}"}, headers=server.headers(switch)
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["reason"] == "authorized"
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

        eventually(lambda: logged() == ["away-0", "away-1", "away-2"], "the spooled decisions")
