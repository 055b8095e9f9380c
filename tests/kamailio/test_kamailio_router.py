"""The Kamailio router's logic with a stand-in KSR, a real policy store and a real event log."""

from __future__ import annotations

import gc
import sqlite3
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callcodes as cc
from callcodes.dialplan import _numbertables as numbertables
from callcodes.integrations import kamailio as kam
from callcodes.store import PolicyStore
from callcodes.testing import Clock, FakeKSR, Request

ROOT = Path(__file__).resolve().parent.parent.parent
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PLAN = cc.DialPlan("US", extensions=["1000-1999"], outside_prefix="9", local_prefixes=["212"])
NATIONAL = "913125550123"
LOCAL = "912125550123"
INTERNATIONAL = "9011442079460958"


def make_store(path: Path) -> None:
    """Group acme (authorization) and group globex (account), as the e2e tests use them."""
    with PolicyStore(path) as store:
        store.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION,
                allow_local_and_toll_free=True,
                mandatory_users=frozenset({"1001", "1003", "+15550001"}),
                optional_users=frozenset({"1002"}),
            ),
            actor="test",
        )
        store.add_codes("acme", [cc.CodeEntry("1234", "Sales"), cc.CodeEntry("0042")], actor="t")
        store.set_group(
            "globex",
            cc.GroupSettings(mode=cc.Mode.ACCOUNT, mandatory_users=frozenset({"2001"})),
            actor="test",
        )
        store.add_codes("globex", [cc.CodeEntry("5555", "Project X")], actor="test")
        store.lock(cc.Lock("acme", "1003", NOW - timedelta(minutes=1)), actor="test")


@pytest.fixture
def config(tmp_path: Path) -> kam.KamailioConfig:
    make_store(tmp_path / "policy.db")
    return kam.KamailioConfig(
        store=tmp_path / "policy.db",
        events=tmp_path / "events.db",
        gateway="sip:192.0.2.10:5060",
        dial_plan=PLAN,
        domains={"globex.example": "globex", "acme.example": "acme"},
    )


class Harness:
    """A router opened on a fake KSR, and a way to send it requests."""

    def __init__(self, config: kam.KamailioConfig) -> None:
        self.ksr = FakeKSR(Request())
        self.router = kam.Router(config, ksr=self.ksr, clock=Clock(NOW))
        self.events_path = config.events

    def invite(
        self,
        dialed: str,
        user: str = "1001",
        domain: str = "acme.example",
        headers: list[tuple[str, str]] | None = None,
        **fields: object,
    ) -> FakeKSR:
        request = Request(
            ruri_user=dialed, from_user=user, from_domain=domain, headers=headers or [], **fields
        )
        self.ksr.receive(request)
        assert self.router.ksr_request_route(None) == 1
        return self.ksr

    def events(self) -> list[cc.Event]:
        return list(cc.read_events(self.events_path))


@pytest.fixture
def harness(config: kam.KamailioConfig):
    found = Harness(config)
    assert found.router.child_init(1) == 0
    yield found
    found.router.close()


