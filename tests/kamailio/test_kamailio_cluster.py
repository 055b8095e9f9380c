"""Two Kamailio nodes sharing one PostgreSQL: one policy, one lockout, one event log.

Both nodes run the example router with the store and the events in the same database, each
worker journaling its events in the node's spool folder. An administrator's edit with the CLI
reaches both; invalid codes alternated between the nodes lock the user at the threshold;
billing finds one event per call. Then PostgreSQL is killed (SIGKILL) while calls flow through
both nodes, and started again: every INVITE is answered, emergency calls are relayed
throughout, and every event reaches the database exactly once.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import kamharness as kh
import psycopg
import pytest

import callcodes as cc
from callcodes.events.postgres import read_postgres
from callcodes.integrations.kamailio._failures import SharedFailureTracker
from callcodes.store.postgres import PostgresPolicyStore
from conftest import DIAL_PLAN, LOCK_AFTER, NATIONAL, example_kamailio, make_policy
from pgserver import PostgresServer, running_server

# A group whose users may fail often: the propagation test retries without locking anyone.
PATIENT = "initech"
PATIENT_USER = "3001"


@dataclass
class Node:
    """One Kamailio of the cluster, with its own gateway port and working folder."""

    name: str
    workdir: Path
    kamailio: kh.Kamailio
    gateway_port: int
    calls: int = 0

    def place(
        self, dialed: str, caller: str, *, domain: str = "acme.example", relayed: bool
    ) -> tuple[kh.Final, list[kh.CapturedInvite]]:
        """One call; when *relayed* is expected, a gateway waits for it (stopped otherwise)."""
        self.calls += 1
        tag = f"{self.name}-call{self.calls}"
        gateway = kh.Gateway(self.workdir, self.gateway_port, calls=1, tag=tag).start()
        try:
            final = kh.call(self.workdir, self.kamailio.port, dialed, caller, domain, tag=tag)
            received = gateway.finish() if relayed and final.status == 200 else []
        finally:
            gateway.stop()
        assert final.status is not None, f"no final response: {final.output}\n{self.log_tail()}"
        return final, received

    def log_tail(self) -> str:
        return self.kamailio.log_tail()


@dataclass
class Cluster:
    server: PostgresServer
    url: str
    nodes: tuple[Node, Node]


def write_config(path: Path, url: str, node: str, gateway_port: int) -> None:
    plan = "\n".join(f"{key} = {value!r}".replace("'", '"') for key, value in DIAL_PLAN.items())
    path.write_text(
        f'store = "{url}"\n'
        f'events = "{url}"\n'
        f'spool = "spool-{node}"\n'  # relative: taken from this file's folder
        f'node = "{node}"\n'
        f'gateway = "sip:{kh.LOOPBACK}:{gateway_port}"\n'
        "refresh_ms = 0\n"
        "[domains]\n"
        '"acme.example" = "acme"\n'
        f'"{PATIENT}.example" = "{PATIENT}"\n'
        "[dial_plan]\n"
        f"{plan}\n"
    )


@pytest.fixture(scope="module")
def cluster(
    kamailio_tools: None, kamailio_site: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A PostgreSQL server of this module's own (it is killed below) and two Kamailio nodes."""
    workdir = tmp_path_factory.mktemp("cluster")
    with running_server(workdir / "apt.log") as server:
        url = server.create_database("cluster")
        make_policy(url, datetime.now(UTC))
        with PostgresPolicyStore(url) as store:
            store.set_group(
                PATIENT,
                cc.GroupSettings(
                    mode=cc.Mode.AUTHORIZATION,
                    mandatory_users=frozenset({PATIENT_USER}),
                    lockout=cc.Lockout(user_attempts=1000, group_attempts=1000),
                ),
                actor="test",
            )
        nodes: list[Node] = []
        shippers: list[subprocess.Popen[bytes]] = []
        try:
            for name in ("a", "b"):
                here = workdir / name
                here.mkdir()
                gateway_port = kh.free_udp_port()
                config = here / "cc.toml"
                write_config(config, url, name, gateway_port)
                kamailio = example_kamailio(here, config, kamailio_site)
                nodes.append(Node(name, here, kamailio, gateway_port))
                # The node's shipper: delivers every worker's journal to the database.
                with (here / "ship.log").open("wb") as log:
                    shippers.append(
                        subprocess.Popen(
                            [
                                *(sys.executable, "-m", "callcodes", "events", "--log", url),
                                *("ship", str(here / f"spool-{name}")),
                            ],
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL,
                        )
                    )
            yield Cluster(server, url, (nodes[0], nodes[1]))
        finally:
            statuses = [node.kamailio.stop() for node in nodes]
            shipped = [kh.Kamailio.stop_process(proc) for proc in shippers]
        assert statuses == [0] * len(nodes), [node.log_tail() for node in nodes]
        assert shipped == [0] * len(shippers)


