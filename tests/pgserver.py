"""A throwaway PostgreSQL server for the tests: Debian's packages, a temporary cluster, a free port.

The set-up installs Debian's ``postgresql`` when it is missing (as the Kamailio tests install
Kamailio), creates a cluster with ``initdb`` in a temporary folder and runs ``postgres`` on a
free loopback port as a non-root user (PostgreSQL refuses to run as root: the ``postgres`` user
that Debian's package creates). The server is stopped by its pid; ``kill`` stops it with
SIGKILL, as a crash would, and ``start`` brings the same cluster back on the same port.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from debian import ensure_debian_packages

#: How long the server may take to start or stop before the test fails, in seconds.
READY_WAIT = 60.0
#: The database role the tests connect as (the cluster's superuser; trust on loopback only).
ROLE = "callcodes"


def binaries() -> Path | None:
    """The folder of the newest installed PostgreSQL server programs, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdecimal() else 0,
    )
    return found[-1].parent if found else None


def ensure_postgresql(log: Path) -> Path:
    """The server programs' folder, installing Debian's ``postgresql`` first when missing."""
    ensure_debian_packages(lambda: [] if binaries() else ["initdb"], ["postgresql"], log)
    folder = binaries()
    assert folder is not None
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One cluster in a temporary folder, served on a loopback port by a child process."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="callcodes-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            # PostgreSQL refuses root: run as Debian's postgres user, which owns the folder.
            self._user = "postgres"
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            ROLE,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    @property
    def url(self) -> str:
        """The URL of the server's ``postgres`` database."""
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / program), *args],
            user=self._user,
            capture_output=True,
            timeout=READY_WAIT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"{program} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")

    def start(self) -> None:
        """Run the server and wait until it accepts connections."""
        assert self.process is None, "already running"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=200",
                    # The tests need committed rows to survive a killed server, not a power cut.
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                ],
                user=self._user,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_WAIT
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"postgres exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"postgres did not accept connections:\n{self.log_tail()}")
                time.sleep(0.05)  # polling for readiness, not standing in for it

    def stop(self) -> None:
        """Fast shutdown (SIGINT), waited for."""
        self._signal(signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL, as a crash: the postmaster's children go down with it on their own."""
        self._signal(signal.SIGKILL)
        # A killed postmaster leaves its backends to notice and exit; wait until the port and
        # the shared memory are free so that start() can bring the cluster back.
        deadline = time.monotonic() + READY_WAIT
        while _listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout=READY_WAIT)
        finally:
            self.process = None

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no log)"

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_server(log: Path) -> Iterator[PostgresServer]:
    """A started server, stopped and removed afterwards."""
    server = PostgresServer(ensure_postgresql(log))
    try:
        server.start()
        yield server
    finally:
        server.remove()