class TestConfig:
    def test_the_example_configuration_is_valid(self) -> None:
        """examples/kamailio/callcodes.toml reads into a configuration as its comments say."""
        config = kam.KamailioConfig.from_file(ROOT / "examples" / "kamailio" / "callcodes.toml")
        assert config.group == "acme"
        assert config.code_header == "X-Callcodes-Code"
        assert config.account_header == "X-Account-Code"
        assert config.dial_plan.region == "US"
        assert config.store == Path("/var/lib/callcodes/policy.db")

    def test_relative_paths_are_taken_from_the_file_folder(self, tmp_path: Path) -> None:
        """A relative store path in the file is relative to the file, not to the process."""
        path = tmp_path / "callcodes.toml"
        text = 'store = "p.db"\nevents = "/e.db"\ngateway = "sip:gw"\n[dial_plan]\nregion = "GB"\n'
        path.write_text(text)
        config = kam.KamailioConfig.from_file(path)
        assert config.store == tmp_path / "p.db"
        assert config.events == Path("/e.db")
        assert config.dial_plan.region == "GB"

    def test_unknown_and_missing_settings_are_named(self) -> None:
        """A misspelt setting and the missing required ones are reported by name."""
        with pytest.raises(cc.InvalidValueError, match="gatway") as info:
            kam.KamailioConfig.from_dict({"gatway": "sip:x"})
        assert "account_header" in str(info.value)
        with pytest.raises(cc.InvalidValueError, match="events"):
            kam.KamailioConfig.from_dict({"store": "a", "gateway": "sip:x", "dial_plan": {}})

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("gateway", "192.0.2.1"),
            ("gateway", "sip:"),
            ("code_header", "X Code"),
            ("account_header", ""),
            ("caller", "to"),
            ("refresh_ms", -1),
            ("sync_every", 0),
            ("group", " acme"),
            ("record_route", "yes"),
            ("hide_code_in_to", 1),
            ("domains", {"": "acme"}),
            ("dial_plan", "US"),
        ],
    )
    def test_bad_values_name_their_setting(self, name: str, value: object) -> None:
        """Each bad value is refused with an error that names the setting."""
        data = {"store": "p.db", "events": "e.db", "gateway": "sip:gw", "dial_plan": PLAN}
        with pytest.raises(cc.InvalidValueError, match=name):
            kam.KamailioConfig(**{**data, name: value})  # type: ignore[arg-type]

    def test_the_event_log_needs_a_file_of_its_own(self, tmp_path: Path) -> None:
        """The store's own file is refused as the event log, also written differently."""
        with pytest.raises(cc.InvalidValueError, match="file of its own"):
            kam.KamailioConfig(
                store=tmp_path / "p.db",
                events=tmp_path / "x" / ".." / "p.db",
                gateway="sip:gw",
                dial_plan=PLAN,
            )

    def test_events_in_postgresql_need_a_spool_folder(self, tmp_path: Path) -> None:
        """A database URL is kept as given; the events there need a local spool folder."""
        url = "postgresql://callcodes@db.example/callcodes"
        with pytest.raises(cc.InvalidValueError, match="spool"):
            kam.KamailioConfig(store=url, events=url, gateway="sip:gw", dial_plan=PLAN)
        config = kam.KamailioConfig.from_dict(
            {"store": url, "events": url, "spool": "spool", "node": "edge-1"}
            | {"gateway": "sip:gw", "dial_plan": PLAN},
            base=tmp_path,
        )
        assert (config.store, config.events) == (url, url)
        assert (config.spool, config.node) == (tmp_path / "spool", "edge-1")
        with pytest.raises(cc.InvalidValueError, match="node"):
            kam.KamailioConfig(
                store=url, events=url, spool=tmp_path, node="", gateway="sip:gw", dial_plan=PLAN
            )

    def test_an_sqlite_log_may_have_a_spool_folder(self, tmp_path: Path) -> None:
        config = kam.KamailioConfig.from_dict(
            {"store": "policy.db", "events": "events.db", "spool": "spool"}
            | {"gateway": "sip:gw", "dial_plan": PLAN},
            base=tmp_path,
        )
        assert (config.events, config.spool) == (tmp_path / "events.db", tmp_path / "spool")

    def test_a_missing_store_stops_the_start(self, tmp_path: Path) -> None:
        """Router.from_file refuses a store file that does not exist (no empty store appears)."""
        path = tmp_path / "callcodes.toml"
        path.write_text('store = "nope.db"\nevents = "e.db"\ngateway = "sip:gw"\n[dial_plan]\n')
        path.write_text(path.read_text() + 'region = "US"\n')
        with pytest.raises(cc.InvalidValueError, match="no such policy store"):
            kam.Router.from_file(path)
        assert not (tmp_path / "nope.db").exists()

    def test_the_router_imports_without_kamailio(self, config: kam.KamailioConfig) -> None:
        """Outside Kamailio, asking for KSR says how to pass one instead of failing obscurely."""
        with pytest.raises(cc.InvalidValueError, match="pass ksr="):
            _ = kam.Router(config).ksr


