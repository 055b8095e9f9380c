"""``POST /api/v1/decide`` against a real ``callcodes serve``, beside ``Engine.decide`` in-process.

One server process (uvicorn, one worker) on a store whose group ``acme`` holds 10,000
authorization codes; every call dials ``*71``, a 6-digit code and a national number, so each
request is authenticated (a softswitch token), split by the dial plan, decided and recorded in
the SQLite event log before it is answered. Measured in the same run:

* **references**: ``read_dialed`` + ``Engine.decide`` in this process, on the same policy, with
  the event log the server uses (``SqliteSink``, ``FlushPolicy.group(1000, 100)``), and without
  a sink; and the same request through the ASGI application in this process, without an HTTP
  server (what the application costs; the server's share comes on top);
* **decisions per second**: closed loop, several keep-alive connections sending back to back;
* **latency at a fixed offered rate** (2,000/s by default): an open-loop schedule (request i is
  due at ``start + i / rate`` whatever happened before), spread over keep-alive connections;
  each latency runs from the time the request was *due*, so a stalled server is not hidden by a
  client that waited for it (no coordinated omission);
* **the trivial route** (``GET /healthz``: no token, one read of the store, a small JSON
  answer) through the same server with the same two loads, as the Kamailio benchmark measures
  its trivial route: the framework and server's floor on this machine in this run, so the
  decide figures are read beside it (with the ratio of server CPU per request).

The load generator is a small HTTP/1.1 client on raw sockets (one thread per connection),
because httpx spends as much CPU per request as the server does: on a 2-core machine it would
measure the client. It still runs on the same two cores as the server; the server's own CPU
time per decision (from /proc) is reported beside each figure.

As a pytest-benchmark test:

    pytest benchmarks/bench_service.py -p no:cacheprovider --benchmark-enable \
        -o python_files='bench_*.py' -s

As a script:

    python benchmarks/bench_service.py --rate 2000 --seconds 5 --connections 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "service"))

from real_server import Server  # noqa: E402

import callcodes as cc  # noqa: E402
from callcodes.dialplan import read_dialed  # noqa: E402
from callcodes.events.sinks import FlushPolicy  # noqa: E402
from callcodes.events.sqlite import SqliteSink  # noqa: E402
from callcodes.store import PolicyStore  # noqa: E402
from callcodes.store.accounts import Accounts, Role  # noqa: E402

CODES = 10_000
DIALED = "*7112345613125550123"
BODY = {"group": "acme", "user": "1001", "dialed": DIALED}
PLAN = cc.DialPlan("US")  # the service's default plan: acme has none of its own
REFERENCE_CALLS = 10_000
THROUGHPUT_CALLS = 20_000
CONNECTIONS = 4
RATE = 2000
SECONDS = 5.0
WARMUP = 1000
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def make_store(path: Path) -> str:
    """Group acme, 10,000 6-digit codes, user 1001 enrolled; returns a softswitch token."""
    with PolicyStore(path) as store:
        store.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION,
                code_length=6,
                mandatory_users=frozenset({"1001"}),
                allow_local_and_toll_free=True,
                lockout=cc.Lockout(user_attempts=1000, group_attempts=100_000),
            ),
            actor="bench",
        )
        codes = ["123456", *(f"{n:06d}" for n in range(200_000, 200_000 + CODES - 1))]
        store.add_codes("acme", codes, actor="bench")
        accounts = Accounts(store)
        accounts.add("switch", Role.SOFTSWITCH, actor="bench")
        return accounts.issue_token("switch", actor="bench")[1]


# -- the load generator ---------------------------------------------------------------------------


def request_bytes(token: str) -> bytes:
    body = json.dumps(BODY).encode()
    head = (
        "POST /api/v1/decide HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def healthz_bytes() -> bytes:
    """The trivial route's request: no token, no body."""
    return b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read the whole response."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def call(self, payload: bytes) -> tuple[int, bytes]:
        self.sock.sendall(payload)
        data = self.buffer
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, rest = data.partition(b"\r\n\r\n")
        found = _LENGTH.search(head)
        length = int(found.group(1)) if found else 0
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return int(head[9:12]), rest[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def cpu_seconds(pid: int) -> float:
    """utime + stime of process *pid*, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """What one load run did."""

    sent: int
    ok: int
    wall: float
    server_cpu: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.ok / self.wall

    @property
    def cpu_us(self) -> float:
        return self.server_cpu / max(self.ok, 1) * 1e6

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def closed_loop(url: str, pid: int, payload: bytes, calls: int, connections: int) -> Load:
    """*calls* requests over *connections* connections, each sending back to back."""
    conns = [Connection(url) for _ in range(connections)]
    ok = [0] * connections
    share = calls // connections

    def run(index: int) -> None:
        conn = conns[index]
        for _ in range(share):
            status, _ = conn.call(payload)
            ok[index] += status == 200

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    for conn in conns:
        conn.close()
    return Load(share * connections, sum(ok), wall, cpu, [])


def open_loop(
    url: str, pid: int, payload: bytes, rate: float, seconds: float, connections: int
) -> Load:
    """Requests due every 1/*rate* s for *seconds*, request i on connection i mod n.

    A request's latency runs from when it was due: a connection still busy with an earlier
    request delays it, and that delay counts.
    """
    total = int(rate * seconds)
    conns = [Connection(url) for _ in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    ok = [0] * connections
    start = time.perf_counter() + 0.05

    def run(index: int) -> None:
        conn, mine = conns[index], latencies[index]
        for i in range(index, total, connections):
            due = start + i / rate
            ahead = due - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            status, _ = conn.call(payload)
            mine.append(time.perf_counter() - due)
            ok[index] += status == 200

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    cpu0 = cpu_seconds(pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu0
    for conn in conns:
        conn.close()
    return Load(total, sum(ok), wall, cpu, [x for part in latencies for x in part])


# -- the reference --------------------------------------------------------------------------------


def reference(store: Path, events: Path | None, calls: int) -> float:
    """Seconds per call of read_dialed + Engine.decide on the stored policy, in this process."""
    with PolicyStore(store, read_only=True) as policy:
        book = policy.load()
        settings = book.group("acme")
    sink = None if events is None else SqliteSink(events, FlushPolicy.group(1000, 100))
    engine = cc.Engine(book, sink)
    try:
        t0 = time.perf_counter()
        for _ in range(calls):
            taken = read_dialed(PLAN, settings, "acme", "1001", DIALED)
            assert taken.call is not None
            engine.decide(taken.call, taken.code)
        return (time.perf_counter() - t0) / calls
    finally:
        if sink is not None:
            sink.close()


def asgi_in_process(store: Path, events: Path, token: str, calls: int) -> float:
    """Seconds per ``POST /api/v1/decide`` through the ASGI application, without a server.

    The application's own cost (routing, authentication, the decision, the event, the JSON
    answer): what an HTTP server adds comes on top.
    """
    from callcodes.service import ServiceConfig, create_app

    app = create_app(ServiceConfig(store, events))
    body = json.dumps(BODY).encode()
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/decide",
        "raw_path": b"/api/v1/decide",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])  # type: ignore[arg-type]

    async def run() -> float:
        started: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        await started.put({"type": "lifespan.startup"})
        told: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        life = asyncio.create_task(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, started.get, told.put)
        )
        assert (await told.get())["type"] == "lifespan.startup.complete"
        for _ in range(WARMUP):
            await app({**scope, "state": {}}, receive, send)
        t0 = time.perf_counter()
        for _ in range(calls):
            await app({**scope, "state": {}}, receive, send)
        seconds = (time.perf_counter() - t0) / calls
        await started.put({"type": "lifespan.shutdown"})
        await told.get()
        await life
        return seconds

    seconds = asyncio.run(run())
    assert set(statuses) == {200}, set(statuses)
    return seconds


# -- pytest-benchmark -----------------------------------------------------------------------------


@dataclass
class Service:
    server: Server
    store: Path
    payload: bytes
    folder: Path
    token: str
    #: Server CPU per request by route (median of the closed-loop rounds), for the ratio.
    cpu_us: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("bench-service")
    store = folder / "policy.db"
    token = make_store(store)
    with Server(store, "--events", str(folder / "events.db")) as server:
        payload = request_bytes(token)
        status, body = Connection(server.url).call(payload)
        assert status == 200, body
        assert json.loads(body)["reason"] == "authorized"
        yield Service(server, store, payload, folder, token)


def test_reference_engine_decide_with_the_event_log(benchmark, service: Service, ratios) -> None:
    events = service.folder / "reference-events.db"
    benchmark.pedantic(
        reference, args=(service.store, events, REFERENCE_CALLS), rounds=3, iterations=1
    )
    ratios.record("Engine.decide + SQLite event log, in-process", benchmark, REFERENCE_CALLS)


def test_reference_engine_decide_without_a_sink(benchmark, service: Service, ratios) -> None:
    benchmark.pedantic(reference, args=(service.store, None, REFERENCE_CALLS), rounds=3)
    ratios.record("Engine.decide, no sink, in-process", benchmark, REFERENCE_CALLS)


def test_reference_asgi_app_in_process(benchmark, service: Service, ratios) -> None:
    events = service.folder / "asgi-events.db"
    benchmark.pedantic(
        asgi_in_process,
        args=(service.store, events, service.token, REFERENCE_CALLS),
        rounds=3,
        iterations=1,
    )
    ratios.record("POST /api/v1/decide, ASGI app in-process", benchmark, REFERENCE_CALLS)
    ratios.report(
        "POST /api/v1/decide, ASGI app in-process", "Engine.decide + SQLite event log, in-process"
    )


def test_service_decisions_per_second(benchmark, service: Service, ratios) -> None:
    server = service.server
    pid = server.process.pid
    closed_loop(server.url, pid, service.payload, WARMUP, CONNECTIONS)
    loads: list[Load] = []

    def run() -> None:
        loads.append(closed_loop(server.url, pid, service.payload, THROUGHPUT_CALLS, CONNECTIONS))

    benchmark.pedantic(run, rounds=3, iterations=1)
    for load in loads:
        assert load.ok == load.sent
    best = max(load.per_second for load in loads)
    cpu = statistics.median(load.cpu_us for load in loads)
    benchmark.extra_info.update(decisions_per_second=best, server_cpu_us=cpu)
    service.cpu_us["decide"] = cpu
    ratios.record("POST /api/v1/decide, closed loop", benchmark, THROUGHPUT_CALLS)
    ratios.report(
        "POST /api/v1/decide, closed loop", "Engine.decide + SQLite event log, in-process"
    )
    ratios.lines.append(
        f"decisions/s over HTTP, {CONNECTIONS} connections: best {best:,.0f} "
        f"(rounds: {', '.join(f'{x.per_second:,.0f}' for x in loads)}); server CPU {cpu:.0f} "
        "us per decision"
    )


def test_service_latency_at_a_fixed_rate(benchmark, service: Service, ratios) -> None:
    server = service.server
    pid = server.process.pid
    closed_loop(server.url, pid, service.payload, WARMUP, CONNECTIONS)
    loads: list[Load] = []

    def run() -> None:
        loads.append(open_loop(server.url, pid, service.payload, RATE, SECONDS, CONNECTIONS))

    benchmark.pedantic(run, rounds=1, iterations=1)
    (load,) = loads
    assert load.ok == load.sent
    p50, p99 = load.percentile(50) * 1e3, load.percentile(99) * 1e3
    benchmark.extra_info.update(
        rate=RATE, p50_ms=p50, p99_ms=p99, achieved=load.per_second, server_cpu_us=load.cpu_us
    )
    ratios.lines.append(
        f"offered {RATE}/s for {SECONDS:.0f} s over {CONNECTIONS} connections: achieved "
        f"{load.per_second:,.0f}/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max "
        f"{max(load.latencies) * 1e3:.1f} ms; server CPU {load.cpu_us:.0f} us per decision"
    )


def test_trivial_route_per_second(benchmark, service: Service, ratios) -> None:
    server = service.server
    pid, payload = server.process.pid, healthz_bytes()
    closed_loop(server.url, pid, payload, WARMUP, CONNECTIONS)
    loads: list[Load] = []

    def run() -> None:
        loads.append(closed_loop(server.url, pid, payload, THROUGHPUT_CALLS, CONNECTIONS))

    benchmark.pedantic(run, rounds=3, iterations=1)
    for load in loads:
        assert load.ok == load.sent
    best = max(load.per_second for load in loads)
    cpu = statistics.median(load.cpu_us for load in loads)
    benchmark.extra_info.update(requests_per_second=best, server_cpu_us=cpu)
    ratios.record("GET /healthz, closed loop", benchmark, THROUGHPUT_CALLS)
    ratios.report("POST /api/v1/decide, closed loop", "GET /healthz, closed loop")
    ratios.lines.append(
        f"GET /healthz over HTTP, {CONNECTIONS} connections: best {best:,.0f}/s "
        f"(rounds: {', '.join(f'{x.per_second:,.0f}' for x in loads)}); server CPU {cpu:.0f} "
        "us per request"
    )
    if "decide" in service.cpu_us:  # run alone, the decide route has not been measured
        decide = service.cpu_us["decide"]
        ratios.lines.append(
            f"server CPU per request: decide {decide:.0f} us, healthz {cpu:.0f} us, ratio "
            f"{decide / cpu:.2f}"
        )


def test_trivial_route_latency_at_a_fixed_rate(benchmark, service: Service, ratios) -> None:
    server = service.server
    pid, payload = server.process.pid, healthz_bytes()
    closed_loop(server.url, pid, payload, WARMUP, CONNECTIONS)
    loads: list[Load] = []

    def run() -> None:
        loads.append(open_loop(server.url, pid, payload, RATE, SECONDS, CONNECTIONS))

    benchmark.pedantic(run, rounds=1, iterations=1)
    (load,) = loads
    assert load.ok == load.sent
    p50, p99 = load.percentile(50) * 1e3, load.percentile(99) * 1e3
    benchmark.extra_info.update(rate=RATE, p50_ms=p50, p99_ms=p99, server_cpu_us=load.cpu_us)
    ratios.lines.append(
        f"GET /healthz offered {RATE}/s: achieved {load.per_second:,.0f}/s, p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms; server CPU {load.cpu_us:.0f} us per request"
    )


# -- the script -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, nargs="+", default=[RATE])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--calls", type=int, default=THROUGHPUT_CALLS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as name:
        folder = Path(name)
        store = folder / "policy.db"
        token = make_store(store)
        with_log = reference(store, folder / "reference.db", REFERENCE_CALLS)
        bare = reference(store, None, REFERENCE_CALLS)
        print(
            f"reference, in-process: Engine.decide + SQLite log {with_log * 1e6:.1f} us "
            f"({1 / with_log:,.0f}/s); without a sink {bare * 1e6:.1f} us ({1 / bare:,.0f}/s)"
        )
        with Server(store, "--events", str(folder / "events.db")) as server:
            pid = server.process.pid
            routes = (
                ("POST /api/v1/decide", request_bytes(token)),
                ("GET /healthz", healthz_bytes()),
            )
            cpu: dict[str, list[float]] = {route: [] for route, _ in routes}
            for route, payload in routes:
                closed_loop(server.url, pid, payload, WARMUP, args.connections)
                for _ in range(3):
                    load = closed_loop(server.url, pid, payload, args.calls, args.connections)
                    cpu[route].append(load.cpu_us)
                    print(
                        f"{route}, closed loop, {args.connections} connections: "
                        f"{load.per_second:,.0f}/s ({load.ok}/{load.sent} ok), server CPU "
                        f"{load.cpu_us:.0f} us per request"
                    )
                for rate in args.rate:
                    load = open_loop(server.url, pid, payload, rate, args.seconds, args.connections)
                    print(
                        f"{route}, offered {rate:,.0f}/s for {args.seconds:.0f} s: achieved "
                        f"{load.per_second:,.0f}/s ({load.ok}/{load.sent} ok), p50 "
                        f"{load.percentile(50) * 1e3:.2f} ms, p99 "
                        f"{load.percentile(99) * 1e3:.2f} ms, max "
                        f"{max(load.latencies) * 1e3:.1f} ms, server CPU {load.cpu_us:.0f} us "
                        "per request"
                    )
            decide, trivial = (statistics.median(cpu[route]) for route, _ in routes)
            # The trivial route is the floor the framework and server put under any route here.
            print(
                f"server CPU per request, median of the closed loops: decide {decide:.0f} us, "
                f"healthz {trivial:.0f} us, ratio {decide / trivial:.2f}; the in-process "
                f"decision with its event {with_log * 1e6:.0f} us"
            )
        load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average now: {load_avg}")


if __name__ == "__main__":
    main()
