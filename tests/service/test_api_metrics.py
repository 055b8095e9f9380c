"""``/metrics`` counts what the service did, and ``/healthz`` tells whether it can work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_api_decide import DECIDE, bearer, make_policy

import callcodes as cc
from callcodes.service import ServiceConfig, create_app
from callcodes.store import PolicyStore


def samples(client: TestClient[Any], token: str) -> dict[tuple[str, tuple[Any, ...]], float]:
    """Every sample of /metrics by name and sorted labels."""
    response = client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient[Any], dict[str, str], Path]]:
    db = tmp_path / "policy.db"
    tokens = make_policy(db)
    with PolicyStore(db) as store:  # acme locks a user after 2 bad entries
        store.modify_group(
            "acme", lambda s: attrs.evolve(s, lockout=cc.Lockout(user_attempts=2)), actor="test"
        )
    with TestClient(create_app(ServiceConfig(db))) as client:
        yield client, tokens, db


def test_counters_say_how_many_decisions_of_each_kind(
    setup: tuple[TestClient[Any], dict[str, str], Path],
) -> None:
    client, tokens, _ = setup
    headers = bearer(tokens["softswitch"])
    calls = [
        ({"group": "acme", "user": "1001", "dialed": "*711234913125550123"}, 5),
        ({"group": "acme", "user": "1001", "dialed": "911"}, 3),
        ({"group": "globex", "user": "2001", "dialed": "13125550123", "code": "5555"}, 4),
        ({"group": "nowhere", "user": "1", "dialed": "13125550123"}, 2),
    ]
    for body, times in calls:
        for _ in range(times):
            assert client.post(DECIDE, json=body, headers=headers).status_code == 200
    assert client.post(DECIDE, json={**calls[0][0], "dialed": "*711234"}, headers=headers)
    found = samples(client, tokens["operator"])
    decided = {
        labels: value
        for (name, labels), value in found.items()
        if name == "callcodes_decisions_total"
    }
    assert decided == {
        (("reason", "authorized"), ("verdict", "allow")): 5.0,
        (("reason", "emergency"), ("verdict", "allow")): 3.0,
        (("reason", "account code"), ("verdict", "log_only")): 4.0,
        (("reason", "not enabled"), ("verdict", "allow")): 2.0,
    }
    assert found["callcodes_decision_seconds_count", ()] == 14.0
    assert 0 < found["callcodes_decision_seconds_sum", ()] < 14.0
    assert found["callcodes_decide_refused_total", (("problem", "no destination"),)] == 1.0
    assert found["callcodes_event_log_lag", ()] == 0.0
    assert found["callcodes_event_log_ok", ()] == 1.0


def test_locks_placed_are_counted(setup: tuple[TestClient[Any], dict[str, str], Path]) -> None:
    """Two bad codes lock user 1001 (lockout after 2): one lock, scope user."""
    client, tokens, db = setup
    headers = bearer(tokens["softswitch"])
    for attempt in (1, 2):
        body = {"group": "acme", "user": "1001", "dialed": "*710000913125550123"}
        response = client.post(DECIDE, json={**body, "attempt": attempt}, headers=headers)
        assert response.json()["reason"] == "invalid code"
    response = client.post(
        DECIDE,
        json={"group": "acme", "user": "1001", "dialed": "*711234913125550123"},
        headers=headers,
    )
    assert response.json()["reason"] == "locked out"
    found = samples(client, tokens["softswitch"])
    assert found["callcodes_locks_total", (("scope", "user"),)] == 1.0
    with PolicyStore(db, read_only=True) as store:
        assert [lock.user for lock in store.locks("acme")] == ["1001"]


@pytest.mark.parametrize(("name", "status"), [("acme-admin", 403), ("north-admin", 403)])
def test_metrics_need_an_operator_or_softswitch_token(
    setup: tuple[TestClient[Any], dict[str, str], Path], name: str, status: int
) -> None:
    client, tokens, _ = setup
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers=bearer(tokens[name]))
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")


def test_openmetrics_when_asked(setup: tuple[TestClient[Any], dict[str, str], Path]) -> None:
    client, tokens, _ = setup
    response = client.get(
        "/metrics",
        headers={**bearer(tokens["operator"]), "Accept": "application/openmetrics-text"},
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_health_needs_no_token(setup: tuple[TestClient[Any], dict[str, str], Path]) -> None:
    client, _, _ = setup
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "store": "ok", "event_log": "ok"}
