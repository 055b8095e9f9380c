"""Hostile input straight on the OCI-P socket: the server answers cleanly, closes, and goes on.

Each attack is sent to a real ``callcodes serve --oci`` on loopback; the test then reads what
the server answered until it closed the connection, checks that nothing was written to the
store, and that a well-behaved session still gets its answers afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ocip_server import OciServer, exchange, policy_state, raw_document, read_replies
from real_server import PASSWORD, seed_tenants

from callcodes.service.ocip.documents import MAX_DEPTH, MAX_DOCUMENT
from callcodes.service.ocip.listener import MAX_CONNECTIONS

LOGIN = (
    '<command xsi:type="LoginRequest22V5" xmlns="">'
    f"<userId>group1</userId><password>{PASSWORD}</password></command>"
)
LIST = (
    '<command xsi:type="GroupAccountAuthorizationCodesGetListRequest" xmlns="">'
    "<serviceProviderId>P1</serviceProviderId><groupId>p1-acme</groupId></command>"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OciServer, Path]]:
    db = tmp_path_factory.mktemp("hostile") / "store.db"
    seed_tenants(db)
    with OciServer(db) as server:
        yield server, db


def attack(server: OciServer, data: bytes) -> bytes:
    """Send *data*, then read everything until the server closes the connection."""
    with socket.create_connection(server.oci) as sock:
        # The server may close while a large attack is still being sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        got = b""
        sock.settimeout(60)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return got
            got += chunk
    return got


def still_serves(server: OciServer) -> None:
    with socket.create_connection(server.oci) as sock:
        reply = exchange(sock, raw_document("ok", LOGIN, LIST))
    assert b"<code>1234</code>" in reply


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']>\n<BroadsoftDocument protocol="OCI" xmlns="C"><sessionId>&lol9;</sessionId>'
    b"</BroadsoftDocument>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    b'<BroadsoftDocument protocol="OCI" xmlns="C"><sessionId>&x;</sessionId>'
    b"</BroadsoftDocument>"
)
DEEP = (
    b'<BroadsoftDocument protocol="OCI" xmlns="C"><sessionId>d</sessionId>'
    + b"<a>" * 100_000
    + b"</a>" * 100_000
    + b"</BroadsoftDocument>"
)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (BILLION_LAUGHS, b"DTDs, entities and external references are refused"),
        (EXTERNAL_ENTITY, b"DTDs, entities and external references are refused"),
        (DEEP, f"elements nest at most {MAX_DEPTH} deep".encode()),
        (b"\x00\x01\xfe\xff GET / HTTP/1.1\r\n\r\n", b"not an OCI-P document"),
        (b"<html><body>hello</body></html></BroadsoftDocument>", b"not well-formed XML"),
        (b"<BroadsoftDocument protocol='OCI'></BroadsoftDocument>", b"sessionId"),
        (raw_document("s", "<nothing/>"), b"at least one command"),
    ],
    ids=["billion-laughs", "external-entity", "deep", "bytes", "html", "no-session", "no-command"],
)
def test_garbage_gets_one_error_response_and_a_closed_connection(
    world: tuple[OciServer, Path], data: bytes, says: bytes
) -> None:
    server, db = world
    before = policy_state(db)
    reply = attack(server, data)
    assert reply.count(b"</BroadsoftDocument>") == 1
    assert b'type="Error"' in reply
    assert says in reply
    assert b"root:" not in reply  # no file was read into the answer
    assert policy_state(db) == before
    still_serves(server)


def test_a_document_of_many_megabytes_is_refused_without_reading_it_all(
    world: tuple[OciServer, Path],
) -> None:
    server, db = world
    before = policy_state(db)
    head = raw_document("big", LIST).split(b"</BroadsoftDocument>")[0]
    reply = attack(server, head + b"<x>" + b"y" * (8 * MAX_DOCUMENT))
    assert b"a document has at most 1048576 bytes" in reply
    assert policy_state(db) == before
    still_serves(server)


def test_documents_sent_before_the_first_is_answered_are_answered_in_order(
    world: tuple[OciServer, Path],
) -> None:
    server, _db = world
    auth = '<command xsi:type="AuthenticationRequest" xmlns=""><userId>group1</userId></command>'
    with socket.create_connection(server.oci) as sock:
        sock.sendall(raw_document("p", LOGIN) + raw_document("p", LIST) + raw_document("p", auth))
        replies = read_replies(sock, 3).split(b"</BroadsoftDocument>")
    assert b"LoginResponse22V5" in replies[0]
    assert b"<code>1234</code>" in replies[1]
    assert b"AuthenticationResponse" in replies[2]


def test_text_is_read_and_answered_in_iso_8859_1_other_characters_as_references(
    world: tuple[OciServer, Path],
) -> None:
    server, _db = world
    # e with diaeresis is one ISO-8859-1 byte; the euro sign is not in ISO-8859-1 at all.
    user = "<userId>Zo\u00eb&#8364;</userId>"
    auth = f'<command xsi:type="AuthenticationRequest" xmlns="">{user}</command>'
    with socket.create_connection(server.oci) as sock:
        reply = exchange(sock, raw_document("e", auth))
    assert reply.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert b"<userId>Zo\xeb&#8364;</userId>" in reply


def test_connections_beyond_the_limit_are_answered_and_closed(
    world: tuple[OciServer, Path],
) -> None:
    server, _db = world
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(socket.create_connection(server.oci))
        # The server counts a connection once it has accepted it: the one that answers
        # is refused with the limit, whichever order they are taken in.
        reply = attack(server, b"")
        assert b"too many connections (at most 256)" in reply
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the held connections end as the server sees them close
        with socket.create_connection(server.oci) as sock:
            reply = exchange(sock, raw_document("ok", LOGIN, LIST))
        if b"<code>1234</code>" in reply:
            break
    assert b"<code>1234</code>" in reply


@pytest.mark.parametrize(
    ("head", "encode"),
    [
        (b"", lambda text: text.encode("iso-8859-1")),  # no declaration: ISO-8859-1
        (b"\xef\xbb\xbf", lambda text: text.encode("utf-8")),  # a byte order mark: UTF-8
    ],
    ids=["undeclared", "utf-8-bom"],
)
def test_documents_without_a_declaration_are_read_as_broadworks_reads_them(
    world: tuple[OciServer, Path], head: bytes, encode: Callable[[str], bytes]
) -> None:
    server, _db = world
    text = (
        '<BroadsoftDocument protocol="OCI" xmlns="C"><sessionId>u</sessionId>'
        '<command xsi:type="AuthenticationRequest" xmlns="" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><userId>Zo\u00eb</userId>'
        "</command></BroadsoftDocument>"
    )
    with socket.create_connection(server.oci) as sock:
        reply = exchange(sock, head + encode(text))
    assert b"<userId>Zo\xeb</userId>" in reply