class TestReasonPhrase:
    def test_every_blocking_reason_has_its_phrase(self) -> None:
        """Each reason decide() can block with has a phrase of its own."""
        blocking = {
            r for rule in cc.RULES if rule.verdict is cc.Verdict.BLOCK for r in rule.reasons
        }
        assert blocking <= set(kam.REASON_PHRASES)
        assert len(set(kam.REASON_PHRASES.values())) == len(kam.REASON_PHRASES)

    def test_a_retry_says_how_to_redial(self) -> None:
        """With retry, the phrase names the group's prefix and code length."""
        group = cc.GroupSettings(code_length=6, code_prefix="*55")
        decision = cc.Decision(cc.Verdict.BLOCK, cc.Reason.INVALID_CODE, retry=True)
        assert kam.reason_phrase(decision, group) == (
            "Invalid authorization code; redial *55, the 6-digit code, then the number"
        )
        final = cc.Decision(cc.Verdict.BLOCK, cc.Reason.LOCKED_OUT)
        assert kam.reason_phrase(final, group) == "Locked out after too many invalid codes"

    @given(st.sampled_from(list(cc.Reason)), st.booleans(), st.integers(2, 14))
    def test_phrases_fit_a_status_line(self, reason: cc.Reason, retry: bool, length: int) -> None:
        """Every phrase is printable ASCII without CR or LF, as a SIP status line needs."""
        decision = cc.Decision(cc.Verdict.BLOCK, reason, retry=retry)
        phrase = kam.reason_phrase(decision, cc.GroupSettings(code_length=length))
        assert phrase
        assert set(phrase) <= set(string.printable) - set("\r\n\t\x0b\x0c")


