"""Fixtures of the Kamailio tests: the Debian packages, a policy store, and one running Kamailio.

The packages (kamailio, kamailio-python3-modules, sip-tester) are installed with apt-get when
missing; when that is impossible the tests fail and say why: they never skip. One Kamailio,
started from the files in examples/kamailio/, serves every scenario of a test module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import kamharness as kh
import pytest

import callcodes as cc
from callcodes.store import open_store
from debian import ensure_debian_packages

# The dial plan of every group in these tests: a US office.
DIAL_PLAN = {
    "region": "US",
    "extensions": ["1000-1999"],
    "outside_prefix": "9",
    "local_prefixes": ["212"],
}
NATIONAL = "913125550123"
LOCAL = "912125550123"
INTERNATIONAL = "9011442079460958"
# Failed entries that lock a user of group acme (kept small so that a test can reach it).
LOCK_AFTER = 3


@pytest.fixture(scope="session")
def kamailio_tools(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Kamailio, its Python module and sipp are installed (with apt-get when missing)."""
    ensure_debian_packages(
        kh.missing_tools, kh.DEBIAN_PACKAGES, tmp_path_factory.mktemp("apt") / "apt.log"
    )


@pytest.fixture(scope="session")
def kamailio_site(tmp_path_factory: pytest.TempPathFactory) -> str:
    """CALLCODES_SITE for Kamailio's Python: callcodes and its dependencies."""
    folders = kh.kamailio_python_path(tmp_path_factory.mktemp("kamailio-site"))
    return os.pathsep.join(str(folder) for folder in folders)


def make_policy(place: Path | str, now: datetime) -> None:
    """Group acme uses authorization codes, group globex account codes.

    *place* is an SQLite file, or a PostgreSQL database's URL.
    """
    with open_store(place) as store:
        store.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION,
                allow_local_and_toll_free=True,
                mandatory_users=frozenset({"1001", "1003", "1004", "1005", "1006"}),
                optional_users=frozenset({"1002"}),
                lockout=cc.Lockout(user_attempts=LOCK_AFTER),
            ),
            actor="test",
        )
        store.add_codes("acme", [cc.CodeEntry("1234", "Sales")], actor="test")
        store.set_group(
            "globex",
            cc.GroupSettings(mode=cc.Mode.ACCOUNT, mandatory_users=frozenset({"2001"})),
            actor="test",
        )
        store.add_codes("globex", [cc.CodeEntry("5555", "Project X")], actor="test")
        store.lock(cc.Lock("acme", "1003", now - timedelta(minutes=1)), actor="test")


def write_config(path: Path, store: Path, events: Path, gateway_port: int) -> None:
    plan = "\n".join(f"{key} = {value!r}".replace("'", '"') for key, value in DIAL_PLAN.items())
    path.write_text(
        f'store = "{store}"\n'
        f'events = "{events}"\n'
        f'gateway = "sip:{kh.LOOPBACK}:{gateway_port}"\n'
        "refresh_ms = 0\n"
        "[domains]\n"
        '"acme.example" = "acme"\n'
        '"globex.example" = "globex"\n'
        "[dial_plan]\n"
        f"{plan}\n"
    )


@dataclass
class Outcome:
    """One scenario: the caller's final response, what the gateway received, the new events."""

    final: kh.Final
    received: list[kh.CapturedInvite]
    events: list[cc.Event]

    @property
    def invite(self) -> kh.CapturedInvite:
        assert len(self.received) == 1, self.received
        return self.received[0]


@dataclass
class Lab:
    """A running Kamailio with callcodes, and the means to place calls through it."""

    workdir: Path
    kamailio: kh.Kamailio
    gateway_port: int
    store: Path
    events_path: Path
    seen: int = 0
    calls: int = 0
    log_marks: list[int] = field(default_factory=list)

    def place(
        self,
        dialed: str,
        caller: str,
        *,
        domain: str = "acme.example",
        headers: tuple[str, ...] = (),
        relayed: bool,
        read_events: bool = True,
    ) -> Outcome:
        """Call *dialed* as *caller*; with *relayed*, a gateway answers the relayed INVITE.

        With *read_events*, the events written since the last call are read from the log.
        """
        self.calls += 1
        tag = f"call{self.calls}"
        gateway = None
        if relayed:
            gateway = kh.Gateway(self.workdir, self.gateway_port, calls=1, tag=tag).start()
        try:
            final = kh.call(
                self.workdir, self.kamailio.port, dialed, caller, domain, headers, tag=tag
            )
            received = gateway.finish() if gateway is not None else []
        finally:
            if gateway is not None:
                gateway.stop()
        assert final.status is not None, f"no final response: {final.output}\n{self.log_tail()}"
        return Outcome(final, received, self.new_events() if read_events else [])

    def new_events(self) -> list[cc.Event]:
        events = list(cc.read_events(self.events_path))
        found, self.seen = events[self.seen :], len(events)
        return found

    def log_tail(self) -> str:
        return self.kamailio.log_tail()


def example_kamailio(workdir: Path, config: Path, site: str) -> kh.Kamailio:
    """A Kamailio started from examples/kamailio/ with 2 workers, reading *config*."""
    kamailio = kh.Kamailio(
        workdir,
        kh.EXAMPLE / "kamailio.cfg",
        kh.EXAMPLE / "callcodes_router.py",
        children=2,
        env={"CALLCODES_SITE": site, "CALLCODES_CONFIG": str(config)},
    )
    kamailio.start()
    return kamailio


@pytest.fixture(scope="module")
def lab(
    kamailio_tools: None, kamailio_site: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    """A Kamailio started from examples/kamailio/, with 2 workers, on a loopback port."""
    workdir = tmp_path_factory.mktemp("kamailio")
    store, events, config = workdir / "policy.db", workdir / "events.db", workdir / "cc.toml"
    make_policy(store, datetime.now(UTC))
    gateway_port = kh.free_udp_port()
    write_config(config, store, events, gateway_port)
    kamailio = example_kamailio(workdir, config, kamailio_site)
    pids: list[int] = []
    try:
        pids = kamailio.pids()
        yield Lab(workdir, kamailio, gateway_port, store, events)
    finally:
        status = kamailio.stop()
    assert [pid for pid in pids if kh.alive(pid)] == []
    assert status == 0, kamailio.log_tail()