def events_of(url: str, user: str) -> list[cc.Event]:
    return [event for event in read_postgres(url) if event.user == user]


def wait_for_events(url: str, user: str, count: int) -> list[cc.Event]:
    """The user's events once *count* have been shipped from the nodes' spools."""
    kh.wait_for(lambda: len(events_of(url, user)) >= count, 30, f"{count} events of {user}")
    return events_of(url, user)


def callcodes(url: str, *args: str) -> None:
    """The administrator's CLI, a process of its own, on the cluster's database."""
    done = subprocess.run(
        [sys.executable, "-m", "callcodes", "--db", url, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CALLCODES_ACTOR": "admin"},
    )
    assert done.returncode == 0, done.stderr


class TestOnePolicy:
    def test_an_edit_made_with_the_cli_reaches_both_nodes(self, cluster: Cluster) -> None:
        """A code added by the CLI authorizes calls on both nodes, without a restart."""
        dialed = f"*714321{NATIONAL}"
        for node in cluster.nodes:
            final, _ = node.place(dialed, PATIENT_USER, domain=f"{PATIENT}.example", relayed=False)
            assert final.line.startswith("403 Invalid authorization code")
        callcodes(cluster.url, "codes", "add", PATIENT, "4321", "--description", "New")
        for node in cluster.nodes:
            # The change is notified at its commit: the first call after it is usually the
            # one; a later one within the deadline shows the notification arrived late.
            outcomes: list[tuple[kh.Final, list[kh.CapturedInvite]]] = []

            def relayed(node: Node = node, outcomes: list[object] = outcomes) -> bool:
                outcomes.append(
                    node.place(dialed, PATIENT_USER, domain=f"{PATIENT}.example", relayed=True)
                )
                return outcomes[-1][0].status == 200  # type: ignore[index]

            kh.wait_for(relayed, 10, f"the new code on node {node.name}")
            (invite,) = outcomes[-1][1]
            assert invite.ruri_user == NATIONAL


class TestOneLockout:
    def test_guesses_alternated_between_nodes_lock_at_the_threshold(self, cluster: Cluster) -> None:
        """LOCK_AFTER invalid codes, one node then the other: locked at the last, on both."""
        tracker = SharedFailureTracker(cluster.url)
        lockout = cc.Lockout(user_attempts=LOCK_AFTER)
        try:
            for attempt in range(1, LOCK_AFTER + 1):
                node = cluster.nodes[attempt % 2]
                final, _ = node.place(f"*710000{NATIONAL}", "1001", relayed=False)
                assert final.status == 403
                with PostgresPolicyStore(cluster.url) as store:
                    locked = [lock.user for lock in store.locks("acme")]
                if attempt < LOCK_AFTER:
                    # Counted once for every node, not per node: no lock yet.
                    now = datetime.now(UTC)
                    assert tracker.count("acme", "1001", now, lockout) == attempt
                    assert "1001" not in locked
                else:
                    assert "1001" in locked
        finally:
            tracker.close()
        for node in cluster.nodes:  # even a valid code is refused now, on each node
            final, _ = node.place(f"*711234{NATIONAL}", "1001", relayed=False)
            assert final.line == "403 Locked out after too many invalid codes"
        callcodes(cluster.url, "locks", "unlock", "acme", "1001")
        for node in cluster.nodes:

            def passes(node: Node = node) -> bool:
                return node.place(f"*711234{NATIONAL}", "1001", relayed=True)[0].status == 200

            kh.wait_for(passes, 10, f"the lift reaching node {node.name}")


class TestOneEventLog:
    def test_billing_sees_one_event_per_call(self, cluster: Cluster) -> None:
        """Calls through both nodes: each is in the PostgreSQL log once, keyed by its worker."""
        per_node = 3
        for node in cluster.nodes:
            for _ in range(per_node):
                final, _ = node.place(f"*711234{NATIONAL}", "1004", relayed=True)
                assert final.status == 200
        events = wait_for_events(cluster.url, "1004", 2 * per_node)
        assert len(events) == 2 * per_node
        assert len({event.call_id for event in events}) == 2 * per_node
        assert {(e.verdict, e.reason, e.description) for e in events} == {
            (cc.Verdict.ALLOW, cc.Reason.AUTHORIZED, "Sales")
        }
        with psycopg.connect(cluster.url) as conn:
            workers = conn.execute(
                "SELECT node, count(*) FROM events WHERE user_id = %s GROUP BY node", ("1004",)
            ).fetchall()
        per_prefix = collections.Counter()
        for worker, count in workers:
            per_prefix[worker.split("-")[0]] += count
        assert per_prefix == {"a": per_node, "b": per_node}


class TestOutage:
    CALLS = 300  # per node: authorized calls
    EMERGENCY = 60  # per node: 911 calls

    def test_postgresql_killed_while_calls_flow(self, cluster: Cluster) -> None:
        """SIGKILL, then a restart, under load: every INVITE answered, 911 relayed, events once."""
        runs = []
        try:
            for node in cluster.nodes:
                runs.append(LoadRun(node, self.CALLS, self.EMERGENCY).start())
            # Kill once each gateway has relayed a third of its calls, start again at two thirds.
            total = self.CALLS + self.EMERGENCY
            kh.wait_for(lambda: all(r.relayed() >= total // 3 for r in runs), 60, "a third")
            cluster.server.kill()
            down_at = [run.relayed() for run in runs]
            kh.wait_for(lambda: all(r.relayed() >= 2 * total // 3 for r in runs), 60, "2/3")
            cluster.server.start()
            for run in runs:
                run.finish()
        finally:
            for run in runs:
                run.stop()
        assert all(count < 2 * total // 3 for count in down_at)  # calls flowed while it was down
        for run in runs:
            finals = run.finals()
            assert len(finals) == total, run.node.log_tail()
            assert collections.Counter(finals) == {"200": total}, run.node.log_tail()
            received = run.received()
            assert collections.Counter(invite.ruri_user for invite in received) == {
                NATIONAL: self.CALLS,
                "911": self.EMERGENCY,
            }
        authorized = wait_for_events(cluster.url, "1006", 2 * self.CALLS)
        emergency = wait_for_events(cluster.url, "1005", 2 * self.EMERGENCY)
        for events in (authorized, emergency):
            assert len({event.call_id for event in events}) == len(events)
        assert len(authorized) == 2 * self.CALLS
        assert len(emergency) == 2 * self.EMERGENCY


class LoadRun:
    """Two sipp callers (authorized calls as 1006, 911 as 1005) and a gateway, on one node."""

    RATE = 30  # INVITEs per second of the authorized caller

    def __init__(self, node: Node, calls: int, emergency: int) -> None:
        self.node = node
        self.calls = calls
        self.emergency = emergency
        self.here = node.workdir / "load"
        self.here.mkdir(exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> LoadRun:
        gateway = kh.sipp_argv(
            kh.SCENARIOS / "gateway.xml",
            local_port=self.node.gateway_port,
            calls=self.calls + self.emergency,
            timeout_s=120,
            timeout_error=False,
            log_file=self.here / "gateway.log",
        )
        self._spawn(gateway, "gateway")
        kh.wait_for(lambda: kh.udp_port_bound(self.node.gateway_port), 10, "the gateway")
        for dialed, user, calls, rate in (
            (f"*711234{NATIONAL}", "1006", self.calls, self.RATE),
            ("911", "1005", self.emergency, self.RATE * self.emergency / self.calls),
        ):
            argv = kh.sipp_argv(
                kh.SCENARIOS / "caller.xml",
                remote=f"{kh.LOOPBACK}:{self.node.kamailio.port}",
                service=dialed,
                keys={"caller": user, "domain": "acme.example", "extra_hdrs": "X-Test: 1"},
                calls=calls,
                rate=rate,
                timeout_s=120,
                log_file=self.here / f"caller-{user}.log",
            )
            self._spawn(argv, f"caller-{user}")
        return self

    def _spawn(self, argv: list[str], name: str) -> None:
        with (self.here / f"{name}.out").open("wb") as out:
            self.procs.append(
                subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            )

    def relayed(self) -> int:
        return len(self.received())

    def received(self) -> list[kh.CapturedInvite]:
        return kh.parse_gateway_log(self.here / "gateway.log")

    def finals(self) -> list[str]:
        found = []
        for user in ("1006", "1005"):
            text = (self.here / f"caller-{user}.log").read_text(errors="replace")
            found += [status for status, _ in kh.FINAL_LINE.findall(text)]
        return found

    def finish(self) -> None:
        for proc in self.procs:
            proc.wait(timeout=150)

    def stop(self) -> None:
        for proc in self.procs:
            kh.Kamailio.stop_process(proc)
