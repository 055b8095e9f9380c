"""OCI-P sessions and documents in process: tenancy as a property, the plain-password rule,
and documents that any bytes cannot turn into anything but a document or a clean refusal.

Replies are decoded with the BroadWorks client's own decoder, so what is checked here is what
a provisioning script reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from broadworks_ocip import BroadworksAPI
from broadworks_ocip.exceptions import OCIErrorResponse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from ocip_server import raw_document
from real_server import PASSWORD, seed_tenants

from callcodes._errors import InvalidValueError
from callcodes.service import ServiceConfig
from callcodes.service.node import Node
from callcodes.service.ocip.documents import document, error, parse, safe_text
from callcodes.service.ocip.session import Session
from callcodes.store.accounts import Accounts, Role

ROLES = ("operator", "provider1", "group1", "provider2", "group2")
GROUPS = ("p1-acme", "p1-beta", "p2-acme", "nowhere")
PROVIDERS = ("P1", "P2", "p1-acme", "nowhere")
OWNERS = {"p1-acme": "P1", "p1-beta": "P1", "p2-acme": "P2"}
DECODER = BroadworksAPI(host="127.0.0.1", username="u", password="p")


def login(user: str) -> str:
    return (
        '<command xsi:type="LoginRequest22V5" xmlns="">'
        f"<userId>{user}</userId><password>{PASSWORD}</password></command>"
    )


def get_list(sp: str, group: str) -> str:
    return (
        '<command xsi:type="GroupAccountAuthorizationCodesGetListRequest" xmlns="">'
        f"<serviceProviderId>{sp}</serviceProviderId><groupId>{group}</groupId></command>"
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    db = tmp_path_factory.mktemp("sessions") / "store.db"
    seed_tenants(db)
    opened = Node.open(ServiceConfig(db))
    for name in ("operator", "provider2", "group2"):
        opened.accounts.set_password(name, PASSWORD, actor="seed")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def sessions(node: Node) -> dict[str, Session]:
    """A logged-in session of each role."""
    made = {}
    for name in ROLES:
        session = Session(node, source="127.0.0.1", plain_ok=True)
        session.answer(parse(raw_document(name, login(name))))
        assert session.token is not None
        made[name] = session
    return made


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(ROLES), sp=st.sampled_from(PROVIDERS), group=st.sampled_from(GROUPS))
def test_a_command_reaches_a_group_exactly_when_the_account_manages_it_under_that_provider(
    node: Node, sessions: dict[str, Session], name: str, sp: str, group: str
) -> None:
    who = node.accounts.get(name)
    allowed = group in OWNERS and sp == OWNERS[group] and who.may_manage(group, OWNERS[group])
    reply = sessions[name].answer(parse(raw_document(name, get_list(sp, group))))
    if allowed:
        codes = [e.code for e in DECODER.decode_xml(reply).code_entry]
        assert codes == ["0042", "1234"]
    else:
        with pytest.raises(OCIErrorResponse) as refused:
            DECODER.decode_xml(reply)
        assert refused.value.object.summary == "no such group, or not one this account may manage"
    assert who.role is not Role.OPERATOR or allowed == (group in OWNERS and sp == OWNERS[group])


def test_the_plain_password_is_refused_off_tls_and_loopback_without_counting_a_failure(
    node: Node,
) -> None:
    before = len(node.store.audit())
    session = Session(node, source="198.51.100.7", plain_ok=False)
    reply = session.answer(parse(raw_document("far", login("group1"))))
    with pytest.raises(OCIErrorResponse) as refused:
        DECODER.decode_xml(reply)
    assert "only over TLS" in refused.value.object.summary
    assert session.token is None
    assert len(node.store.audit()) == before


def test_every_command_of_a_document_is_answered_in_order(node: Node) -> None:
    session = Session(node, source="127.0.0.1", plain_ok=True)
    reply = session.answer(
        parse(raw_document("m", login("group1"), get_list("P1", "p1-acme"), get_list("P2", "x")))
    )
    root = etree.fromstring(reply)
    kinds = [c.get("{http://www.w3.org/2001/XMLSchema-instance}type") for c in root.iter("command")]
    assert kinds == [
        "LoginResponse22V5",
        "GroupAccountAuthorizationCodesGetListResponse",
        "c:ErrorResponse",
    ]


def test_a_logout_ends_the_session_and_its_token(node: Node) -> None:
    session = Session(node, source="127.0.0.1", plain_ok=True)
    session.answer(parse(raw_document("o", login("group1"))))
    token = session.token
    assert token is not None
    logout = '<command xsi:type="LogoutRequest" xmlns=""><userId>group1</userId></command>'
    reply = session.answer(parse(raw_document("o", logout, get_list("P1", "p1-acme"))))
    assert b"c:SuccessResponse" in reply
    assert b"not logged in" in reply
    assert token not in {t.id for t in node.accounts.tokens("group1")}
    with pytest.raises(Exception, match="token refused"):
        Accounts.authenticate(node.accounts, token)


@settings(max_examples=300)
@given(data=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
@example(data=b'<?xml version="1.0" encoding="no-such-codec"?><a/>')
@example(data=b'<?xml version="1.0" encoding="utf-16"?><a/>')
@example(data=b'<?xml version="1.0" encoding="cp932"?><a/>')
@example(data=b'<a xmlns:x="" />')
def test_any_bytes_are_a_document_or_a_clean_refusal(data: bytes) -> None:
    refused: InvalidValueError | None = None
    try:
        parsed = parse(data)
    except InvalidValueError as exc:  # the one way a document is refused
        refused = exc
    if refused is None:
        assert parsed.commands
    else:
        assert refused.field in ("document", "sessionId")


@settings(max_examples=300)
@given(summary=st.text(min_size=1, max_size=200), session=st.text(max_size=50))
def test_every_reply_parses_and_carries_its_text_as_far_as_xml_can(
    summary: str, session: str
) -> None:
    reply = document(safe_text(session), [error(summary)])
    with pytest.raises(OCIErrorResponse) as refused:
        DECODER.decode_xml(reply)
    got = refused.value.object.summary
    if "\r" not in summary and safe_text(summary) == summary:
        assert got == summary
