"""The OCI-P listeners of ``callcodes serve``: TCP (and TLS) connections, one session each.

The listeners run on the service's event loop and share its node (store, accounts, engine),
started after the node opens and stopped before it closes (:func:`listeners`, a lifespan of
the application). A connection is read document by document, each ending with
``</BroadsoftDocument>``; a document is answered before the next is read, so documents sent
ahead are answered in order. What cannot be a document (more than 1 MiB without its end, bytes
that do not start an XML document, XML that does not parse or nests too deep, a DTD or an
entity) gets one ``ErrorResponse`` saying why, and the connection is closed. The commands run
on worker threads, as the REST routes do; on shutdown the listeners stop taking connections,
the commands running are finished, and every session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, TypeVar

from ..._errors import InvalidValueError
from ..config import ServiceConfig
from ..node import Node
from .documents import BOM, END, MAX_DOCUMENT, document, error, parse
from .session import Session

__all__ = ["Listener", "check_address", "listeners"]

_T = TypeVar("_T")

#: A session without a document for this long is closed (seconds).
IDLE: Final = 1800.0
#: A document must arrive whole within this time of its first byte (seconds).
DOCUMENT_TIME: Final = 60.0
#: A reply the client does not take within this time closes the connection (seconds).
WRITE_TIME: Final = 60.0
#: At most this many connections at once per listener; more are answered with an error.
MAX_CONNECTIONS: Final = 256
_CHUNK: Final = 64 * 1024
_SPACE: Final = b" \t\r\n"


class _Refused(Exception):  # noqa: N818 - internal: a connection that cannot go on
    """What the peer sent cannot be a document: answer why, then close."""


def _plain_ok(host: str, secure: bool) -> bool:
    """Whether a password may come in clear: over TLS, or from the loopback address."""
    if secure:
        return True
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class Listener:
    """One OCI-P listening socket (TCP, or TLS with *tls*) answering with *node*."""

    def __init__(self, node: Node, tls: ssl.SSLContext | None = None) -> None:
        self.node = node
        self.tls = tls
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._busy: set[asyncio.Future[Any]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on *host*:*port* (0: any free port); the address really bound."""
        try:
            self.server = await asyncio.start_server(
                self._connection,
                host,
                port,
                ssl=self.tls,
                ssl_handshake_timeout=None if self.tls is None else DOCUMENT_TIME,
                reuse_address=True,
            )
        except OSError as exc:
            option = "--oci" if self.tls is None else "--oci-tls"
            raise InvalidValueError(
                option, f"{host}:{port}", f"cannot listen there: {exc.strerror}"
            ) from None
        bound = self.server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        """Stop taking connections, finish the commands running, end every session."""
        if self.server is not None:
            self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._busy, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    async def _run(self, work: Callable[..., _T], *args: Any) -> _T:
        """*work* on a worker thread; a shutdown waits for it rather than abandoning it."""
        future = asyncio.get_running_loop().run_in_executor(None, work, *args)
        self._busy.add(future)
        future.add_done_callback(self._busy.discard)
        return await asyncio.shield(future)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else "unknown"
        session = Session(self.node, source=host, plain_ok=_plain_ok(host, self.tls is not None))
        try:
            await self._converse(session, reader, writer)
        except _Refused as exc:
            with contextlib.suppress(OSError, TimeoutError):
                await self._send(writer, document(session.session_id or "", [error(str(exc))]))
        except (OSError, TimeoutError, ssl.SSLError):
            pass  # the peer went away or stalled: its session ends below
        finally:
            try:
                await self._run(session.close)
            finally:
                self._tasks.discard(task)
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
                    await writer.wait_closed()

    async def _converse(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if len(self._tasks) > MAX_CONNECTIONS:
            raise _Refused(f"too many connections (at most {MAX_CONNECTIONS}): try later")
        buffer = bytearray()
        while True:
            data = await _next_document(reader, buffer)
            if data is None:
                return
            try:
                request = parse(data)
            except InvalidValueError as exc:
                raise _Refused(str(exc)) from None
            await self._send(writer, await self._run(session.answer, request))

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await asyncio.wait_for(writer.drain(), WRITE_TIME)


def _starts_xml(buffer: bytearray) -> bool:
    """Whether *buffer* may begin a document: ``<``, perhaps after the UTF-8 byte order mark."""
    head = bytes(buffer[: len(BOM) + 1])
    return head[:1] == b"<" or (BOM + b"<").startswith(head)


async def _next_document(reader: asyncio.StreamReader, buffer: bytearray) -> bytes | None:
    """The next document on the connection, or None when it closed between documents."""
    scanned = 0
    deadline: float | None = None
    while True:
        del buffer[: len(buffer) - len(buffer.lstrip(_SPACE))]
        end = buffer.find(END, max(0, scanned - len(END)))
        if end >= 0:
            size = end + len(END)
            data = bytes(buffer[:size])
            del buffer[:size]
            return data
        if len(buffer) > MAX_DOCUMENT:
            raise _Refused(f"a document has at most {MAX_DOCUMENT} bytes: this one is larger")
        if buffer and not _starts_xml(buffer):
            raise _Refused("not an OCI-P document: a document is XML, starting with '<'")
        scanned = len(buffer)
        if buffer and deadline is None:
            deadline = time.monotonic() + DOCUMENT_TIME
        wait = IDLE if deadline is None else deadline - time.monotonic()
        if wait <= 0:
            raise _Refused(f"a document must arrive whole within {DOCUMENT_TIME:g} seconds")
        try:
            chunk = await asyncio.wait_for(reader.read(_CHUNK), wait)
        except TimeoutError:
            if deadline is None:
                return None  # idle too long: the session is closed
            continue
        if not chunk:
            return None  # closed, perhaps in the middle of a document: nothing is done
        buffer += chunk


def check_address(host: str, port: int, option: str) -> None:
    """Refuse (naming *option*) an address nothing can listen on, before the service starts.

    The listener binds again when the service starts; checked here, a typo or a port in use is
    one line of error rather than a failed start.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidValueError(
                option, f"{host}:{port}", f"cannot listen there: {exc.strerror}"
            ) from None


def _tls(config: ServiceConfig) -> ssl.SSLContext:
    if config.tls is None:
        raise InvalidValueError("--oci-tls", config.oci_tls, "give --certfile and --keyfile")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(config.tls[0]), str(config.tls[1]))
    return context


def _announce(kind: str, host: str, port: int) -> None:
    """Say where OCI-P listens, on standard error, before the service's ready line."""
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"callcodes serve: {kind} listening on {shown}:{port}\n")
    sys.stderr.flush()


def listeners(config: ServiceConfig) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The application lifespan that runs *config*'s OCI-P listeners on the service's node."""

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        wanted = [(config.oci, "OCI-P", False), (config.oci_tls, "OCI-P over TLS", True)]
        started: list[Listener] = []
        try:
            for where, kind, secure in wanted:
                if where is None:
                    continue
                node: Node = app.state["node"]
                listener = Listener(node, _tls(config) if secure else None)
                bound = await listener.start(*where)
                started.append(listener)
                _announce(kind, *bound)
            yield
        finally:
            for listener in started:
                await listener.stop()

    return run
