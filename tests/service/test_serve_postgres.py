"""``callcodes serve`` on a PostgreSQL store, as a real process started by the test.

The server named by ``CALLCODES_DB`` (no ``--db``) answers ``/healthz`` and decisions from the
policy in the database; a decision is journaled in ``--spool``/NODE (the host name by default)
and shipped to the database's event log, where it is read with its node's name. Without
``--spool`` the server refuses to start, saying what to give. Shipping is awaited by reading
the log again until the event is there, within a bound that only ends a broken run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
from real_server import Server
from test_api_decide import DECIDE, make_policy
from test_two_servers import eventually

from callcodes.events.postgres import read_postgres

#: An authorized call: user 1001 of acme dials code 1234 then an international number.
CALL = {"group": "acme", "user": "1001", "dialed": "*711234913125550123", "call_id": "pg-1@pbx"}


def logged(url: str) -> list[tuple[str, str | None, str, str | None, str | None]]:
    """The database's events: node, call id, reason, code and masked code of each (none yet
    while the log's table is not made)."""
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute(
                "SELECT node, call_id, reason, code, masked FROM events ORDER BY time_us, node, seq"
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [tuple(row) for row in rows]


def test_serve_on_a_database_url_decides_and_records_in_the_database(
    pg_url: str, tmp_path: Path
) -> None:
    tokens = make_policy(pg_url)
    spool = tmp_path / "spool"
    node = socket.gethostname()[:100]
    with Server(None, "--spool", str(spool), env={"CALLCODES_DB": pg_url}) as server:
        health = server.client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        answer = server.client.post(DECIDE, json=CALL, headers=server.headers(tokens["softswitch"]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["reason"] == "authorized"
        assert answer.json()["dial"] == "913125550123"  # without the prefix and the code
        # The event is in the server's journal on its disk, then in the shared database.
        assert (spool / node).is_dir()
        eventually(
            lambda: logged(pg_url) == [(node, "pg-1@pbx", "authorized", None, "****")],
            "the decision in the PostgreSQL event log",
        )
        (event,) = read_postgres(pg_url)  # as `callcodes events --log URL` reads it
        assert (event.group, event.user, event.dialed) == ("acme", "1001", "913125550123")
        page = server.client.get(
            "/api/v1/groups/acme/events", headers=server.headers(tokens["acme-admin"])
        )
        assert [e["call_id"] for e in page.json()["events"]] == ["pg-1@pbx"]
    assert server.process.returncode in (0, -signal.SIGTERM)


def test_serve_on_a_database_url_without_a_spool_refuses_to_start(pg_url: str) -> None:
    """Events in PostgreSQL need a journal on the local disk: serve says so and stops."""
    done = subprocess.run(
        [sys.executable, "-m", "callcodes", "--db", pg_url, "serve", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CALLCODES_DB": ""},
        check=False,
    )
    assert done.returncode != 0
    assert "--spool DIR" in done.stderr
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stderr
