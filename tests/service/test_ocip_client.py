"""The BroadWorks OCI-P client (``broadworks-ocip``) against a real ``callcodes serve --oci``.

Each test drives the listener as a provisioning script written for BroadWorks does: the
client logs in with ``AuthenticationRequest`` and ``LoginRequest14sp4`` on its first command,
and reads the replies with its own parser, so every element name, order, value and table
heading a test reads is one the real client understood.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from broadworks_ocip import BroadworksAPI
from broadworks_ocip.exceptions import OCIErrorResponse
from null_object import Null
from ocip_server import OciServer, client, exchange, policy_state, raw_document, read_replies
from real_server import PASSWORD, seed_tenants

from callcodes.store import PolicyStore
from callcodes.store.accounts import Accounts
from callcodes.store.audit import Action

SP, GROUP = "P1", "p1-acme"
HEADINGS = (
    "user_id",
    "last_name",
    "first_name",
    "hiragana_last_name",
    "hiragana_first_name",
    "phone_number",
    "extension",
    "department",
    "email_address",
)


def enable(db: Path, *names: str) -> None:
    """Give the operator a password, and enable OCI-P for *names*."""
    with PolicyStore(db) as store:
        accounts = Accounts(store)
        accounts.set_password("operator", PASSWORD, actor="seed")
        for name in names:
            accounts.set_oci(name, PASSWORD, actor="seed")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OciServer, Path]]:
    db = tmp_path_factory.mktemp("ocip") / "store.db"
    seed_tenants(db)
    enable(db, "operator", "provider1", "group1")
    with OciServer(db) as server:
        yield server, db


@pytest.fixture
def server(world: tuple[OciServer, Path]) -> OciServer:
    return world[0]


@pytest.fixture
def api(server: OciServer) -> Iterator[BroadworksAPI]:
    session = client(server, "group1", PASSWORD)
    yield session
    session.close()


def codes(api: BroadworksAPI, group: str = GROUP, sp: str = SP) -> dict[str, str | None]:
    listed = api.command(
        "GroupAccountAuthorizationCodesGetListRequest", service_provider_id=sp, group_id=group
    )
    return {entry.code: entry.description for entry in listed.code_entry}


def entry(api: BroadworksAPI, code: str, description: str | None = None) -> object:
    fields = {"code": code} if description is None else {"code": code, "description": description}
    return api.get_type_object("AccountAuthorizationCodeEntry", **fields)


def test_get_gives_the_settings_and_the_user_tables_with_broadworks_headings(
    api: BroadworksAPI,
) -> None:
    got = api.command(
        "GroupAccountAuthorizationCodesGetRequest", service_provider_id=SP, group_id=GROUP
    )
    assert got.type == "Authorization Code"
    assert got.number_of_digits == 4
    assert got.allow_local_and_toll_free_calls is False
    (alice,) = got.mandatory_usage_user_table
    assert alice._fields == HEADINGS
    assert (alice.user_id, alice.last_name, alice.first_name) == ("alice", "Smith", "Alice")
    assert (alice.extension, alice.department, alice.phone_number) == ("100", "Sales", None)
    assert got.optional_usage_user_table == []


def test_add_list_then_delete_list_change_the_codes(api: BroadworksAPI) -> None:
    group = GROUP
    api.command(
        "GroupAccountAuthorizationCodesAddListRequest",
        service_provider_id=SP,
        group_id=group,
        code_entry=[entry(api, "5555", "Lobby"), entry(api, "6666")],
    )
    assert codes(api, group) == {"0042": None, "1234": "Sales", "5555": "Lobby", "6666": None}
    api.command(
        "GroupAccountAuthorizationCodesDeleteListRequest",
        service_provider_id=SP,
        group_id=group,
        code=["5555", "6666"],
    )
    assert codes(api, group) == {"0042": None, "1234": "Sales"}


def test_a_bulk_add_with_bad_rows_adds_nothing_and_names_every_bad_row(
    world: tuple[OciServer, Path], api: BroadworksAPI
) -> None:
    codes(api)  # logged in: the session it opens is not policy
    before = policy_state(world[1])
    batch = [entry(api, "7777"), entry(api, "12a4"), entry(api, "8888"), entry(api, "1234")]
    with pytest.raises(OCIErrorResponse) as refused:
        api.command(
            "GroupAccountAuthorizationCodesAddListRequest",
            service_provider_id=SP,
            group_id=GROUP,
            code_entry=batch,
        )
    summary = refused.value.object.summary
    assert "row 2 ('12a4')" in summary
    assert "row 4 ('1234')" in summary
    assert "row 1" not in summary
    assert "row 3" not in summary
    assert policy_state(world[1]) == before
    assert "7777" not in codes(api)


def test_modify_sets_type_digits_local_calls_and_replaces_or_clears_the_lists(
    server: OciServer,
) -> None:
    api = client(server, "provider1", PASSWORD)
    try:
        lists = api.get_type_object("ReplacementUserIdList", user_id=["bob"])
        api.command(
            "GroupAccountAuthorizationCodesModifyRequest",
            service_provider_id=SP,
            group_id="p1-beta",
            allow_local_and_toll_free_calls=True,
            optional_usage_user_id_list=lists,
            mandatory_usage_user_id_list=Null,
        )
        got = api.command(
            "GroupAccountAuthorizationCodesGetRequest", service_provider_id=SP, group_id="p1-beta"
        )
        assert got.allow_local_and_toll_free_calls is True
        assert got.mandatory_usage_user_table == []
        assert [row.user_id for row in got.optional_usage_user_table] == ["bob"]
        api.command(
            "GroupAccountAuthorizationCodesDeleteListRequest",
            service_provider_id=SP,
            group_id="p1-beta",
            code=["1234", "0042"],
        )
        api.command(
            "GroupAccountAuthorizationCodesModifyRequest",
            service_provider_id=SP,
            group_id="p1-beta",
            code_type="Deactivated",
            number_of_digits=6,
        )
        got = api.command(
            "GroupAccountAuthorizationCodesGetRequest", service_provider_id=SP, group_id="p1-beta"
        )
        assert (got.type, got.number_of_digits) == ("Deactivated", 6)
    finally:
        api.close()


def test_a_refused_modify_changes_nothing(
    world: tuple[OciServer, Path], api: BroadworksAPI
) -> None:
    codes(api)
    before = policy_state(world[1])
    for change in (
        {"number_of_digits": 0},
        {"code_type": "Secret Code"},
        {
            "mandatory_usage_user_id_list": api.get_type_object(
                "ReplacementUserIdList", user_id=["zed"]
            )
        },
    ):
        with pytest.raises(OCIErrorResponse):
            api.command(
                "GroupAccountAuthorizationCodesModifyRequest",
                service_provider_id=SP,
                group_id=GROUP,
                **change,
            )
    assert policy_state(world[1]) == before


def test_available_users_are_searched_by_every_criterion_and_limited(api: BroadworksAPI) -> None:
    def search(**criteria: object) -> list[str]:
        got = api.command(
            "GroupAccountAuthorizationCodesGetAvailableUserListRequest",
            service_provider_id=SP,
            group_id=GROUP,
            **criteria,
        )
        return [row.user_id for row in got.user_table]

    def criterion(kind: str, mode: str, value: str, *, ignore_case: bool = True) -> list[object]:
        made = api.get_type_object(kind, mode=mode, value=value, is_case_insensitive=ignore_case)
        return [made]

    assert search() == ["bob", "carol"]  # alice is mandatory: not available
    assert search(response_size_limit=1) == ["bob"]
    assert search(
        search_criteria_user_first_name=criterion(
            "SearchCriteriaUserFirstName", "Starts With", "car"
        )
    ) == ["carol"]
    assert (
        search(
            search_criteria_user_first_name=criterion(
                "SearchCriteriaUserFirstName", "Starts With", "car", ignore_case=False
            )
        )
        == []
    )
    assert search(
        search_criteria_extension=criterion("SearchCriteriaExtension", "Equal To", "101")
    ) == ["bob"]
    assert search(
        search_criteria_user_last_name=criterion("SearchCriteriaUserLastName", "Contains", "mit"),
        search_criteria_user_id=criterion("SearchCriteriaUserId", "Contains", "o"),
    ) == ["bob", "carol"]
    key = api.get_type_object(
        "GroupDepartmentKey", service_provider_id=SP, group_id=GROUP, name="Sales"
    )
    department = api.get_type_object("SearchCriteriaExactUserDepartment", department_key=key)
    assert search(search_criteria_exact_user_department=department) == ["bob", "carol"]


def test_a_group_administrator_is_refused_on_another_group_as_on_a_missing_one(
    world: tuple[OciServer, Path], api: BroadworksAPI
) -> None:
    codes(api)  # logged in: the session it opens is not policy
    before = policy_state(world[1])
    summaries = []
    for sp, group in (("P2", "p2-acme"), ("P1", "p1-beta"), ("P9", "nowhere"), ("P2", GROUP)):
        for request, extra in (
            ("GroupAccountAuthorizationCodesGetListRequest", {}),
            ("GroupAccountAuthorizationCodesDeleteListRequest", {"code": ["1234"]}),
        ):
            with pytest.raises(OCIErrorResponse) as refused:
                api.command(request, service_provider_id=sp, group_id=group, **extra)
            summaries.append(refused.value.object.summary)
    assert set(summaries) == {"no such group, or not one this account may manage"}
    assert policy_state(world[1]) == before


def test_an_operator_reaches_every_group_and_a_provider_its_own(server: OciServer) -> None:
    operator = client(server, "operator", PASSWORD)
    provider = client(server, "provider1", PASSWORD)
    try:
        assert "1234" in codes(operator, "p2-acme", "P2")
        assert "1234" in codes(provider, GROUP, SP)
        with pytest.raises(OCIErrorResponse):
            codes(provider, "p2-acme", "P2")
    finally:
        operator.close()
        provider.close()


def test_a_wrong_password_is_refused_and_audited(world: tuple[OciServer, Path]) -> None:
    server, db = world
    api = client(server, "group1", "not the password at all")
    with pytest.raises(OCIErrorResponse) as refused:
        codes(api)
    assert "wrong name or password" in refused.value.object.summary
    assert not api.authenticated
    api.close()
    with PolicyStore(db, read_only=True) as store:
        failed = [r for r in store.audit() if r.action is Action.LOGIN_FAILED]
    assert failed[-1].detail == {"name": "group1", "source": "127.0.0.1"}


def test_an_account_not_enabled_for_oci_is_refused_like_a_wrong_password(
    server: OciServer,
) -> None:
    api = client(server, "provider2", PASSWORD)  # no password, never enabled
    with pytest.raises(OCIErrorResponse) as refused:
        codes(api, "p2-acme", "P2")
    assert "wrong name or password" in refused.value.object.summary
    api.close()


def test_two_sessions_at_once_each_get_their_own_answers(server: OciServer) -> None:
    results: dict[str, list[str]] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name: str, group: str, sp: str) -> None:
        api = client(server, name, PASSWORD)
        try:
            start.wait(timeout=30)
            results[name] = [sorted(codes(api, group, sp))[0] for _ in range(20)]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)
        finally:
            api.close()

    threads = [
        threading.Thread(target=run, args=("operator", "p2-acme", "P2")),
        threading.Thread(target=run, args=("group1", GROUP, SP)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert results == {"operator": ["0042"] * 20, "group1": ["0042"] * 20}


def test_a_client_gone_mid_document_changes_nothing_and_the_server_goes_on(
    world: tuple[OciServer, Path], api: BroadworksAPI
) -> None:
    server, db = world
    codes(api)
    before = policy_state(db)
    half = raw_document(
        "s1",
        '<command xsi:type="GroupAccountAuthorizationCodesAddListRequest" xmlns="">'
        "<serviceProviderId>P1</serviceProviderId><groupId>p1-acme</groupId>"
        "<codeEntry><code>9999</code></codeEntry></command>",
    )
    with socket.create_connection(server.oci) as sock:
        sock.sendall(half[: len(half) // 2])
    assert policy_state(db) == before
    assert "9999" not in codes(api)


def test_a_password_change_ends_the_oci_session(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    seed_tenants(db)
    enable(db, "group1")
    with OciServer(db) as server:
        api = client(server, "group1", PASSWORD)
        assert "1234" in codes(api)
        with PolicyStore(db) as store:
            Accounts(store).set_password("group1", "another good password", actor="ann")
        # Another process changed it: the server sees it within its refresh interval.
        deadline = time.monotonic() + 30
        refusal = None
        while refusal is None and time.monotonic() < deadline:
            try:
                codes(api)
            except OCIErrorResponse as exc:
                refusal = exc.object.summary
        assert refusal is not None
        assert "log in again" in refusal
        api.close()
        # The verifier followed the password: the new one logs in, the old one does not.
        assert "1234" in codes(client(server, "group1", "another good password"))
        with pytest.raises(OCIErrorResponse):
            codes(client(server, "group1", PASSWORD))


def _login22(user: str, password: str) -> bytes:
    return raw_document(
        "s22",
        '<command xsi:type="LoginRequest22V5" xmlns="">'
        f"<userId>{user}</userId><password>{password}</password></command>",
        '<command xsi:type="GroupAccountAuthorizationCodesGetListRequest" xmlns="">'
        "<serviceProviderId>P1</serviceProviderId><groupId>p1-acme</groupId></command>",
    )


def test_login22v5_with_the_password_is_taken_on_loopback(server: OciServer) -> None:
    with socket.create_connection(server.oci) as sock:
        reply = exchange(sock, _login22("group1", PASSWORD))
    assert b'xsi:type="LoginResponse22V5"' in reply
    assert b"<loginType>Group</loginType>" in reply
    assert b"<code>1234</code>" in reply
    assert b'<sessionId xmlns="">s22</sessionId>' in reply


def test_login22v5_over_tls_and_the_client_speaks_tls(tmp_path: Path) -> None:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    db = tmp_path / "store.db"
    seed_tenants(db)
    args = ("--oci-tls", "127.0.0.1:0", "--certfile", str(certfile), "--keyfile", str(keyfile))
    with OciServer(db, *args) as server:
        assert server.oci_tls is not None
        context = ssl.create_default_context()
        authority.configure_trust(context)
        with (
            socket.create_connection(server.oci_tls) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            reply = exchange(sock, _login22("group1", PASSWORD))
        assert b"<code>1234</code>" in reply


def test_replies_echo_the_session_id_and_one_session_is_one_connection(server: OciServer) -> None:
    auth = '<command xsi:type="AuthenticationRequest" xmlns=""><userId>group1</userId></command>'
    with socket.create_connection(server.oci) as sock:
        first = exchange(sock, raw_document("abc", auth))
        second = exchange(sock, raw_document("other", auth))
    assert b'<sessionId xmlns="">abc</sessionId>' in first
    assert b"<passwordAlgorithm>MD5</passwordAlgorithm>" in first
    assert b'<sessionId xmlns="">other</sessionId>' in second
    assert b"one session per connection" in second


def test_a_command_before_login_and_an_unknown_command_get_error_responses(
    server: OciServer,
) -> None:
    with socket.create_connection(server.oci) as sock:
        reply = exchange(
            sock,
            raw_document(
                "s22",
                '<command xsi:type="GroupAccountAuthorizationCodesGetListRequest" xmlns="">'
                "<serviceProviderId>P1</serviceProviderId><groupId>p1-acme</groupId></command>",
            ),
        )
        assert b'type="Error"' in reply
        assert b"not logged in" in reply
        sock.sendall(_login22("group1", PASSWORD))
        read_replies(sock)
        reply = exchange(
            sock,
            raw_document(
                "s22", '<command xsi:type="UserGetRequest22" xmlns=""><userId>a</userId></command>'
            ),
        )
    assert b"UserGetRequest22 is not supported" in reply


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--oci", "nowhere"], "--oci='nowhere': give HOST:PORT"),
        (["--oci-tls", "127.0.0.1:0"], "--oci-tls needs --certfile and --keyfile"),
        (["--oci", "203.0.113.1:2208"], "cannot listen there"),
    ],
)
def test_bad_oci_options_are_refused_before_serving(
    tmp_path: Path, args: list[str], says: str
) -> None:
    db = tmp_path / "store.db"
    serve = [sys.executable, "-m", "callcodes", "--db", str(db), "serve"]
    result = subprocess.run(
        [*serve, "--listen", "127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_ends_the_sessions_and_stops_the_listener(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    seed_tenants(db)
    server = OciServer(db)
    with socket.create_connection(server.oci) as sock:
        assert b"LoginResponse22V5" in exchange(sock, _login22("group1", PASSWORD))
        with PolicyStore(db, read_only=True) as store:
            assert [t.kind for t in Accounts(store).tokens("group1")].count("session") == 1
        status = server.stop()
        assert read_replies(sock) == b""  # closed by the server, nothing half written
    assert status in (0, -15, 143)
    with PolicyStore(db, read_only=True) as store:
        assert [t.kind for t in Accounts(store).tokens("group1")].count("session") == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.oci, timeout=5).close()
