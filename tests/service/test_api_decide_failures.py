"""When the event log fails, a real server still lets emergency calls through and refuses others.

The failure is a full disk as the server process meets it: once the server runs, its file size
limit (``RLIMIT_FSIZE``, set from outside with ``prlimit``) is lowered to 0, so every write that
would grow a file fails with ``EFBIG`` (Python ignores ``SIGXFSZ``), as on a disk with no room.
Nothing in the service knows it is being tested.
"""

from __future__ import annotations

import resource
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from real_server import Server
from test_api_decide import DECIDE, make_policy

import callcodes as cc

NATIONAL = {"group": "acme", "user": "1001", "dialed": "*711234913125550123"}


def disk_full(pid: int) -> None:
    """No file of process *pid* may grow from now on."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))


def refused(server: Server, token: str) -> dict[str, float]:
    """``callcodes_decide_refused_total`` by problem, from the server's /metrics."""
    text = server.client.get("/metrics", headers=server.headers(token)).text
    return {
        sample.labels["problem"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "callcodes_decide_refused"
        for sample in family.samples
        if sample.name == "callcodes_decide_refused_total"
    }


def test_emergency_calls_pass_when_the_event_log_cannot_record(tmp_path: Path) -> None:
    db, events = tmp_path / "policy.db", tmp_path / "events.db"
    tokens = make_policy(db)
    with Server(db, "--events", str(events)) as server:
        headers = server.headers(tokens["softswitch"])
        assert server.client.post(DECIDE, json=NATIONAL, headers=headers).status_code == 200
        assert server.client.get("/healthz").status_code == 200

        disk_full(server.process.pid)

        for dialed in ["911", "*71911", "*711234911", "9911"]:
            body = {"group": "acme", "user": "1001", "dialed": dialed}
            response = server.client.post(DECIDE, json=body, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["verdict"] == "allow"
            assert response.json()["reason"] == "emergency"
            assert response.json()["dial"] in ("911", "9911")
        response = server.client.post(DECIDE, json=NATIONAL, headers=headers)
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "1"
        assert "event log" in response.json()["detail"]

        health = server.client.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {"status": "failing", "store": "ok", "event_log": "failing"}
        assert refused(server, tokens["operator"]) == {"event log": 1.0}
    # Only the call decided before the disk filled up is in the log.
    assert [e.reason for e in cc.read_events(events)] == [cc.Reason.AUTHORIZED]
