"""``POST /api/v1/decide`` agrees with ``Engine.decide``, refuses what it must, and checks roles.

The property runs in-process (Litestar's test client on the real application) for speed; a
fixed set of calls goes through a real ``callcodes serve``. The policy makes time irrelevant:
lockout thresholds no generated run can reach, codes whose windows closed long ago or open
centuries from now, and no use limits, so the service's engine and a reference engine on a
copy of the policy must give the same answer to every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from real_server import Server

import callcodes as cc
from callcodes.dialplan import read_dialed
from callcodes.service import ServiceConfig, create_app
from callcodes.store import PolicyStore, open_store
from callcodes.store.accounts import Accounts, Role

PLAN = cc.DialPlan("US", extensions=["1000-1999"], outside_prefix="9", local_prefixes=["212"])
#: The plan of groups without one: the service's default region.
DEFAULT_PLAN = cc.DialPlan("US")
#: Thresholds no test reaches: decisions stay a function of the policy and the call.
NO_LOCKOUT = cc.Lockout(user_attempts=1000, group_attempts=100_000)
DECIDE = "/api/v1/decide"

# Dial strings of both plans: emergency, extensions, local, national, toll-free, international.
NUMBERS = [
    "911",
    "9911",
    "933",
    "1001",
    "1500",
    "913125550123",
    "912125550123",
    "918005550123",
    "9011442079460958",
    "13125550123",
    "3125550123",
    "18005550123",
    "011442079460958",
    "",
]
CODES = ["1234", "0042", "5678", "9999", "5555", "0000", "12", "12a4", "123456"]
USERS = ["1001", "1002", "1003", "2001", "2002", "7777"]
GROUPS = ["acme", "globex", "initech", "nowhere"]


def make_policy(path: Path | str) -> dict[str, str]:
    """Groups acme (authorization, provider north), globex (account, provider south) and
    initech (deactivated, no provider); one token per role. Returns the tokens by role name.
    *path* is an SQLite file or a PostgreSQL URL.
    """
    with open_store(path) as store:
        store.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION,
                allow_local_and_toll_free=True,
                mandatory_users=frozenset({"1001", "1003"}),
                optional_users=frozenset({"1002"}),
                min_levels={cc.CallType.INTERNATIONAL: 2},
                lockout=NO_LOCKOUT,
            ),
            actor="test",
        )
        store.add_codes(
            "acme",
            [
                cc.CodeEntry("1234", "Sales", level=1),
                cc.CodeEntry("0042", "Board", level=5),
                cc.CodeEntry("5678", "Old", valid_until=datetime(2020, 1, 1, tzinfo=UTC)),
                cc.CodeEntry("9999", "Future", valid_from=datetime(2999, 1, 1, tzinfo=UTC)),
            ],
            actor="test",
        )
        store.set_dialplan("acme", PLAN, actor="test")
        store.set_group(
            "globex",
            cc.GroupSettings(
                mode=cc.Mode.ACCOUNT,
                mandatory_users=frozenset({"2001"}),
                optional_users=frozenset({"2002"}),
                lockout=NO_LOCKOUT,
            ),
            actor="test",
        )
        store.add_codes("globex", [cc.CodeEntry("5555", "Project X")], actor="test")
        store.set_group("initech", cc.GroupSettings(), actor="test")
        store.set_provider("acme", "north", actor="test")
        store.set_provider("globex", "south", actor="test")
        accounts = Accounts(store)
        roles = {
            "operator": (Role.OPERATOR, None),
            "softswitch": (Role.SOFTSWITCH, None),
            "acme-admin": (Role.GROUP, "acme"),
            "north-admin": (Role.PROVIDER, "north"),
            "south-admin": (Role.PROVIDER, "south"),
        }
        tokens = {}
        for name, (role, scope) in roles.items():
            accounts.add(name, role, scope=scope, actor="test")
            tokens[name] = accounts.issue_token(name, actor="test")[1]
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Reference:
    """What ``Engine.decide`` answers on a copy of the stored policy, in this process."""

    def __init__(self, db: Path) -> None:
        with PolicyStore(db, read_only=True) as store:
            self.book = store.load()
            self.plans = store.dialplans()
        self.engine = cc.Engine(self.book)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and body the service should answer *body* with."""
        group = body["group"]
        try:
            group_settings = self.book.group(group)
        except cc.UnknownGroupError:
            group_settings = cc.GroupSettings()
        taken = read_dialed(
            self.plans.get(group, DEFAULT_PLAN),
            group_settings,
            group,
            body["user"],
            body["dialed"],
            code=body.get("code"),
            call_id=body.get("call_id"),
        )
        call = taken.call
        if call is None:
            assert taken.problem is not None
            return 422, {"problem": taken.problem.name.lower()}
        decision = self.engine.decide(call, taken.code, body.get("attempt", 1))
        account = None
        if decision.reason is cc.Reason.ACCOUNT_CODE:
            account = decision.entry.code if decision.entry is not None else taken.code
        return 200, {
            "verdict": decision.verdict.value,
            "reason": decision.reason.value,
            "retry": decision.retry,
            "dial": None if decision.verdict is cc.Verdict.BLOCK else call.dialed,
            "account_code": account,
            "call_type": call.call_type.value,
        }


