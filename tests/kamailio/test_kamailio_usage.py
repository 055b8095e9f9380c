"""Use limits shared by Kamailio's workers: SharedUseCounter, and call ends from dialog events.

The shared counter keeps the in-memory counter's rules (checked against it over generated
calls), counts one limit for several processes (a real second process), and keeps no code in
its file. The router counts a relayed call as in progress until the dialog module's end event.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callcodes as cc
from callcodes.integrations import kamailio as kam
from callcodes.integrations.kamailio._usage import SharedUseCounter
from callcodes.store import PolicyStore
from callcodes.testing import Clock, FakeKSR, Request

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
FILES = itertools.count()


def key(code: str) -> str:
    """A stand-in for the store's fingerprint: the same code, always the same name."""
    return f"fp-{int(code) * 7919 % 100_003}"


calls = st.lists(
    st.tuples(
        st.integers(0, 7200),  # seconds after NOW, in order below
        st.sampled_from(["1234", "5678", None]),
        st.sampled_from(["alice", "bob", "carol"]),
        st.booleans(),  # costly
        st.sampled_from(["a", "b", "c", "d"]),  # call ids, reused: an end frees one
        st.booleans(),  # whether that call ends right after
    ),
    max_size=30,
).map(lambda drawn: sorted(drawn, key=lambda call: call[0]))
limits_drawn = st.builds(
    cc.Limits,
    window=st.sampled_from([timedelta(minutes=10), timedelta(hours=1)]),
    calls_per_code=st.none() | st.integers(1, 4),
    users_per_code=st.none() | st.integers(1, 3),
    costly_per_code=st.none() | st.integers(1, 4),
    costly_per_user=st.none() | st.integers(1, 4),
    concurrent_per_code=st.none() | st.integers(1, 2),
)