class TestAuthorization:
    def test_a_valid_dialed_code_is_stripped_and_relayed(self, harness: Harness) -> None:
        """*71 + valid code + number: relayed to the gateway with only the number."""
        ksr = harness.invite(f"*711234{NATIONAL}")
        assert ksr.status == 0
        (sent,) = ksr.relayed
        assert sent.ruri_user == NATIONAL
        assert sent.to_uri == f"sip:{NATIONAL}@proxy.example:5060"
        assert sent.destination == "sip:192.0.2.10:5060"
        assert sent.record_routed
        assert sent.header("X-Account-Code") is None
        (event,) = harness.events()
        assert (event.verdict, event.reason, event.code) == (
            cc.Verdict.ALLOW,
            cc.Reason.AUTHORIZED,
            None,
        )
        assert (event.masked, event.description) == ("****", "Sales")
        assert (event.dialed, event.call_type, event.user) == (
            NATIONAL,
            cc.CallType.NATIONAL,
            "1001",
        )

    def test_a_code_in_the_header_is_removed_before_relaying(self, harness: Harness) -> None:
        """The code header authorizes the call and never reaches the gateway."""
        ksr = harness.invite(INTERNATIONAL, headers=[("X-Callcodes-Code", " 0042 ")])
        (sent,) = ksr.relayed
        assert sent.ruri_user == INTERNATIONAL
        assert sent.header("X-Callcodes-Code") is None
        assert harness.events()[0].reason is cc.Reason.AUTHORIZED

    def test_an_invalid_code_is_refused_with_a_retry(self, harness: Harness) -> None:
        """A code not on the list: 403 that says why and how to redial; nothing relayed."""
        ksr = harness.invite(f"*719999{NATIONAL}")
        assert ksr.relayed == []
        assert ksr.replies == [
            (403, "Invalid authorization code; redial *71, the 4-digit code, then the number")
        ]
        (event,) = harness.events()
        assert (event.verdict, event.reason, event.retry) == (
            cc.Verdict.BLOCK,
            cc.Reason.INVALID_CODE,
            True,
        )

    def test_a_missing_code_is_required(self, harness: Harness) -> None:
        """A mandatory user dialing without a code gets 403 Authorization code required."""
        ksr = harness.invite(NATIONAL)
        assert ksr.replies[0][0] == 403
        assert ksr.replies[0][1].startswith("Authorization code required; redial *71")
        assert harness.events()[0].reason is cc.Reason.MISSING_CODE

    def test_a_short_dialed_code_is_malformed(self, harness: Harness) -> None:
        """*71 and a code with a character other than a digit is judged as a malformed code."""
        ksr = harness.invite(f"*7112#4{NATIONAL}")
        assert ksr.replies[0][1].startswith("Malformed authorization code")

    def test_a_locked_out_user_is_refused_without_retry(self, harness: Harness) -> None:
        """Even a valid code is refused while the user is locked out."""
        ksr = harness.invite(f"*711234{NATIONAL}", user="1003")
        assert ksr.replies == [(403, "Locked out after too many invalid codes")]

    def test_an_emergency_call_of_a_locked_out_user_is_relayed(self, harness: Harness) -> None:
        """911 from a locked-out user goes through, and is recorded as an emergency."""
        ksr = harness.invite("911", user="1003")
        assert ksr.relayed[0].ruri_user == "911"
        (event,) = harness.events()
        assert (event.verdict, event.reason) == (cc.Verdict.ALLOW, cc.Reason.EMERGENCY)

    def test_an_emergency_number_after_a_code_is_relayed_bare(self, harness: Harness) -> None:
        """*71 + a wrong code + 911 still reaches 911, without the prefix and code."""
        ksr = harness.invite("*719999911", user="1003")
        assert ksr.relayed[0].ruri_user == "911"

    def test_internal_and_exempt_calls_need_no_code(self, harness: Harness) -> None:
        """An extension and a local number (exempt) pass without a code."""
        assert harness.invite("1500").relayed[0].ruri_user == "1500"
        assert harness.invite(LOCAL).relayed[0].ruri_user == LOCAL
        reasons = [event.reason for event in harness.events()]
        assert reasons == [cc.Reason.INTERNAL_CALL, cc.Reason.EXEMPT_CALL_TYPE]

    def test_an_optional_user_may_dial_with_or_without_a_code(self, harness: Harness) -> None:
        """User 1002 is optional: no prefix passes; a valid prefix passes stripped."""
        assert harness.invite(NATIONAL, user="1002").relayed[0].ruri_user == NATIONAL
        assert harness.invite(f"*710042{NATIONAL}", user="1002").relayed[0].ruri_user == NATIONAL
        assert harness.invite(f"*710041{NATIONAL}", user="1002").replies[0][0] == 403
        reasons = [event.reason for event in harness.events()]
        assert reasons == [cc.Reason.NO_CODE_OPTIONAL, cc.Reason.AUTHORIZED, cc.Reason.INVALID_CODE]

    def test_a_user_on_no_list_is_not_asked(self, harness: Harness) -> None:
        """A user on neither list calls out without a code."""
        assert harness.invite(NATIONAL, user="1999").relayed[0].ruri_user == NATIONAL