def observed(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """What to compare of an answer: a decision whole, a refusal by its problem."""
    if status == 422:
        return status, {"problem": body.get("problem")}
    return status, body


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    """A decide request: a code dialed inline or in the field (or neither, or both)."""
    number = draw(st.sampled_from(NUMBERS))
    inline = draw(st.sampled_from([None, *CODES]))
    dialed = number if inline is None else f"*71{inline}{number}"
    body: dict[str, Any] = {
        "group": draw(st.sampled_from(GROUPS)),
        "user": draw(st.sampled_from(USERS)),
        "dialed": dialed,
    }
    field = draw(st.sampled_from([None, None, *CODES, " 1234 ", ""]))
    if field is not None:
        body["code"] = field
    if draw(st.booleans()):
        body["call_id"] = draw(st.from_regex(r"[a-z0-9]{1,20}@pbx", fullmatch=True))
    attempt = draw(st.integers(1, 4))
    if attempt != 1:
        body["attempt"] = attempt
    return body


@pytest.fixture
def policy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db = tmp_path / "policy.db"
    return db, make_policy(db)


@pytest.fixture
def client(policy: tuple[Path, dict[str, str]]) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(ServiceConfig(policy[0]))) as found:
        yield found


class TestAgreesWithTheEngine:
    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=calls())
    def test_every_generated_call(
        self,
        client: TestClient[Any],
        policy: tuple[Path, dict[str, str]],
        body: dict[str, Any],
    ) -> None:
        """The service answers each call as Engine.decide does on a copy of the policy."""
        reference = Reference(policy[0])
        response = client.post(DECIDE, json=body, headers=bearer(policy[1]["softswitch"]))
        assert observed(response.status_code, response.json()) == reference.answer(body)

    def test_through_a_real_server(self, policy: tuple[Path, dict[str, str]]) -> None:
        """A fixed set of calls through `callcodes serve` gets the reference's answers."""
        db, tokens = policy
        reference = Reference(db)
        bodies = [
            {"group": group, "user": user, "dialed": dialed}
            for group, user in [("acme", "1001"), ("acme", "1002"), ("globex", "2001")]
            for dialed in ["*711234913125550123", "913125550123", "911", "*715555913125550123"]
        ]
        bodies += [
            {"group": "acme", "user": "1001", "dialed": "9011442079460958", "code": "0042"},
            {"group": "acme", "user": "1001", "dialed": "*711234", "code": None},
            {"group": "acme", "user": "1001", "dialed": "*711234913125550123", "code": "1234"},
            {"group": "nowhere", "user": "1", "dialed": "13125550123"},
        ]
        with Server(db) as server:
            for body in bodies:
                response = server.client.post(
                    DECIDE, json=body, headers=server.headers(tokens["softswitch"])
                )
                assert observed(response.status_code, response.json()) == reference.answer(body)