class TestSharedCounter:
    @settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(limits_drawn, calls)
    def test_it_keeps_the_in_memory_counters_rules(
        self, tmp_path: Path, limits: cc.Limits, drawn: list[tuple[Any, ...]]
    ) -> None:
        """Call after call, it admits and refuses exactly what UseCounter does."""
        memory = cc.UseCounter()
        shared = SharedUseCounter(tmp_path / f"u{next(FILES)}.db", key)  # a new file each time
        try:
            for offset, code, user, costly, call_id, ends in drawn:
                now = NOW + timedelta(seconds=offset)
                expected = memory.admit("acme", code, user, costly, now, limits, call_id)
                got = shared.admit("acme", code, user, costly, now, limits, call_id)
                assert got == expected
                if ends:
                    memory.end("acme", call_id)
                    shared.end("acme", call_id)
        finally:
            shared.close()

    @settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(limits_drawn, calls)
    def test_it_keeps_the_same_rules_on_postgresql(
        self, pg_url: str, limits: cc.Limits, drawn: list[tuple[Any, ...]]
    ) -> None:
        """Counted in a PostgreSQL database that nodes share, it admits and refuses exactly
        what UseCounter does."""
        memory = cc.UseCounter()
        shared = SharedUseCounter(pg_url, key)
        try:
            with shared._write() as conn:  # each example starts from no count
                conn.execute("DELETE FROM guard_uses")
                conn.execute("DELETE FROM guard_active")
            for offset, code, user, costly, call_id, ends in drawn:
                now = NOW + timedelta(seconds=offset)
                expected = memory.admit("acme", code, user, costly, now, limits, call_id)
                assert shared.admit("acme", code, user, costly, now, limits, call_id) == expected
                if ends:
                    memory.end("acme", call_id)
                    shared.end("acme", call_id)
        finally:
            shared.close()

    def test_two_processes_count_toward_one_limit(self, tmp_path: Path) -> None:
        """Three calls counted by another process leave this one no costly call of the code."""
        path = tmp_path / "events.db"
        child = (
            "import sys; from datetime import datetime, UTC\n"
            "import callcodes as cc\n"
            "from callcodes.integrations.kamailio._usage import SharedUseCounter\n"
            "counter = SharedUseCounter(sys.argv[1], lambda code: 'fp-' + code)\n"
            "now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)\n"
            "for user in ('alice', 'bob', 'carol'):\n"
            "    assert counter.admit('acme', '1234', user, True, now, "
            "cc.Limits(costly_per_code=3)) is None\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", child, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        counter = SharedUseCounter(path, lambda code: "fp-" + code)
        try:
            limits = cc.Limits(costly_per_code=3)
            refused = counter.admit("acme", "1234", "dave", True, NOW, limits)
            assert refused is cc.Reason.COSTLY_LIMIT
            assert counter.admit("acme", "5678", "dave", True, NOW, limits) is None
            counter.forget("acme", "1234")
            assert counter.admit("acme", "1234", "dave", True, NOW, limits) is None
        finally:
            counter.close()

    def test_the_file_holds_no_code(self, tmp_path: Path) -> None:
        """Codes are named by the given key: the code's digits are nowhere in the file."""
        path = tmp_path / "events.db"
        counter = SharedUseCounter(path, key)
        limits = cc.Limits(calls_per_code=5, concurrent_per_code=2)
        for i in range(3):
            counter.admit("acme", "48151623", "alice", True, NOW, limits, f"call-{i}")
        counter.close()
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert b"48151623" not in raw
        assert key("48151623").encode() in raw


class DialogKSR(FakeKSR):
    """The stand-in KSR with the dialog module: dlg_manage and one dialog variable per call."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.managed: list[str] = []
        self.variables: dict[tuple[str, str], str] = {}
        ksr = self

        class Dialog:
            def dlg_manage(self) -> int:
                ksr.managed.append(ksr.request.call_id)
                return 1

        self.dialog = Dialog()
        plain = self.pv

        class PV:
            def __getattr__(self, name: str) -> Any:
                return getattr(plain, name)

            def sets(self, name: str, value: str) -> None:
                if name.startswith("$dlg_var("):
                    ksr.variables[ksr.request.call_id, name] = value
                else:
                    plain.sets(name, value)

            def gete(self, name: str) -> str:
                if name.startswith("$dlg_var("):
                    return ksr.variables.get((ksr.request.call_id, name), "")
                return plain.gete(name)

        self.pv = PV()  # type: ignore[assignment]


class TestDialogEvents:
    @pytest.fixture
    def router(self, tmp_path: Path):
        with PolicyStore(tmp_path / "policy.db") as store:
            store.set_group(
                "acme",
                cc.GroupSettings(
                    mode="authorization",
                    mandatory_users={"1001"},
                    limits=cc.Limits(concurrent_per_code=1),
                ),
                actor="test",
            )
            store.add_codes("acme", ["1234"], actor="test")
        config = kam.KamailioConfig(
            store=tmp_path / "policy.db",
            events=tmp_path / "events.db",
            gateway="sip:192.0.2.10:5060",
            dial_plan=cc.DialPlan("US", extensions=["1000-1999"], outside_prefix="9"),
            group="acme",
            dialog=True,
        )
        ksr = DialogKSR(Request())
        router = kam.Router(config, ksr=ksr, clock=Clock(NOW))
        assert router.child_init(1) == 0
        yield ksr, router
        router.close()

    def invite(self, ksr: DialogKSR, router: kam.Router, call_id: str) -> DialogKSR:
        ksr.receive(Request(ruri_user="*71123491312555012", from_user="1001", call_id=call_id))
        assert router.ksr_request_route(None) == 1
        return ksr

    def test_a_call_counts_until_its_dialog_ends(self, router) -> None:
        """With one call at a time: the second is refused until the first one's end event."""
        ksr, route = router
        assert self.invite(ksr, route, "one").relayed
        assert ksr.managed == ["one"]
        assert self.invite(ksr, route, "two").replies == [
            (403, "Authorization code already in use")
        ]
        ksr.receive(Request(method="BYE", call_id="one"))
        assert route.ksr_dialog_event(None, "dialog:end") == 1
        assert self.invite(ksr, route, "three").relayed

    def test_other_events_and_unknown_calls_change_nothing(self, router) -> None:
        """A confirmed dialog is not an end; an end without the variable is ignored."""
        ksr, route = router
        assert self.invite(ksr, route, "one").relayed
        assert route.ksr_dialog_event(None, "dialog:start") == 1
        ksr.receive(Request(method="BYE", call_id="stranger"))
        assert route.ksr_dialog_event(None, "dialog:end") == 1
        assert self.invite(ksr, route, "two").replies[0][0] == 403