class TestAccount:
    def test_a_listed_account_code_goes_in_a_header(self, harness: Harness) -> None:
        """The gateway gets X-Account-Code with the code; the event keeps it in clear."""
        ksr = harness.invite(f"*715555{NATIONAL}", user="2001", domain="globex.example")
        (sent,) = ksr.relayed
        assert (sent.ruri_user, sent.header("X-Account-Code")) == (NATIONAL, "5555")
        (event,) = harness.events()
        assert (event.group, event.verdict, event.code, event.description) == (
            "globex",
            cc.Verdict.LOG_ONLY,
            "5555",
            "Project X",
        )

    def test_an_unlisted_account_code_is_sent_too(self, harness: Harness) -> None:
        """Account codes are not checked: a well-formed code not on the list is sent as well."""
        headers = [("X-Callcodes-Code", "7777")]
        ksr = harness.invite(NATIONAL, user="2001", domain="globex.example", headers=headers)
        assert ksr.relayed[0].header("X-Account-Code") == "7777"
        assert ksr.relayed[0].header("X-Callcodes-Code") is None

    def test_a_missing_account_code_never_blocks(self, harness: Harness) -> None:
        """No code: the call goes on without the header, logged as a missing code."""
        ksr = harness.invite(NATIONAL, user="2001", domain="globex.example")
        assert ksr.relayed[0].header("X-Account-Code") is None
        (event,) = harness.events()
        assert (event.verdict, event.reason) == (cc.Verdict.LOG_ONLY, cc.Reason.MISSING_CODE)

    def test_a_caller_cannot_choose_the_account_header(self, harness: Harness) -> None:
        """An X-Account-Code sent by the caller is removed: only the proxy sets it."""
        spoof = [("X-Account-Code", "0000")]
        ksr = harness.invite(
            f"*715555{NATIONAL}", user="2001", domain="GLOBEX.example", headers=spoof
        )
        assert ksr.relayed[0].headers.count(("X-Account-Code", "5555")) == 1
        assert ("X-Account-Code", "0000") not in ksr.relayed[0].headers
        ksr = harness.invite("1500", user="2001", domain="globex.example", headers=spoof)
        assert ksr.relayed[0].header("X-Account-Code") is None


class TestCallerAndGroup:
    def test_the_asserted_identity_names_the_caller(self, config: kam.KamailioConfig) -> None:
        """With caller=pai, P-Asserted-Identity's user and domain are used, From otherwise."""
        pai = Harness(attrs_evolve(config, caller="pai"))
        try:
            ksr = pai.invite(NATIONAL, user="1999", pai="sip:+15550001@acme.example")
            assert ksr.replies[0][0] == 403  # +15550001 is mandatory; 1999 would pass
            ksr = pai.invite(NATIONAL, user="1001", pai="tel:+15550001")
            assert ksr.replies[0][0] == 403  # a tel: URI has no domain: From's is used
            assert pai.invite(NATIONAL, user="1999").relayed
            assert [e.user for e in pai.events()] == ["+15550001", "+15550001", "1999"]
        finally:
            pai.router.close()

    def test_a_fixed_group_ignores_the_domain(self, config: kam.KamailioConfig) -> None:
        """With group set, every caller belongs to it, whatever its domain."""
        fixed = Harness(attrs_evolve(config, group="globex"))
        try:
            ksr = fixed.invite(f"*715555{NATIONAL}", user="2001", domain="elsewhere.example")
            assert ksr.relayed[0].header("X-Account-Code") == "5555"
        finally:
            fixed.router.close()

    def test_an_unknown_domain_is_a_group_without_codes(self, harness: Harness) -> None:
        """A domain that names no group: rule 2 (not enabled); the prefix is still stripped."""
        ksr = harness.invite(f"*711234{NATIONAL}", domain="stranger.example")
        assert ksr.relayed[0].ruri_user == NATIONAL
        (event,) = harness.events()
        assert (event.group, event.reason) == ("stranger.example", cc.Reason.NOT_ENABLED)


class TestDialString:
    def test_a_code_without_a_number_is_incomplete(self, harness: Harness) -> None:
        """*71 + code and nothing after, or too short a code: 484, no decision recorded."""
        for dialed in ("*711234", "*7112", "*71", ""):
            ksr = harness.invite(dialed, user="1999")
            assert ksr.replies == [(484, "Address Incomplete: no number to call")]
        assert harness.events() == []

    def test_two_codes_are_refused(self, harness: Harness) -> None:
        """A code dialed and another in the header: 400, never a silent choice."""
        ksr = harness.invite(f"*711234{NATIONAL}", headers=[("X-Callcodes-Code", "0042")])
        assert ksr.replies == [(400, "Two codes: one dialed, one in X-Callcodes-Code")]


