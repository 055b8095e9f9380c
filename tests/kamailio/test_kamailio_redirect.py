"""Forwarded calls through Kamailio: Diversion and History-Info name the redirecting user.

The parser alone, the router on a stand-in KSR with a real store, and end to end: a sipp caller
from outside, whose call a user of group acme forwarded, through a real Kamailio to a sipp
gateway. The forwarding attacker (forward your own line to an international number, then dial
your own DID from outside) is refused; what the user could dial without a code still passes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_kamailio_router import make_store

import callcodes as cc
from callcodes.integrations import kamailio as kam
from callcodes.integrations.kamailio._redirect import MAX_HEADER, redirector
from callcodes.testing import Clock, FakeKSR, Request
from conftest import INTERNATIONAL, LOCAL, Lab

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class TestParser:
    """redirector() reads the user who redirected, and nobody from what it cannot read."""

    @pytest.mark.parametrize(
        ("diversion", "history", "expected"),
        [
            ("<sip:1001@acme.example>;reason=unconditional", None, ("1001", "acme.example")),
            ("<sip:1001@ACME.example:5060;user=phone>;reason=user-busy;counter=1", None,
             ("1001", "acme.example")),
            ('"Alice, Sales" <sip:1001@acme.example>, <sip:1002@acme.example>', None,
             ("1001", "acme.example")),
            ("sip:%31001@acme.example;reason=no-answer", None, ("1001", "acme.example")),
            (None, "<sip:+15550009@pbx.example>;index=1, <sip:1001@acme.example?Reason=SIP"
             "%3Bcause%3D302>;index=1.1, <sip:9011442079460958@acme.example;cause=302>"
             ";index=1.1.1", ("1001", "acme.example")),
            ("<sip:1002@acme.example>", "<sip:1001@acme.example>;index=1, <sip:x@y>;index=1.1",
             ("1002", "acme.example")),
            (None, "<sip:1001@acme.example>;index=1", None),  # nobody redirected yet
            ("<tel:+15550001>", None, None),
            ("garbage <<<", None, None),
            ("", "", None),
            ("<sip:1001@acme.example>" + " " * MAX_HEADER, None, None),
        ],
    )  # fmt: skip
    def test_headers(
        self, diversion: str | None, history: str | None, expected: tuple[str, str] | None
    ) -> None:
        """Each header value names the user and host shown, or nobody."""
        assert redirector(diversion, history) == expected

    @given(st.none() | st.text(max_size=300), st.none() | st.text(max_size=300))
    def test_never_raises_on_any_text(self, diversion: str | None, history: str | None) -> None:
        """Whatever the headers hold, the answer is a (user, host) pair or None."""
        found = redirector(diversion, history)
        assert found is None or (isinstance(found[0], str) and found[0] and found[1])


class TestRouter:
    """The router judges a forwarded leg as its redirecting user's, with a stand-in KSR."""

    @pytest.fixture
    def harness(self, tmp_path: Path):
        make_store(tmp_path / "policy.db")
        config = kam.KamailioConfig(
            store=tmp_path / "policy.db",
            events=tmp_path / "events.db",
            gateway="sip:192.0.2.10:5060",
            dial_plan=cc.DialPlan("US", extensions=["1000-1999"], outside_prefix="9"),
            domains={"acme.example": "acme"},
        )
        ksr = FakeKSR(Request())
        router = kam.Router(config, ksr=ksr, clock=Clock(NOW))
        assert router.child_init(1) == 0
        yield ksr, router, config.events
        router.close()

    def send(self, harness, caller: str, domain: str, diversion: str | None) -> FakeKSR:
        ksr, router, _ = harness
        headers = [] if diversion is None else [("Diversion", diversion)]
        ksr.receive(
            Request(ruri_user=INTERNATIONAL, from_user=caller, from_domain=domain, headers=headers)
        )
        assert router.ksr_request_route(None) == 1
        return ksr

    def test_a_forward_to_an_international_number_is_refused(self, harness) -> None:
        """From outside, forwarded by mandatory 1001: 403, recorded as 1001's blocked leg."""
        ksr = self.send(harness, "+442071234567", "carrier.example", "<sip:1001@acme.example>")
        assert ksr.replies == [(403, "Forwarded call not allowed")]
        (event,) = cc.read_events(harness[2])
        assert (event.group, event.user, event.reason) == (
            "acme",
            "1001",
            cc.Reason.REDIRECT_BLOCKED,
        )

    def test_without_diversion_the_outside_caller_is_not_judged_as_a_user(self, harness) -> None:
        """The same INVITE without Diversion: the caller's own (unknown) group lets it through."""
        ksr = self.send(harness, "+442071234567", "carrier.example", None)
        assert ksr.replies == []
        assert ksr.relayed

    def test_an_enrolled_caller_cannot_escape_its_policy_with_a_header(self, harness) -> None:
        """1001 itself names optional 1002 in Diversion: still judged as 1001 (code needed)."""
        ksr = self.send(harness, "1001", "acme.example", "<sip:1002@acme.example>")
        assert ksr.replies[0][0] == 403
        (event,) = cc.read_events(harness[2])
        assert (event.user, event.reason) == ("1001", cc.Reason.MISSING_CODE)

    def test_an_optional_users_forward_gets_what_it_could_dial(self, harness) -> None:
        """Forwarded by optional 1002 under the default: allowed, as 1002 may dial it codeless."""
        ksr = self.send(harness, "+442071234567", "carrier.example", "<sip:1002@acme.example>")
        assert ksr.relayed
        (event,) = cc.read_events(harness[2])
        assert (event.user, event.reason) == ("1002", cc.Reason.NO_CODE_OPTIONAL)


@pytest.mark.slow
class TestEndToEnd:
    """sipp from outside, forwarded by a user of acme, through a real Kamailio."""

    def test_a_forwarded_call_to_an_international_number_is_refused(self, lab: Lab) -> None:
        """The forwarding attacker: 403, no INVITE reaches the gateway, 1001's leg recorded."""
        got = lab.place(
            INTERNATIONAL,
            "442071234567",
            domain="carrier.example",
            headers=("Diversion: <sip:1001@acme.example>;reason=unconditional",),
            relayed=False,
        )
        assert got.final.line == "403 Forwarded call not allowed"
        assert [(e.group, e.user, e.reason) for e in got.events] == [
            ("acme", "1001", cc.Reason.REDIRECT_BLOCKED)
        ]

    def test_history_info_names_the_redirecting_user_too(self, lab: Lab) -> None:
        """History-Info alone, entries in two header lines: the same refusal."""
        got = lab.place(
            INTERNATIONAL,
            "442071234567",
            domain="carrier.example",
            headers=(
                "History-Info: <sip:1001@acme.example>;index=1",
                f"History-Info: <sip:{INTERNATIONAL}@acme.example;cause=302>;index=1.1",
            ),
            relayed=False,
        )
        assert got.final.line == "403 Forwarded call not allowed"
        assert [(e.user, e.reason) for e in got.events] == [("1001", cc.Reason.REDIRECT_BLOCKED)]

    def test_a_forward_to_a_local_number_passes(self, lab: Lab) -> None:
        """A forward to a call type that needs no code is relayed: 200, 1001's leg allowed."""
        got = lab.place(
            LOCAL,
            "442071234567",
            domain="carrier.example",
            headers=("Diversion: <sip:1001@acme.example>;reason=no-answer",),
            relayed=True,
        )
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == LOCAL
        assert [(e.user, e.reason) for e in got.events] == [("1001", cc.Reason.EXEMPT_CALL_TYPE)]
