"""A real ``callcodes serve`` process for the service tests: started on a free port, stopped by pid.

The server says where it listens on its standard error once it accepts connections, so a test
waits for that line rather than for a guessed time. :func:`seed_tenants` writes the tenancy
tests' world into a store before a server starts: groups of two service providers, and an
account with an API token for each role.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import attrs
import httpx

import callcodes as cc
from callcodes.store import PolicyStore
from callcodes.store.accounts import Accounts, Role
from callcodes.store.directory import UserDirectory

__all__ = ["PASSWORD", "Server", "Tenants", "seed_tenants", "store_bytes"]

#: The password of the seeded accounts that have one (12 characters at least).
PASSWORD: Final = "correct horse battery"

#: How long a server may take to start before the test fails (not a wait: an upper bound).
START_LIMIT: Final = 60.0
_READY: Final = "callcodes serve: listening on "


class Server:
    """``python -m callcodes --db DB serve --listen 127.0.0.1:0 ARGS...`` in a child process.

    *db* is a file or a ``postgresql://`` URL; None leaves ``--db`` out (``CALLCODES_DB`` in
    *env* names the store then).
    """

    def __init__(
        self, db: Path | str | None, *args: str, env: dict[str, str] | None = None
    ) -> None:
        command = [sys.executable, "-m", "callcodes"]
        command += [] if db is None else ["--db", str(db)]
        command += ["serve", "--listen", "127.0.0.1:0", *args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.url = self._await_ready()
        # A new connection per request: a reused keep-alive connection answers after about
        # 40 ms (a delayed ACK on loopback), which would make the tests slow for nothing.
        self.client = httpx.Client(
            base_url=self.url, timeout=30.0, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def _await_ready(self) -> str:
        """Read the server's standard error until it says where it listens."""
        assert self.process.stderr is not None
        stream = self.process.stderr
        seen = b""
        deadline = time.monotonic() + START_LIMIT
        while b"\n" not in seen or _READY.encode() not in seen:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([stream], [], [], max(left, 0))
            if not ready:
                self.stop()
                raise AssertionError(f"the server did not start: {seen.decode(errors='replace')}")
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                self.process.wait()
                raise AssertionError(
                    f"the server exited ({self.process.returncode}): "
                    f"{seen.decode(errors='replace')}"
                )
            seen += chunk
        line = next(x for x in seen.decode().splitlines() if x.startswith(_READY))
        return line.removeprefix(_READY).strip()

    def headers(self, token: str) -> dict[str, str]:
        """The Authorization header for *token*."""
        return {"Authorization": f"Bearer {token}"}

    def stop(self) -> int:
        """SIGTERM the server by pid and wait for it; its exit status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            if self.process.stderr is not None:
                self.process.stderr.close()
            client = getattr(self, "client", None)
            if client is not None:
                client.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def store_bytes(db: Path) -> str:
    """A digest of the store's file and its write-ahead log: equal when nothing was written."""
    digest = hashlib.sha256()
    for path in (db, db.with_name(db.name + "-wal")):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


@attrs.frozen
class Tenants:
    """The seeded world: tokens by role name, and which groups are whose."""

    tokens: dict[str, str]
    #: The group each role manages as its own (the operator's: any).
    own: dict[str, str]
    #: A group of the other provider, for each role (None: the role manages every group).
    other: dict[str, str | None]
    missing: str = "nowhere"


def seed_tenants(db: Path) -> Tenants:
    """Groups p1-acme and p1-beta (provider P1), p2-acme (P2); an account and token per role.

    Each group uses authorization codes 1234 and 0042, and has a directory of three users, one
    of them mandatory. Roles: ``operator``, ``provider1`` and ``group1`` (P1, p1-acme),
    ``provider2`` and ``group2`` (P2, p2-acme), ``softswitch``. Accounts ``provider1`` and
    ``group1`` also have the password :data:`PASSWORD`.
    """
    groups = {"p1-acme": "P1", "p1-beta": "P1", "p2-acme": "P2"}
    with PolicyStore(db) as store:
        for group, provider in groups.items():
            store.set_group(group, cc.GroupSettings(mode=cc.Mode.AUTHORIZATION), actor="seed")
            store.set_provider(group, provider, actor="seed")
            store.add_codes(
                group, [cc.CodeEntry("1234", "Sales"), cc.CodeEntry("0042")], actor="seed"
            )
            rows = "".join(
                f"{group},{user},{user.title()},Smith,Sales,,10{n}\n"
                for n, user in enumerate(("alice", "bob", "carol"))
            )
            UserDirectory(store).import_csv(
                f"group,user_id,first_name,last_name,department,phone_number,extension\n{rows}".encode(),
                actor="seed",
            )
            store.modify_group(
                group,
                lambda s: attrs.evolve(s, mandatory_users=frozenset({"alice"})),
                actor="seed",
            )
        accounts = Accounts(store)
        roles = {
            "operator": (Role.OPERATOR, None, False),
            "provider1": (Role.PROVIDER, "P1", True),
            "group1": (Role.GROUP, "p1-acme", True),
            "provider2": (Role.PROVIDER, "P2", False),
            "group2": (Role.GROUP, "p2-acme", False),
            "softswitch": (Role.SOFTSWITCH, None, False),
        }
        tokens = {}
        for name, (role, scope, password) in roles.items():
            accounts.add(
                name, role, scope=scope, password=PASSWORD if password else None, actor="seed"
            )
            tokens[name] = accounts.issue_token(name, actor="seed", label="tests")[1]
    own = {
        "operator": "p1-acme",
        "provider1": "p1-acme",
        "group1": "p1-acme",
        "provider2": "p2-acme",
        "group2": "p2-acme",
        "softswitch": "p1-acme",
    }
    other: dict[str, str | None] = {
        "operator": None,
        "provider1": "p2-acme",
        "group1": "p2-acme",
        "provider2": "p1-acme",
        "group2": "p1-acme",
        "softswitch": "p2-acme",
    }
    return Tenants(tokens, own, other)