class TestEscapedRequestUri:
    """Phones that escape ``*`` in the Request-URI (RFC 3261 %HH): the dial string is unescaped."""

    def test_an_escaped_star_code_is_read_and_relayed(self, harness: Harness) -> None:
        """%2A71 + valid code + number: relayed with only the number, To rewritten too."""
        ksr = harness.invite(f"%2A711234{NATIONAL}")
        assert ksr.replies == []
        (sent,) = ksr.relayed
        assert sent.ruri_user == NATIONAL
        assert sent.to_uri == f"sip:{NATIONAL}@proxy.example:5060"
        (event,) = harness.events()
        assert (event.verdict, event.reason, event.dialed) == (
            cc.Verdict.ALLOW,
            cc.Reason.AUTHORIZED,
            NATIONAL,
        )

    def test_lower_case_escapes_and_escaped_digits_are_read(self, harness: Harness) -> None:
        """%2a and escaped digits are escapes too."""
        ksr = harness.invite(f"%2a%37%311234{NATIONAL}")
        assert [s.ruri_user for s in ksr.relayed] == [NATIONAL]

    def test_an_escaped_bare_number_is_relayed_unescaped(self, harness: Harness) -> None:
        """A number without a code, escaped, needs a code as the bare number does."""
        ksr = harness.invite(f"%39{NATIONAL[1:]}", user="1002")
        assert [s.ruri_user for s in ksr.relayed] == [NATIONAL]

    def test_escaped_emergency_goes_through_first(self, harness: Harness) -> None:
        """A locked-out user's escaped 911, also after an escaped wrong code: relayed bare."""
        for dialed in ("%39%31%31", "%2A719999911"):
            ksr = harness.invite(dialed, user="1003")
            assert [s.ruri_user for s in ksr.relayed] == ["911"]

    @pytest.mark.parametrize(
        "dialed", ["%00", "%FF%FE", "%ZZ", "%", "%2", "%E2%80%AE911x", "%2A71%001234"]
    )
    def test_escaped_junk_is_answered_without_a_crash(self, harness: Harness, dialed: str) -> None:
        """Escapes of undialable bytes: a final answer, never a 500 for a failed check."""
        ksr = harness.invite(dialed, user="1001")
        assert ksr.relayed or ksr.replies
        assert all(status != 500 for status, _ in ksr.replies)


