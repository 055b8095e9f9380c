"""callcodes.testing: the helpers integrators test with keep their word, without test packages."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import callcodes as cc
from callcodes.integrations import kamailio as kam
from callcodes.store import PolicyStore
from callcodes.testing import (
    START,
    Clock,
    FakeKSR,
    Request,
    make_book,
    make_store,
    recording_engine,
)

NATIONAL = "913125550123"
PLAN = cc.DialPlan("US", extensions=["1000-1999"], outside_prefix="9")


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


class TestIsolation:
    def test_import_callcodes_does_not_load_it(self) -> None:
        """The helpers stay out of production processes."""
        assert run("import sys, callcodes; print('callcodes.testing' in sys.modules)") == "False"

    def test_it_needs_no_test_package(self) -> None:
        """Importing it loads neither pytest nor hypothesis."""
        code = (
            "import sys, callcodes.testing; "
            "print(sorted(m for m in ('pytest', 'hypothesis', '_pytest') if m in sys.modules))"
        )
        assert run(code) == "[]"


class TestClock:
    def test_stands_still_until_moved(self) -> None:
        """Each reading gives the same time; set and advance move it."""
        clock = Clock()
        assert clock() == clock() == clock.now == START
        assert clock.advance(minutes=3) == START + timedelta(minutes=3)
        assert clock.advance(timedelta(seconds=1)) == START + timedelta(minutes=3, seconds=1)
        clock.set(START - timedelta(days=1))
        assert clock() == START - timedelta(days=1)
        assert "2026-03-01" in repr(clock)

    def test_refuses_naive_times(self) -> None:
        """A time without an offset is refused, naming the argument."""
        with pytest.raises(cc.InvalidValueError, match=r"^start="):
            Clock(datetime(2026, 1, 1))  # noqa: DTZ001
        with pytest.raises(cc.InvalidValueError, match=r"^when="):
            Clock().set(datetime(2026, 1, 1))  # noqa: DTZ001
        with pytest.raises(cc.InvalidValueError, match=r"^by="):
            Clock().advance(3)  # type: ignore[arg-type]

    def test_drives_an_engine(self) -> None:
        """A lock lasts its 30 minutes on the test clock, not the wall clock."""
        clock = Clock()
        book = make_book(mandatory={"alice"}, lockout=cc.Lockout(user_attempts=1))
        engine, _ = recording_engine(book, clock=clock)
        call = cc.Call("acme", "alice", NATIONAL, cc.CallType.NATIONAL)
        assert engine.decide(call, "9999").reason is cc.Reason.INVALID_CODE
        assert engine.decide(call, "1234").reason is cc.Reason.LOCKED_OUT
        clock.advance(minutes=30)
        assert engine.decide(call, "1234").reason is cc.Reason.AUTHORIZED


class TestPolicy:
    def test_an_authorization_group_in_one_call(self) -> None:
        """Codes, mandatory and optional users, and other settings as keywords."""
        codes = ["123456", cc.CodeEntry("654321", "Sales")]
        book = make_book(
            "globex", codes=codes, code_length=6, mandatory=["alice"], optional=["bob"]
        )
        settings = book.group("globex")
        assert settings.mode is cc.Mode.AUTHORIZATION
        assert (settings.mandatory_users, settings.optional_users) == ({"alice"}, {"bob"})
        assert [entry.code for entry in book.codes("globex", limit=None)] == ["123456", "654321"]

    def test_an_account_group(self) -> None:
        """Mode given by name or member."""
        assert make_book(mode="account").group("acme").mode is cc.Mode.ACCOUNT
        assert make_book(mode=cc.Mode.ACCOUNT, codes=()).count("acme") == 0

    def test_bad_values_are_refused_by_name(self) -> None:
        """One string of users, users twice, a setting given two ways."""
        with pytest.raises(cc.InvalidValueError, match="one string"):
            make_book(mandatory="alice")
        with pytest.raises(cc.InvalidValueError, match="optional_users"):
            make_book(mandatory={"alice"}, optional={"alice"})
        with pytest.raises(cc.InvalidValueError, match=r"^mode="):
            make_book(mode="sometimes")
        with pytest.raises(cc.InvalidValueError, match="mandatory_users"):
            make_book(mandatory_users=frozenset({"alice"}))

    def test_a_store_holds_the_book_and_plans(self, tmp_path: Path) -> None:
        """Settings, codes, use counts, locks and dial plans reach the store file."""
        book = make_book(
            mandatory={"alice"}, codes=[cc.CodeEntry("1234", max_uses=3)], code_length=4
        )
        book.consume("acme", "1234")
        book.lock(cc.Lock("acme", "bob", START))
        path = make_store(tmp_path / "policy.db", book, plans={"acme": PLAN})
        with PolicyStore(path) as store:
            loaded = store.load()
            assert loaded.group("acme") == book.group("acme")
            assert loaded.uses("acme", "1234") == 1
            assert [held.user for held in store.locks("acme")] == ["bob"]
            assert store.dialplan("acme") == PLAN
            assert {record.actor for record in store.audit()} == {"callcodes.testing"}

    def test_a_default_store(self, tmp_path: Path) -> None:
        """Without a book: group acme with code 1234."""
        with PolicyStore(make_store(tmp_path / "p.db")) as store:
            assert store.get("acme", "1234") is not None


class TestRecordingEngine:
    def test_events_are_captured(self) -> None:
        """Each decision is in the memory sink, in order; clear starts afresh."""
        engine, sink = recording_engine(make_book(mandatory={"alice"}), clock=Clock())
        call = cc.Call("acme", "alice", NATIONAL, cc.CallType.NATIONAL)
        engine.decide(call, "1234")
        engine.decide(call)
        assert [event.reason for event in sink.events()] == [
            cc.Reason.AUTHORIZED,
            cc.Reason.MISSING_CODE,
        ]
        assert sink.events()[0].time == START
        sink.clear()
        assert sink.events() == []

    def test_engine_options_pass_through(self) -> None:
        """on_lock, tracker... reach the engine."""
        shared = cc.FailureTracker()
        engine, _ = recording_engine(tracker=shared, capacity=10)
        assert engine.tracker is shared


class TestFakeKSR:
    def test_runs_the_router(self, tmp_path: Path) -> None:
        """The Kamailio router, its store made by make_store, answers through the fake KSR."""
        store = make_store(tmp_path / "policy.db", make_book(mandatory={"1001"}))
        config = kam.KamailioConfig(
            store=store, events=tmp_path / "events.db", gateway="sip:gw", dial_plan=PLAN
        )
        ksr = FakeKSR()
        router = kam.Router(config, ksr=ksr, clock=Clock())
        try:
            assert router.child_init(1) == 0
            ksr.receive(Request(ruri_user=f"*711234{NATIONAL}", from_domain="acme"))
            router.ksr_request_route(None)
            assert ksr.status == 0
            assert ksr.relayed[0].ruri_user == NATIONAL
            assert ksr.relayed[0].to_uri == f"sip:{NATIONAL}@proxy.example:5060"
            ksr.receive(Request(ruri_user=NATIONAL, from_domain="acme"))
            router.ksr_request_route(None)
            assert ksr.status == 403
        finally:
            router.close()

    def test_records_what_the_proxy_did(self) -> None:
        """Replies, relays, header changes and logs are kept; receive forgets them."""
        ksr = FakeKSR(Request(ruri_user="100", headers=[("X-A", "1")]))
        assert ksr.is_INVITE()
        assert not ksr.is_ACK()
        assert ksr.pv.get("$hdr(x-a)") == "1"
        assert ksr.hdr.append("X-B: 2\r\n") == 1
        assert ksr.hdr.remove("X-A") == 1
        assert ksr.hdr.remove("X-A") == -1
        ksr.pv.sets("$du", "sip:gw")
        assert ksr.tm.t_relay() == 1
        assert ksr.relayed[0].header("x-b") == "2"
        assert ksr.relayed[0].destination == "sip:gw"
        ksr.warn("careful\n")
        assert ksr.status == 0
        ksr.sl.send_reply(404, "Not Here")
        assert ksr.status == 404
        ksr.receive(Request())
        assert (ksr.replies, ksr.relayed, ksr.logs, ksr.status) == ([], [], [], None)

    def test_reads_the_caller_from_pai_and_tel_uris(self) -> None:
        """P-Asserted-Identity's user and host; a tel: URI has a user but no host."""
        ksr = FakeKSR(Request(pai="sip:+15550001@acme.example;user=phone"))
        assert (ksr.pv.gete("$(ai{uri.user})"), ksr.pv.gete("$(ai{uri.host})")) == (
            "+15550001",
            "acme.example",
        )
        ksr.receive(Request(pai="tel:+15550001;phone-context=x"))
        assert (ksr.pv.gete("$(ai{uri.user})"), ksr.pv.gete("$(ai{uri.host})")) == (
            "+15550001",
            "",
        )

    def test_injects_failures_and_refuses_what_kamailio_would(self) -> None:
        """Named calls fail on demand; a reply phrase with a line break, or a header without
        its CRLF, is refused; an unknown pseudo-variable is a LookupError."""
        ksr = FakeKSR(fail={"hdr.append"})
        with pytest.raises(RuntimeError, match=r"KSR\.hdr\.append"):
            ksr.hdr.append("X-A: 1\r\n")
        with pytest.raises(ValueError, match="one line"):
            ksr.sl.send_reply(403, "no\r\nway")
        with pytest.raises(ValueError, match="CRLF"):
            FakeKSR().hdr.append("X-A: 1")
        with pytest.raises(LookupError):
            ksr.pv.gete("$xyz")
        with pytest.raises(LookupError):
            ksr.pv.sets("$fU", "1")

    def test_the_clock_is_utc(self) -> None:
        """START is a fixed, aware time."""
        assert START.tzinfo is UTC