class TestAnswers:
    def test_an_authorized_call_dials_the_number_without_prefix_and_code(
        self, client: TestClient[Any], policy: tuple[Path, dict[str, str]]
    ) -> None:
        body = {"group": "acme", "user": "1001", "dialed": "*711234913125550123", "call_id": "c1"}
        response = client.post(DECIDE, json=body, headers=bearer(policy[1]["softswitch"]))
        assert response.status_code == 200
        assert response.json() == {
            "verdict": "allow",
            "reason": "authorized",
            "retry": False,
            "dial": "913125550123",
            "account_code": None,
            "call_type": "national",
        }
        (event,) = cc.read_events(policy[0])
        assert (event.call_id, event.dialed, event.code, event.masked) == (
            "c1",
            "913125550123",
            None,
            "****",
        )

    def test_an_account_code_is_forwarded(
        self, client: TestClient[Any], policy: tuple[Path, dict[str, str]]
    ) -> None:
        body = {"group": "globex", "user": "2001", "dialed": "13125550123", "code": "5555"}
        response = client.post(DECIDE, json=body, headers=bearer(policy[1]["operator"]))
        assert response.json()["account_code"] == "5555"
        assert response.json()["verdict"] == "log_only"

    @pytest.mark.parametrize(
        ("dialed", "code", "problem", "sip"),
        [
            ("*711234", None, "no_destination", 484),
            ("*711234913125550123", "1234", "two_codes", 400),
        ],
    )
    def test_a_refused_dial_string_is_answered_as_the_router_answers_it(
        self,
        client: TestClient[Any],
        policy: tuple[Path, dict[str, str]],
        dialed: str,
        code: str | None,
        problem: str,
        sip: int,
    ) -> None:
        """No decision, no event: a problem document with the SIP status a proxy answers."""
        body = {"group": "acme", "user": "1001", "dialed": dialed, "code": code}
        response = client.post(DECIDE, json=body, headers=bearer(policy[1]["softswitch"]))
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (response.json()["problem"], response.json()["sip_status"]) == (problem, sip)
        assert list(cc.read_events(policy[0])) == []

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"group": "g" * 254}, "group"),
            ({"user": ""}, "user"),
            ({"user": "u" * 162}, "user"),
            ({"dialed": "9" * 65}, "dialed"),
            ({"code": "1" * 33}, "code"),
            ({"call_id": "c" * 256}, "call_id"),
            ({"attempt": 0}, "attempt"),
            ({"attempt": 101}, "attempt"),
            ({"attempt": "two"}, "attempt"),
            ({"colde": "1234"}, "colde"),
            ({"user": "10\n01"}, "user"),
            ({"group": " acme"}, "group"),
        ],
    )
    def test_bad_input_gets_a_problem_naming_the_field(
        self,
        client: TestClient[Any],
        policy: tuple[Path, dict[str, str]],
        change: dict[str, Any],
        field: str,
    ) -> None:
        body = {"group": "acme", "user": "1001", "dialed": "913125550123", **change}
        response = client.post(DECIDE, json=body, headers=bearer(policy[1]["softswitch"]))
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
        assert list(cc.read_events(policy[0])) == []

    def test_a_missing_field_and_a_body_that_is_not_json_are_refused(
        self, client: TestClient[Any], policy: tuple[Path, dict[str, str]]
    ) -> None:
        headers = bearer(policy[1]["softswitch"])
        response = client.post(DECIDE, json={"group": "acme", "user": "1001"}, headers=headers)
        assert response.status_code == 422
        assert response.json()["field"] == "dialed"
        response = client.post(
            DECIDE, content=b"{not json", headers={**headers, "content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        body = b'{"group": "acme", "user": "1001", "dialed": "911"}'
        response = client.post(
            DECIDE, content=body, headers={**headers, "content-type": "text/plain"}
        )
        assert response.status_code == 415
        # The account is checked before the body: an administrator learns nothing from it.
        response = client.post(
            DECIDE, content=b"{not json", headers=bearer(policy[1]["acme-admin"])
        )
        assert response.status_code == 403

    def test_an_emergency_call_passes_with_a_bad_user_field(
        self, client: TestClient[Any], policy: tuple[Path, dict[str, str]]
    ) -> None:
        """Checks that could refuse a call come after the emergency number is recognised."""
        body = {"group": "acme", "user": "10\n01", "dialed": "*71911"}
        response = client.post(DECIDE, json=body, headers=bearer(policy[1]["softswitch"]))
        assert response.status_code == 200
        assert (response.json()["reason"], response.json()["dial"]) == ("emergency", "911")


class TestRoles:
    BODY = {"group": "acme", "user": "1001", "dialed": "911"}  # noqa: RUF012

    @pytest.mark.parametrize("name", ["acme-admin", "north-admin", "south-admin"])
    def test_administrators_may_not_decide(
        self, client: TestClient[Any], policy: tuple[Path, dict[str, str]], name: str
    ) -> None:
        """Even for their own group, and even an emergency call: deciding is not their job."""
        response = client.post(DECIDE, json=self.BODY, headers=bearer(policy[1][name]))
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert list(cc.read_events(policy[0])) == []

    @pytest.mark.parametrize("group", GROUPS)
    @pytest.mark.parametrize("name", ["softswitch", "operator"])
    def test_a_softswitch_and_an_operator_decide_for_any_group(
        self, client: TestClient[Any], policy: tuple[Path, dict[str, str]], name: str, group: str
    ) -> None:
        body = {**self.BODY, "group": group}
        response = client.post(DECIDE, json=body, headers=bearer(policy[1][name]))
        assert response.status_code == 200
        assert response.json()["reason"] == "emergency"

    def test_no_token_or_a_bad_one_is_refused(self, client: TestClient[Any]) -> None:
        assert client.post(DECIDE, json=self.BODY).status_code == 401
        response = client.post(DECIDE, json=self.BODY, headers=bearer("cc_nothing_here"))
        assert response.status_code == 401
