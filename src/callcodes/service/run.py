"""Run the service with uvicorn: listen address, TLS, and a clean stop on SIGTERM.

uvicorn stops accepting connections on SIGTERM or SIGINT, lets the requests in flight finish
(at most ``grace`` seconds), then runs the application's shutdown, which closes the event log
(flushing it) and the store. The first line on standard error once the socket listens is
``callcodes serve: listening on http[s]://HOST:PORT``, the port being the real one when 0 was
asked for, so a supervisor (or a test) knows when and where to connect.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from .._errors import InvalidValueError
from .app import create_app
from .config import ServiceConfig

__all__ = ["announce", "parse_listen", "serve"]


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it listens once it has started."""

    def __init__(self, config: uvicorn.Config, where: str, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self.where = where
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_ready(self.where)


def announce(where: str) -> None:
    """Say on standard error where the server listens: the line supervisors wait for."""
    sys.stderr.write(f"callcodes serve: listening on {where}\n")
    sys.stderr.flush()


def parse_listen(text: str, option: str = "--listen") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a host and a port from 0 to 65535."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isascii() or not port.isdecimal():
        raise InvalidValueError(option, text, "give HOST:PORT, like 127.0.0.1:8080")
    number = int(port)
    if number > 65535:
        raise InvalidValueError(option, text, "a port is at most 65535")
    return host, number


def serve(
    config: ServiceConfig,
    listen: str = "127.0.0.1:8080",
    *,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    grace: int = 30,
    on_ready: Callable[[str], None] = announce,
) -> None:
    """Serve *config* on *listen* until SIGTERM or SIGINT (with TLS when *certfile* is given).

    *on_ready* is called with the URL once the server accepts connections (by default it
    writes the ready line on standard error).
    """
    host, port = parse_listen(listen)
    if (certfile is None) != (keyfile is None):
        raise InvalidValueError("--keyfile", str(keyfile), "give --certfile and --keyfile together")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every response waits ~40 ms for the client's delayed acknowledgement.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidValueError(
            "--listen", listen, f"cannot listen there: {exc.strerror}"
        ) from None
    bound = sock.getsockname()[1]
    uv = uvicorn.Config(
        create_app(config),
        ssl_certfile=None if certfile is None else str(certfile),
        ssl_keyfile=None if keyfile is None else str(keyfile),
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=grace,
        server_header=False,
    )
    scheme = "https" if certfile is not None else "http"
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    server = _Server(uv, f"{scheme}://{shown}:{bound}", on_ready)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise InvalidValueError(
            "--db", str(config.store), "the service could not start: see the log above"
        )
