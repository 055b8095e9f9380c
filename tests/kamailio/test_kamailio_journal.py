"""Kamailio's workers journal their events; a shipper of its own moves them into the SQLite log.

With ``spool`` set, each worker appends every event to its own journal before the call goes on
(no database transaction on the call path), and ``callcodes events ship`` stores them in the
event log file. Calls decided by both workers reach the log once each; then every Kamailio
process is killed (SIGKILL) right after its calls were answered, and the shipper still delivers
every decision: a crash of Kamailio loses none. The workers start from the policy loaded once
before Kamailio forked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import kamharness as kh
import pytest

import callcodes as cc
from conftest import LOCK_AFTER, NATIONAL, example_kamailio, make_policy, write_config

CALLS = 40  # enough for both workers to take some
#: Users of group acme; each enters a wrong code fewer times than locks it out.
USERS = ("1001", "1004", "1005", "1006")
WRONG_EACH = LOCK_AFTER - 1


@dataclass
class JournalLab:
    workdir: Path
    kamailio: kh.Kamailio
    gateway_port: int
    events: Path
    spool: Path


def stored(events: Path) -> list[cc.Event]:
    return list(cc.read_events(events)) if events.exists() else []


@pytest.fixture
def journal_lab(
    kamailio_tools: None, kamailio_site: str, tmp_path: Path
) -> Iterator[tuple[JournalLab, subprocess.Popen[bytes]]]:
    """A Kamailio (2 workers) journaling into ``spool``, and the shipper into ``events.db``."""
    store, events, config = tmp_path / "policy.db", tmp_path / "events.db", tmp_path / "cc.toml"
    spool = tmp_path / "spool"
    make_policy(store, datetime.now(UTC))
    gateway_port = kh.free_udp_port()
    write_config(config, store, events, gateway_port)
    # Top-level keys go before the configuration's tables.
    config.write_text(f'spool = "{spool}"\nnode = "edge"\nsync_every = 1000\n{config.read_text()}')
    kamailio = example_kamailio(tmp_path, config, kamailio_site)
    with (tmp_path / "ship.log").open("wb") as log:
        shipper = subprocess.Popen(
            [sys.executable, "-m", "callcodes", "events", "--log", str(events), "ship", str(spool)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield JournalLab(tmp_path, kamailio, gateway_port, events, spool), shipper
    finally:
        if kamailio.proc is not None and kamailio.proc.poll() is None:
            kamailio.stop()
        kh.Kamailio.stop_process(shipper)


def test_every_decision_reaches_the_log_once_even_when_kamailio_is_killed(
    journal_lab: tuple[JournalLab, subprocess.Popen[bytes]],
) -> None:
    lab, shipper = journal_lab
    wrong = len(USERS) * WRONG_EACH
    gateway = kh.Gateway(lab.workdir, lab.gateway_port, calls=CALLS - wrong, tag="gw").start()
    finals = []
    try:
        for n in range(CALLS):
            user = USERS[n % len(USERS)]
            code = "9999" if n < wrong else "1234"  # a wrong code: a 403, still an event
            dialed = f"*71{code}{NATIONAL}"
            finals.append(
                kh.call(lab.workdir, lab.kamailio.port, dialed, user, "acme.example", tag=f"c{n}")
            )
        gateway.finish()
    finally:
        gateway.stop()
    statuses = sorted(final.status or 0 for final in finals)
    assert statuses == [200] * (CALLS - wrong) + [403] * wrong, lab.kamailio.log_tail()
    # Each worker journaled in a folder of its own, named by the node and its rank.
    folders = sorted(p.name for p in lab.spool.iterdir() if p.is_dir())
    assert len(folders) >= 1
    assert all(name.startswith("edge-") for name in folders)
    # The failed entries are counted together in a file of the spool, not in the event log
    # the shipper writes: the shipper never holds up a worker counting one.
    with contextlib.closing(sqlite3.connect(lab.spool / "counts.db")) as conn:
        # One row per failure for the user's count, one for the group's.
        assert conn.execute("SELECT count(*) FROM guard_failures").fetchone() == (2 * wrong,)
    # The policy was loaded once, in the main process, and every worker started from it.
    log = lab.kamailio.log_text()
    assert "before the fork (pid" in log
    assert "(loaded here)" not in log
    assert log.count("(loaded before the fork)") >= 2
    # SIGKILL every Kamailio process at once: nothing is flushed or closed.
    for pid in lab.kamailio.pids():
        os.kill(pid, signal.SIGKILL)
    assert lab.kamailio.proc is not None
    lab.kamailio.proc.wait(10)
    kh.wait_for(lambda: len(stored(lab.events)) >= CALLS, 60, f"{CALLS} shipped events")
    shipper.send_signal(signal.SIGTERM)
    assert shipper.wait(60) == 0
    events = stored(lab.events)
    assert len(events) == CALLS  # every decision once: none lost, none doubled
    verdicts = sorted(event.verdict.value for event in events)
    assert verdicts == ["allow"] * (CALLS - wrong) + ["block"] * wrong
    assert len({event.call_id for event in events}) == CALLS
