"""``callcodes serve`` as an operator starts it: where it listens, what it refuses, how it stops."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme
from real_server import Server

import callcodes as cc
from callcodes.store import PolicyStore
from callcodes.store.accounts import Accounts

_COMMAND = (sys.executable, "-m", "callcodes", "--db")


def _serve(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``callcodes serve`` expecting it to refuse at once (it exits without serving)."""
    return subprocess.run(
        [*_COMMAND, str(db), "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "callcodes.db"
    with PolicyStore(path) as store:
        store.set_group("acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION), actor="test")
    return path


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--listen", "nowhere"], "give HOST:PORT"),
        (["--listen", "127.0.0.1:70000"], "at most 65535"),
        (["--listen", "127.0.0.1:port"], "give HOST:PORT"),
        (["--listen", "203.0.113.1:8080"], "cannot listen there"),
    ],
)
def test_bad_listen_address_is_one_line_and_changes_nothing(
    db: Path, args: list[str], says: str
) -> None:
    before = db.read_bytes()
    result = _serve(db, *args)
    assert result.returncode == 1
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before


def test_a_port_in_use_is_refused(db: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _serve(db, "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "cannot listen there" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_a_store_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "notes.db"
    other.write_bytes(b"not a database at all, someone's notes" * 100)
    before = other.read_bytes()
    result = _serve(other, "--listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error:")
    assert other.read_bytes() == before


def test_certfile_without_keyfile_is_refused(db: Path, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    result = _serve(db, "--listen", "127.0.0.1:0", "--certfile", str(cert))
    assert result.returncode == 1
    assert "--certfile and --keyfile together" in result.stderr


def test_json_says_where_it_listens_and_sigterm_stops_it(db: Path) -> None:
    process = subprocess.Popen(
        [*_COMMAND, str(db), "serve", "--listen", "127.0.0.1:0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        where = json.loads("".join(lines))["listening"]
        assert where.startswith("http://127.0.0.1:")
        port = int(where.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = conn.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    # uvicorn stops cleanly, then ends as the signal asks (a supervisor sees SIGTERM's status).
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")


def test_real_server_fixture_serves_until_stopped(db: Path) -> None:
    with Server(db) as server:
        assert server.client.get("/healthz").json()["status"] == "ok"
    assert server.process.returncode is not None


def test_tls_serves_https_only(db: Path, tmp_path: Path) -> None:
    """With --certfile and --keyfile the service speaks HTTPS, and plain HTTP gets nothing."""
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    with Server(db, "--certfile", str(certfile), "--keyfile", str(keyfile)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context()
        authority.configure_trust(context)
        with httpx.Client(base_url=server.url, verify=context) as client:
            answer = client.get("/healthz")
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"
        plain = server.url.replace("https", "http", 1)
        with httpx.Client(base_url=plain) as client, pytest.raises(httpx.HTTPError):
            client.get("/healthz")
        # Without the authority, the system's trust store refuses the certificate.
        with httpx.Client(base_url=server.url) as client, pytest.raises(httpx.ConnectError):
            client.get("/healthz")


def test_sigterm_lets_a_request_in_flight_finish(db: Path) -> None:
    """SIGTERM during a request: the request is answered and its change kept, then it stops.

    ``Expect: 100-continue`` is the synchronisation: the server answers ``100 Continue`` once
    the application reads the body, so the request is known to be in flight when the signal
    is sent; the body follows the signal.
    """
    with PolicyStore(db) as store:
        accounts = Accounts(store)
        accounts.add("olga", "operator", actor="test")
        _info, token = accounts.issue_token("olga", actor="test")
        store.set_group("acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION), actor="test")
    body = json.dumps({"codes": [{"code": "1234"}, {"code": "5678"}]}).encode()
    server = Server(db)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=60) as conn:
            conn.sendall(
                b"POST /api/v1/groups/acme/codes HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n".encode()
                + b"Connection: close\r\n\r\n"
            )
            reader = conn.makefile("rb")
            assert reader.readline().startswith(b"HTTP/1.1 100")
            reader.readline()  # the blank line after the interim answer
            server.process.send_signal(signal.SIGTERM)
            conn.sendall(body)
            answer = reader.read()
    finally:
        server.stop()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    with PolicyStore(db) as store:
        assert [entry.code for entry in store.codes("acme")] == ["1234", "5678"]
