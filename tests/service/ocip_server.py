"""A real ``callcodes serve --oci`` process, and the BroadWorks client pointed at it.

The server says where each OCI-P listener is bound on its standard error before its ready line,
so the tests connect to ports the system chose (port 0) rather than guessed ones.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import time
from pathlib import Path
from typing import Final

from broadworks_ocip import BroadworksAPI
from real_server import START_LIMIT, Server

from callcodes.store import PolicyStore

__all__ = ["OciServer", "client", "exchange", "policy_state", "raw_document", "read_replies"]

_OCI: Final = "callcodes serve: OCI-P listening on "
_OCI_TLS: Final = "callcodes serve: OCI-P over TLS listening on "
_READY: Final = "callcodes serve: listening on "


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    return host.strip("[]"), int(port)


class OciServer(Server):
    """``callcodes serve --oci 127.0.0.1:0 ARGS...``; ``oci`` (and ``oci_tls``) where it listens."""

    oci: tuple[str, int]
    oci_tls: tuple[str, int] | None

    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(db, "--oci", "127.0.0.1:0", *args, env=env)

    def _await_ready(self) -> str:
        """Read standard error until the ready line; note the OCI-P listeners on the way."""
        assert self.process.stderr is not None
        seen = b""
        deadline = time.monotonic() + START_LIMIT
        while _READY.encode() not in seen or not seen.endswith(b"\n"):
            ready, _, _ = select.select([self.process.stderr], [], [], deadline - time.monotonic())
            chunk = os.read(self.process.stderr.fileno(), 4096) if ready else b""
            if not chunk:
                self.stop()
                raise AssertionError(f"the server did not start: {seen.decode(errors='replace')}")
            seen += chunk
        lines = seen.decode().splitlines()
        self.oci = _address(next(x for x in lines if x.startswith(_OCI)).removeprefix(_OCI))
        tls = [x.removeprefix(_OCI_TLS) for x in lines if x.startswith(_OCI_TLS)]
        self.oci_tls = _address(tls[0]) if tls else None
        return next(x for x in lines if x.startswith(_READY)).removeprefix(_READY).strip()


def client(server: OciServer, user: str, password: str) -> BroadworksAPI:
    """The BroadWorks client of provisioning scripts, as such a script makes it."""
    quiet = logging.getLogger("ocip-tests")
    quiet.setLevel(logging.CRITICAL)
    host, port = server.oci
    return BroadworksAPI(host=host, port=port, username=user, password=password, logger=quiet)


def raw_document(session: str, *commands: str) -> bytes:
    """A request document as a BroadWorks client writes it (ISO-8859-1, namespace ``C``)."""
    body = "".join(commands)
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<BroadsoftDocument protocol="OCI" xmlns="C" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<sessionId xmlns="">{session}</sessionId>{body}</BroadsoftDocument>\n'
    ).encode("iso-8859-1")


def exchange(sock: socket.socket, data: bytes, replies: int = 1) -> bytes:
    """Send *data*, then read until *replies* documents came back or the server closed."""
    sock.sendall(data)
    return read_replies(sock, replies)


def read_replies(sock: socket.socket, replies: int = 1) -> bytes:
    """Read until *replies* documents came back, or the server closed the connection."""
    got = b""
    sock.settimeout(60)
    while got.count(b"</BroadsoftDocument>") < replies:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def policy_state(db: Path) -> tuple[object, ...]:
    """What a refused change must leave as it was: every group's settings, provider and codes,
    and the audit trail (sessions opened and ended by logins are not policy: left out)."""
    with PolicyStore(db, read_only=True) as store:
        groups = {
            group: (store.group(group), store.provider(group), list(store.iter_codes(group)))
            for group in store.groups()
        }
        return groups, [(r.action, r.group, r.detail) for r in store.audit()]