class TestPolicyChanges:
    def test_an_administrator_change_applies_to_the_next_call(
        self, harness: Harness, config: kam.KamailioConfig
    ) -> None:
        """A code added through another connection authorizes the very next INVITE."""
        assert harness.invite(f"*717777{NATIONAL}").replies[0][0] == 403
        with PolicyStore(config.store) as admin:
            admin.add_codes("acme", ["7777"], actor="admin")
        assert harness.invite(f"*717777{NATIONAL}").relayed
        with PolicyStore(config.store) as admin:
            admin.unlock("acme", "1003", actor="admin")
        assert harness.invite(f"*717777{NATIONAL}", user="1003").relayed

    def test_a_policy_loaded_before_the_fork_is_shared_and_brought_up_to_date(
        self, config: kam.KamailioConfig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """preload (mod_init) loads once; a worker opened later takes that very book, and
        reads the change written in between, so its first call already sees it. The number
        tables of every region are built there too, for the workers to share."""
        monkeypatch.setattr(numbertables, "_tables", {})
        monkeypatch.setattr(numbertables, "_mains", {})
        loaded = Harness(config)
        try:
            loaded.router.preload()
            assert set(numbertables._tables) >= set(phonenumbers.SUPPORTED_REGIONS)
            preloaded = loaded.router._preloaded
            assert preloaded is not None
            assert not preloaded.book.get("acme", "7777")
            with PolicyStore(config.store) as admin:  # after the load, before the fork
                admin.add_codes("acme", ["7777"], actor="admin")
            assert loaded.router.child_init(1) == 0
            worker = loaded.router._worker
            assert worker is not None
            assert worker.engine.book is preloaded.book  # not loaded again
            assert loaded.invite(f"*717777{NATIONAL}").relayed
            assert gc.get_freeze_count() > 0  # the loaded objects left the collector's passes
        finally:
            loaded.router.close()
            gc.unfreeze()  # this process goes on: let the collector see them again

    def test_a_refresh_interval_defers_the_check(self, config: kam.KamailioConfig) -> None:
        """With refresh_ms, a change waits for the interval: the store is not read each call."""
        slow = Harness(attrs_evolve(config, refresh_ms=3_600_000))
        try:
            assert slow.invite(f"*717777{NATIONAL}").replies[0][0] == 403
            with PolicyStore(config.store) as admin:
                admin.add_codes("acme", ["7777"], actor="admin")
            assert slow.invite(f"*717777{NATIONAL}").replies[0][0] == 403
        finally:
            slow.router.close()


class TestSharedGuard:
    def test_failures_in_two_workers_add_up_to_one_lock(self, config: kam.KamailioConfig) -> None:
        """Invalid codes spread over two workers lock the user at the group's threshold."""
        with PolicyStore(config.store) as admin:
            admin.modify_group(
                "acme",
                lambda old: attrs_evolve(old, lockout=cc.Lockout(user_attempts=4)),
                actor="admin",
            )
        workers = [Harness(config), Harness(config)]
        try:
            for turn in range(3):
                ksr = workers[turn % 2].invite(f"*719999{NATIONAL}")
                assert ksr.replies[0][1].startswith("Invalid authorization code")
            ksr = workers[1].invite(f"*719999{NATIONAL}")
            assert ksr.replies[0][1].startswith("Invalid")
            assert ("warn", "callcodes locked user '1001' of group 'acme'\n") in ksr.logs
            for worker in workers:  # the lock reached the store: every worker sees it
                ksr = worker.invite(f"*711234{NATIONAL}")
                assert ksr.replies == [(403, "Locked out after too many invalid codes")]
        finally:
            for worker in workers:
                worker.router.close()
        with PolicyStore(config.store) as admin:
            assert [lock.user for lock in admin.locks("acme")] == ["1001", "1003"]


class TestStoredDialPlans:
    def test_a_group_plan_in_the_store_replaces_the_default(
        self, harness: Harness, config: kam.KamailioConfig
    ) -> None:
        """A dial plan set by an administrator classifies the group's next calls."""
        assert harness.invite("2500").replies[0][0] == 403  # not an extension by default
        plan = cc.DialPlan("US", extensions=["2000-2999"], outside_prefix="9")
        with PolicyStore(config.store) as admin:
            admin.set_dialplan("acme", plan, actor="admin")
        assert harness.invite("2500").relayed[0].ruri_user == "2500"
        assert harness.events()[-1].call_type is cc.CallType.INTERNAL
        harness.invite("2500", user="2001", domain="globex.example")
        assert harness.events()[-1].call_type is not cc.CallType.INTERNAL  # globex: the default


class TestFailures:
    def test_a_broken_store_fails_closed_but_lets_emergencies_through(
        self, harness: Harness, config: kam.KamailioConfig
    ) -> None:
        """The store cannot be read: 500 for a national call, 911 still relayed, error logged."""
        with sqlite3.connect(config.store) as conn:
            conn.execute("DROP TABLE policy_changes")
        for _ in range(2):  # the failed refresh is tried again: no call uses a stale policy
            ksr = harness.invite(f"*711234{NATIONAL}")
            assert ksr.replies == [(500, "Code check failed")]
            assert any(level == "err" and "policy_changes" in text for level, text in ksr.logs)
        ksr = harness.invite("9911", user="1003")
        assert ksr.relayed[0].ruri_user == "9911"
        ksr = harness.invite("*711234911", user="1003")
        assert ksr.relayed[0].ruri_user == "911"

    def test_an_event_log_that_cannot_record_fails_closed(
        self, harness: Harness, config: kam.KamailioConfig
    ) -> None:
        """A decision that cannot be recorded is not acted on: 500; emergencies still pass."""
        with sqlite3.connect(config.events) as conn:
            conn.execute("DROP TABLE events")
        assert harness.invite(f"*711234{NATIONAL}").replies == [(500, "Code check failed")]
        assert harness.invite("911").relayed[0].ruri_user == "911"

    def test_a_failing_kamailio_call_still_gets_an_answer(self, config: kam.KamailioConfig) -> None:
        """If setting the account header fails, the INVITE is answered with 500, not dropped."""
        found = Harness(config)
        try:
            found.ksr.fail = frozenset({"hdr.append"})
            ksr = found.invite(f"*715555{NATIONAL}", user="2001", domain="globex.example")
            assert (ksr.replies, ksr.relayed) == ([(500, "Code check failed")], [])
            found.ksr.fail = frozenset({"tm.t_relay"})
            ksr = found.invite("1500")
            assert ksr.replies == [(500, "Server Internal Error")]
        finally:
            found.router.close()

    def test_a_worker_that_cannot_open_the_store_stops_kamailio(
        self, config: kam.KamailioConfig
    ) -> None:
        """child_init returns -1 (Kamailio stops) when the store is gone, and says why."""
        config.store.unlink()
        ksr = FakeKSR(Request())
        router = kam.Router(config, ksr=ksr)
        try:
            assert router.child_init(0) == 0  # the main process opens nothing
            assert router.child_init(1) == -1
            assert any("no such policy store" in text for _, text in ksr.logs)
        finally:
            router.close()


class TestRouting:
    def test_requests_other_than_a_new_invite(self, harness: Harness) -> None:
        """Keepalive, CANCEL, in-dialog, ACK, retransmissions and other methods are handled."""
        assert harness.invite("", method="OPTIONS").replies == [(200, "Keepalive")]
        assert harness.invite("x", method="CANCEL", transaction=True).relayed
        assert harness.invite("x", method="CANCEL").status is None
        assert harness.invite("x", method="BYE", to_tag="t", loose_route=True).relayed
        assert harness.invite("x", method="BYE", to_tag="t").replies == [(404, "Not Here")]
        assert harness.invite("x", method="ACK", to_tag="t", transaction=True).relayed
        assert harness.invite("x", method="ACK").status is None
        assert harness.invite(NATIONAL, retransmission=True).status is None
        assert harness.invite("x", method="MESSAGE").replies == [(405, "Method Not Allowed")]
        assert harness.invite(NATIONAL, max_forwards=0).replies == [(483, "Too Many Hops")]
        assert harness.events() == []

    @settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        dialed=st.text(alphabet="0123456789*#+abc ", max_size=24),
        field=st.none() | st.text(alphabet="0123456789 x", max_size=6),
        user=st.sampled_from(["1001", "1002", "1003", "2001", "9999", ""]),
        domain=st.sampled_from(["acme.example", "globex.example", "other.example"]),
    )
    def test_every_invite_gets_one_answer(
        self, harness: Harness, dialed: str, field: str | None, user: str, domain: str
    ) -> None:
        """Any dial string and code header: relayed or exactly one final reply, never silence."""
        headers = [] if field is None else [("X-Callcodes-Code", field)]
        ksr = harness.invite(dialed, user=user, domain=domain, headers=headers)
        assert len(ksr.relayed) + len(ksr.replies) == 1
        if ksr.relayed:
            assert ksr.relayed[0].header("X-Callcodes-Code") is None
        else:
            assert ksr.replies[0][0] in {400, 403, 484}

    @settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        number=st.sampled_from(sorted(PLAN.emergency_numbers)),
        before=st.sampled_from(["", "9", "*71", "*711234", "*719999", "*71abcd"]),
        user=st.sampled_from(["1001", "1003", "2001"]),
    )
    def test_emergency_numbers_always_go_through(
        self, harness: Harness, number: str, before: str, user: str
    ) -> None:
        """An emergency number, bare or after an outside prefix or a code, is always relayed."""
        ksr = harness.invite(before + number, user=user)
        assert len(ksr.relayed) == 1
        assert ksr.relayed[0].ruri_user in {number, before + number, "9" + number}


def attrs_evolve(config: kam.KamailioConfig, **changes: object) -> kam.KamailioConfig:
    import attrs

    return attrs.evolve(config, **changes)  # type: ignore[arg-type]
