"""End to end: a sipp caller, a real Kamailio running callcodes, a sipp gateway, on loopback.

Each scenario checks the final response the caller got (code and reason phrase), the INVITE
the gateway received (Request-URI and headers), and the events written to the store.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

import callcodes as cc
from callcodes.store import PolicyStore
from conftest import INTERNATIONAL, LOCAL, LOCK_AFTER, NATIONAL, Lab

pytestmark = pytest.mark.slow

RETRY = "; redial *71, the 4-digit code, then the number"


class TestAuthorizationCodes:
    def test_a_valid_dialed_code_connects_without_the_code(self, lab: Lab) -> None:
        """*71 1234 + number: 200; the gateway sees the bare number and no code anywhere."""
        got = lab.place(f"*711234{NATIONAL}", "1001", relayed=True)
        assert got.final.line == "200 OK"
        invite = got.invite
        assert invite.ruri_user == NATIONAL
        assert invite.header("X-Callcodes-Code") is None
        assert invite.header("X-Account-Code") is None
        assert invite.header("Record-Route") is not None
        assert invite.header("To") == f"<sip:{NATIONAL}@127.0.0.1:{lab.kamailio.port}>"
        head = invite.raw.split("\n\n")[0].replace(NATIONAL, "")
        # sipp writes its process id into tags, branches and the Call-ID: it may hold "1234".
        sipp_pid = re.search(r"tag=(\d+)SIPpTag", head)
        assert sipp_pid is not None
        assert "1234" not in head.replace(sipp_pid.group(1), "")
        (event,) = got.events
        assert (event.group, event.user, event.dialed) == ("acme", "1001", NATIONAL)
        assert (event.verdict, event.reason, event.call_type) == (
            cc.Verdict.ALLOW,
            cc.Reason.AUTHORIZED,
            cc.CallType.NATIONAL,
        )
        assert (event.code, event.masked, event.description) == (None, "****", "Sales")
        assert event.call_id

    def test_an_escaped_star_in_the_request_uri_is_read(self, lab: Lab) -> None:
        """INVITE sip:%2A711234...: the phone escaped the star; 200 with the bare number."""
        got = lab.place(f"%2A711234{NATIONAL}", "1001", relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == NATIONAL
        assert got.invite.header("To") == f"<sip:{NATIONAL}@127.0.0.1:{lab.kamailio.port}>"
        assert [(e.reason, e.dialed) for e in got.events] == [(cc.Reason.AUTHORIZED, NATIONAL)]

    def test_a_valid_code_in_the_header_connects(self, lab: Lab) -> None:
        """The code in X-Callcodes-Code: 200, and the header is not passed on."""
        got = lab.place(INTERNATIONAL, "1001", headers=("X-Callcodes-Code: 1234",), relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == INTERNATIONAL
        assert got.invite.header("X-Callcodes-Code") is None
        assert [e.reason for e in got.events] == [cc.Reason.AUTHORIZED]

    def test_an_invalid_code_is_refused_and_the_caller_may_redial(self, lab: Lab) -> None:
        """403 saying the code is invalid and how to redial; a redial with a valid code works."""
        got = lab.place(f"*719999{NATIONAL}", "1004", relayed=False)
        assert got.final.line == "403 Invalid authorization code" + RETRY
        (event,) = got.events
        assert (event.verdict, event.reason, event.retry, event.masked) == (
            cc.Verdict.BLOCK,
            cc.Reason.INVALID_CODE,
            True,
            "****",
        )
        again = lab.place(f"*711234{NATIONAL}", "1004", relayed=True)
        assert again.final.line == "200 OK"
        assert again.invite.ruri_user == NATIONAL

    def test_repeated_invalid_codes_lock_the_user_out(self, lab: Lab) -> None:
        """After LOCK_AFTER invalid codes, even a valid code is refused: locked out."""
        for _ in range(LOCK_AFTER):
            got = lab.place(f"*710000{NATIONAL}", "1001", relayed=False)
            assert got.final.status == 403
        got = lab.place(f"*711234{NATIONAL}", "1001", relayed=False)
        assert got.final.line == "403 Locked out after too many invalid codes"
        assert [e.reason for e in got.events] == [cc.Reason.LOCKED_OUT]
        with PolicyStore(lab.store) as admin:
            assert admin.unlock("acme", "1001", actor="admin")
        assert lab.place(f"*711234{NATIONAL}", "1001", relayed=True).final.status == 200

    def test_a_missing_code_is_required(self, lab: Lab) -> None:
        """A mandatory user without a code: 403 Authorization code required, nothing relayed."""
        got = lab.place(NATIONAL, "1004", relayed=False)
        assert got.final.line == "403 Authorization code required" + RETRY
        assert [(e.verdict, e.reason) for e in got.events] == [
            (cc.Verdict.BLOCK, cc.Reason.MISSING_CODE)
        ]


class TestAccountCodes:
    def test_a_listed_account_code_is_sent_to_the_gateway(self, lab: Lab) -> None:
        """globex: *71 5555 + number connects; the gateway gets X-Account-Code: 5555."""
        got = lab.place(f"*715555{NATIONAL}", "2001", domain="globex.example", relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == NATIONAL
        assert got.invite.headers_named("X-Account-Code") == ["5555"]
        (event,) = got.events
        assert (event.group, event.verdict, event.reason, event.code, event.description) == (
            "globex",
            cc.Verdict.LOG_ONLY,
            cc.Reason.ACCOUNT_CODE,
            "5555",
            "Project X",
        )

    def test_an_unlisted_account_code_is_sent_as_well(self, lab: Lab) -> None:
        """A well-formed code not on the list is tracked too; a caller's own header is replaced."""
        got = lab.place(
            NATIONAL,
            "2001",
            domain="globex.example",
            headers=("X-Callcodes-Code: 7777", "X-Account-Code: 0000"),
            relayed=True,
        )
        assert got.final.line == "200 OK"
        assert got.invite.headers_named("X-Account-Code") == ["7777"]
        assert got.invite.header("X-Callcodes-Code") is None
        (event,) = got.events
        assert (event.verdict, event.code, event.description) == (cc.Verdict.LOG_ONLY, "7777", None)


