"""End to end, the optional call ends: Kamailio's dialog module reports them to the router.

The example configuration with the dialog module loaded and its event callback pointed at the
router, and a group whose codes may carry one call at a time: a call that ended (sipp sends
BYE after the answer) frees its code for the next one, which is refused while the code is held
by a call whose end was never reported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import kamharness as kh
import pytest

import callcodes as cc
from callcodes.store import PolicyStore
from conftest import NATIONAL, Lab, write_config

pytestmark = pytest.mark.slow

DIALOG = 'loadmodule "dialog.so"\nmodparam("dialog", "event_callback", "ksr_dialog_event")\n'


@pytest.fixture(scope="module")
def dialog_lab(
    kamailio_tools: None, kamailio_site: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    """A Kamailio with the dialog module, 2 workers, and a router configured with dialog."""
    workdir = tmp_path_factory.mktemp("kamailio-dialog")
    store, events, config = workdir / "policy.db", workdir / "events.db", workdir / "cc.toml"
    with PolicyStore(store) as policy:
        policy.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION,
                mandatory_users=frozenset({"1001", "1002"}),
                limits=cc.Limits(concurrent_per_code=1),
            ),
            actor="test",
        )
        policy.add_codes("acme", ["1234"], actor="test")
    gateway_port = kh.free_udp_port()
    write_config(config, store, events, gateway_port)
    config.write_text("dialog = true\n" + config.read_text())
    text = (kh.EXAMPLE / "kamailio.cfg").read_text()
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(
        text.replace('loadmodule "app_python3.so"\n', DIALOG + 'loadmodule "app_python3.so"\n')
    )
    kamailio = kh.Kamailio(
        workdir,
        cfg,
        kh.EXAMPLE / "callcodes_router.py",
        children=2,
        env={"CALLCODES_SITE": kamailio_site, "CALLCODES_CONFIG": str(config)},
    )
    kamailio.start()
    pids: list[int] = []
    try:
        pids = kamailio.pids()
        yield Lab(workdir, kamailio, gateway_port, store, events)
    finally:
        status = kamailio.stop()
    assert [pid for pid in pids if kh.alive(pid)] == []
    assert status == 0, kamailio.log_tail()


def in_progress(events: Path) -> int:
    """How many calls the workers' shared count holds as in progress."""
    with sqlite3.connect(events) as conn:
        (count,) = conn.execute("SELECT count(*) FROM guard_active").fetchone()
    conn.close()
    return int(count)


def test_an_ended_call_frees_its_code_for_the_next(dialog_lab: Lab) -> None:
    """Two calls one after the other with one code: both connect, as the first one ended."""
    for caller in ("1001", "1002"):
        got = dialog_lab.place(f"*711234{NATIONAL}", caller, relayed=True)
        assert got.final.line == "200 OK", dialog_lab.log_tail()
        assert [e.reason for e in got.events] == [cc.Reason.AUTHORIZED]
    kh.wait_for(lambda: in_progress(dialog_lab.events_path) == 0, 10, "the calls' end events")


def test_a_call_whose_end_is_not_reported_holds_its_code(dialog_lab: Lab) -> None:
    """A call counted as in progress (its end never reported) makes the next one refused."""
    with PolicyStore(dialog_lab.store, read_only=True) as store:
        name = store.fingerprinter()("1234")  # how the shared count names the code
    with sqlite3.connect(dialog_lab.events_path) as conn:
        conn.execute(
            "INSERT INTO guard_active VALUES ('acme', 'never-ended', ?, ?)",
            (name, int(datetime.now(UTC).timestamp() * 1_000_000)),
        )
    conn.close()
    got = dialog_lab.place(f"*711234{NATIONAL}", "1001", relayed=False)
    assert got.final.line == "403 Authorization code already in use"
    assert [e.reason for e in got.events] == [cc.Reason.CONCURRENT_LIMIT]