class TestOptionalUser:
    def test_without_the_prefix_the_call_goes_through(self, lab: Lab) -> None:
        """Optional user 1002 dials a national number plainly: 200, no code recorded."""
        got = lab.place(NATIONAL, "1002", relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == NATIONAL
        assert [(e.reason, e.masked) for e in got.events] == [(cc.Reason.NO_CODE_OPTIONAL, None)]

    def test_with_the_prefix_the_code_is_judged(self, lab: Lab) -> None:
        """A code entered by an optional user is judged like any other: valid connects."""
        got = lab.place(f"*711234{NATIONAL}", "1002", relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == NATIONAL
        assert [e.reason for e in got.events] == [cc.Reason.AUTHORIZED]
        refused = lab.place(f"*718888{NATIONAL}", "1002", relayed=False)
        assert refused.final.line == "403 Invalid authorization code" + RETRY


class TestCallsWithoutCodes:
    def test_an_emergency_call_of_a_locked_out_user_connects(self, lab: Lab) -> None:
        """User 1003 is locked out, yet 911 connects; a national call does not."""
        assert lab.place(f"*711234{NATIONAL}", "1003", relayed=False).final.status == 403
        got = lab.place("911", "1003", relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == "911"
        (event,) = got.events
        assert (event.verdict, event.reason, event.call_type) == (
            cc.Verdict.ALLOW,
            cc.Reason.EMERGENCY,
            cc.CallType.EMERGENCY,
        )

    def test_an_internal_call_needs_no_code(self, lab: Lab) -> None:
        """An extension of the group: 200 without a code."""
        got = lab.place("1500", "1004", relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == "1500"
        assert [(e.reason, e.call_type) for e in got.events] == [
            (cc.Reason.INTERNAL_CALL, cc.CallType.INTERNAL)
        ]

    def test_an_exempt_local_call_needs_no_code(self, lab: Lab) -> None:
        """acme exempts local calls: a 212 number connects without a code."""
        got = lab.place(LOCAL, "1004", relayed=True)
        assert got.final.line == "200 OK"
        assert got.invite.ruri_user == LOCAL
        assert [(e.reason, e.call_type) for e in got.events] == [
            (cc.Reason.EXEMPT_CALL_TYPE, cc.CallType.LOCAL)
        ]


class TestOperation:
    def test_a_new_code_applies_without_a_restart(self, lab: Lab) -> None:
        """A code an administrator adds while Kamailio runs authorizes the next calls."""
        assert lab.place(f"*714321{NATIONAL}", "1004", relayed=False).final.status == 403
        with PolicyStore(lab.store) as admin:
            admin.add_codes("acme", [cc.CodeEntry("4321", "New")], actor="admin")
        for _ in range(3):  # whichever worker takes the call
            got = lab.place(f"*714321{NATIONAL}", "1004", relayed=True)
            assert got.final.line == "200 OK"
            assert [e.description for e in got.events] == ["New"]

    def test_an_event_log_failure_fails_closed_except_for_emergencies(self, lab: Lab) -> None:
        """While the event log cannot be written: 500 for a normal call, 911 still connects."""
        with sqlite3.connect(lab.events_path) as conn:
            conn.execute("ALTER TABLE events RENAME TO events_away")
        try:
            got = lab.place(f"*711234{NATIONAL}", "1001", relayed=False, read_events=False)
            assert got.final.line == "500 Code check failed"
            emergency = lab.place("911", "1001", relayed=True, read_events=False)
            assert emergency.final.line == "200 OK"
            assert emergency.invite.ruri_user == "911"
        finally:
            with sqlite3.connect(lab.events_path) as conn:
                conn.execute("ALTER TABLE events_away RENAME TO events")
        assert "Code check failed" not in lab.place("1500", "1001", relayed=True).final.line
        assert "callcodes check of INVITE" in lab.kamailio.log_text()
