"""INVITEs per second through Kamailio with callcodes, against a trivial Python route.

Both routes run in the same Kamailio (examples/kamailio/kamailio.cfg, 2 workers, 1 GB of shared
memory managed by TLSF, as docs/kamailio.md recommends for production; ``--memory qm`` for
Kamailio's default), on loopback, one after the other in the same run: a sipp caller offers a
fixed rate of INVITEs (answered, acknowledged and hung up through the proxy by a sipp gateway)
for a few seconds. For each run: calls completed and failed, retransmissions, the CPU time of every
Kamailio process (utime + stime from /proc) per call, and that of the journal shipper when
there is one (the node's total). Each Kamailio first takes a few warm-up calls, outside the
measurement.

Two kinds of traffic (``--traffic``):

* ``simple``: every call dials ``*71``, a 6-digit code and one national number, against one
  group of 10,000 codes;
* ``realistic`` (``kamailio_traffic.py``): 1,000 groups chosen by the caller's domain,
  destinations drawn from 100,000 US and international numbers with a Zipf law, 10 % wrong
  codes (403), emergency and internal calls in the mix.

The callcodes route strips the code, rewrites the Request-URI and the To header and records
every event. Tunings: "strict" (the defaults: every event synced, the policy checked before
every INVITE), "tuned" (group commit every 1000 events into the SQLite log, the policy checked
once a second) and "journal" (the settings docs/kamailio.md recommends for production: "tuned"
with each worker appending its events to a journal, shipped into the SQLite log by
``callcodes events ship``, whose CPU is measured too); "journal-to-kept" is "journal" with the
To header left as the caller sent it (``hide_code_in_to = false``: no ``uac`` rewrite), to
measure what hiding the code there costs. Runs alternate between the routes and
repeat; the report gives medians, a Markdown table and, with ``--plot``, a PNG.

As a pytest-benchmark test (one round, the comparison at the rates below):

    pytest benchmarks/bench_kamailio.py -p no:cacheprovider --benchmark-enable \
        -o python_files='bench_*.py' -s

As a script, to search the highest rate without a failed call:

    python benchmarks/bench_kamailio.py --traffic realistic --tunings journal \
        --rates 500 1000 1500 2000 2500 3000 --seconds 5 --repeats 3 \
        --plot docs/performance-kamailio.png
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "kamailio"))

import kamharness as kh  # noqa: E402

import callcodes as cc  # noqa: E402
import kamailio_traffic as traffic  # noqa: E402
from callcodes.store import PolicyStore  # noqa: E402

HERE = Path(__file__).resolve().parent
TRIVIAL = HERE / "kamailio_trivial_route.py"
CALLCODES = kh.EXAMPLE / "callcodes_router.py"  # the example KEMI script, as users install it
TRAFFIC_CALLER = HERE / "kamailio_caller_traffic.xml"
DIALED = "*71123456913125550123"
RATES = (1000, 2000)
SECONDS = 3.0
REPEATS = 2
MEMORY_MANAGERS = ("qm", "fm", "tlsf")
MEMORY = "tlsf"  # Kamailio's memory manager for production (its default, qm, costs more per call)
CHILDREN = 2  # Kamailio's UDP workers: one per core of the machine the figures come from
CODES = 10_000
WARM_UP = 50  # calls before each measurement: imports, caches and the first policy check
# sync_every, refresh_ms, journaled, hide_code_in_to: the strict defaults; group commit with a
# policy check per second; the same with each worker's events journaled and shipped by another
# process (the production settings); and those with the To header left as the caller sent it.
TUNINGS = {
    "strict": (1, 0, False, True),
    "tuned": (1000, 1000, False, True),
    "journal": (1000, 1000, True, True),
    "journal-to-kept": (1000, 1000, True, False),
}


@dataclass
class Run:
    label: str
    rate: int
    calls: int
    ok: int
    failed: int
    retransmissions: int
    wall: float
    kamailio_cpu: float
    sipp_cpu: float
    events: int | None
    shipper_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.ok / self.wall

    @property
    def cpu_per_call_us(self) -> float:
        return self.kamailio_cpu / max(self.ok, 1) * 1e6

    @property
    def node_per_call_us(self) -> float:
        """Kamailio and the journal shipper together."""
        return (self.kamailio_cpu + self.shipper_cpu) / max(self.ok, 1) * 1e6

    def line(self) -> str:
        events = "" if self.events is None else f" events={self.events}"
        shipper = (
            f" + shipper {self.shipper_cpu / max(self.ok, 1) * 1e6:.0f}" if self.shipper_cpu else ""
        )
        return (
            f"{self.label:18s} offered {self.rate:5d}/s: ok={self.ok} failed={self.failed} "
            f"retrans={self.retransmissions} -> {self.per_second:6.0f} calls/s, Kamailio CPU "
            f"{self.cpu_per_call_us:5.0f} us/call{shipper} (sipp {self.sipp_cpu:.2f} s){events}"
        )


def make_simple_store(path: Path) -> None:
    with PolicyStore(path) as store:
        store.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION,
                code_length=6,
                mandatory_users=frozenset({"1001"}),
                allow_local_and_toll_free=True,
            ),
            actor="bench",
        )
        codes = ["123456", *(f"{n:06d}" for n in range(200_000, 200_000 + CODES - 1))]
        store.add_codes("acme", codes, actor="bench")


@dataclass(frozen=True)
class Traffic:
    """What the caller dials, against which policy; and what callcodes must refuse of it."""

    name: str
    make_store: Callable[[Path], None]
    group_line: str  # the configuration's group setting ("" : the caller's domain names it)
    calls_file: Callable[[Path, int], traffic.Calls | None]

    def caller_argv(
        self,
        kamailio: kh.Kamailio,
        calls: int,
        rate: int,
        seconds: float,
        stat: Path,
        found: traffic.Calls | None,
    ) -> list[str]:
        common = {
            "remote": f"{kh.LOOPBACK}:{kamailio.port}",
            "calls": calls,
            "rate": rate,
            "limit": 5000,
            "timeout_s": seconds + 20,
            "stat_file": stat,
        }
        if found is None:
            return kh.sipp_argv(
                kh.SCENARIOS / "caller.xml",
                service=DIALED,
                keys={"caller": "1001", "domain": "acme.example", "extra_hdrs": "X-Test: 1"},
                extra=["-recv_timeout", "5000"],
                **common,  # type: ignore[arg-type]
            )
        return kh.sipp_argv(
            TRAFFIC_CALLER,
            extra=["-recv_timeout", "5000", "-inf", str(found.path)],
            **common,  # type: ignore[arg-type]
        )


TRAFFICS = {
    "simple": Traffic("simple", make_simple_store, 'group = "acme"\n', lambda _p, _n: None),
    "realistic": Traffic("realistic", traffic.make_store, "", traffic.write_calls),
}


def write_config(
    path: Path, store: Path, events: Path, gateway: int, tuning: str, kind: Traffic
) -> Path | None:
    """The router's configuration; the spool folder when the tuning journals."""
    sync_every, refresh_ms, journaled, hide_to = TUNINGS[tuning]
    spool = events.with_suffix(".spool") if journaled else None
    path.write_text(
        f'store = "{store}"\nevents = "{events}"\n'
        f'gateway = "sip:{kh.LOOPBACK}:{gateway}"\n{kind.group_line}'
        f"sync_every = {sync_every}\nrefresh_ms = {refresh_ms}\n"
        f"hide_code_in_to = {str(hide_to).lower()}\n"
        + (f'spool = "{spool}"\n' if spool else "")
        + "[dial_plan]\n"
        + traffic.DIAL_PLAN
    )
    return spool


def prepare(workdir: Path, kind: Traffic, calls: int) -> tuple[str, Path, traffic.Calls | None]:
    """What every run in *workdir* shares: Kamailio's Python path, the policy, the calls."""
    site = os.pathsep.join(str(p) for p in kh.kamailio_python_path(workdir / "site"))
    store = workdir / "policy.db"
    kind.make_store(store)
    return site, store, kind.calls_file(workdir / "calls.csv", calls)


def trivial_env(gateway: int) -> dict[str, str]:
    """The Kamailio environment of a trivial-route run: the gateway it relays to."""
    return {"TRIVIAL_GATEWAY": f"sip:{kh.LOOPBACK}:{gateway}"}


def callcodes_env(
    workdir: Path,
    tag: str,
    store: Path,
    site: str,
    gateway: int,
    tuning: str,
    kind: Traffic,
) -> tuple[dict[str, str], Path, Path | None]:
    """The Kamailio environment of one callcodes run, its event log and its spool folder."""
    events = workdir / f"events-{tag}.db"
    config = workdir / f"cc-{tag}.toml"
    spool = write_config(config, store, events, gateway, tuning, kind)
    return {"CALLCODES_SITE": site, "CALLCODES_CONFIG": str(config)}, events, spool


def start_shipper(spool: Path, events: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "callcodes", "events", "--log", str(events), "ship", str(spool)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def stop_shipper(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM (it delivers what is left first); the CPU seconds it used in all."""
    proc.send_signal(signal.SIGTERM)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, f"the shipper exited with {proc.returncode}"
    return usage.ru_utime + usage.ru_stime


def start_gateway(port: int, calls: int, timeout_s: float) -> subprocess.Popen[bytes]:
    """A sipp gateway answering up to *calls* INVITEs on *port*, once it listens."""
    argv = kh.sipp_argv(
        kh.SCENARIOS / "gateway.xml",
        local_port=port,
        calls=calls,
        timeout_s=timeout_s,
        timeout_error=False,
    )
    gw = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    kh.wait_for(lambda: kh.udp_port_bound(port), 10, "the sipp gateway")
    return gw


def warm_up(kamailio: kh.Kamailio, gateway: int, workdir: Path) -> None:
    """A few calls outside the measurement: each worker imports, loads and caches first."""
    gw = start_gateway(gateway, WARM_UP, 30)
    try:
        argv = kh.sipp_argv(
            kh.SCENARIOS / "caller.xml",
            remote=f"{kh.LOOPBACK}:{kamailio.port}",
            service=DIALED,
            keys={"caller": "1001", "domain": "acme.example", "extra_hdrs": "X-Test: 1"},
            calls=WARM_UP,
            rate=WARM_UP,
            timeout_s=30,
            timeout_error=False,
        )
        subprocess.run(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    finally:
        gw.terminate()
        gw.wait(10)


def run_once(
    workdir: Path,
    label: str,
    script: Path,
    env: dict[str, str],
    gateway: int,
    rate: int,
    seconds: float,
    repeat: int,
    kind: Traffic,
    found: traffic.Calls | None,
    events: Path | None = None,
    spool: Path | None = None,
    *,
    children: int = CHILDREN,
    memory: str = MEMORY,
    wrapper: tuple[str, ...] = (),
) -> Run:
    """One Kamailio with *children* workers, one gateway, one caller at *rate* INVITEs/s."""
    calls = int(rate * seconds)
    here = workdir / f"{label.replace(' ', '-')}-{rate}-{repeat}"
    here.mkdir(parents=True, exist_ok=True)
    kamailio = kh.Kamailio(
        here,
        kh.EXAMPLE / "kamailio.cfg",
        script,
        shm_mb=1024,
        env=env,
        children=children,
        memory=memory,
        wrapper=wrapper,
    )
    kamailio.start(timeout=600.0 if wrapper else 20.0)  # a profiler slows the start
    shipper = None if spool is None or events is None else start_shipper(spool, events)
    shipper_cpu = 0.0
    try:
        warm_up(kamailio, gateway, here)
        # At most *calls*: callcodes refuses some; it is stopped once the caller is done.
        gw = start_gateway(gateway, calls, seconds + 30)
        try:
            stat = here / "caller.csv"
            argv = kind.caller_argv(kamailio, calls, rate, seconds, stat, found)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu0, t0 = kamailio.cpu_seconds(), time.monotonic()
            ship0 = _cpu(shipper)
            subprocess.run(
                argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                timeout=seconds + 40,
                check=False,
            )
            wall = time.monotonic() - t0
            cpu = kamailio.cpu_seconds() - cpu0
            gw.terminate()  # every call has ended for the caller: the gateway has no more
            gw.wait(10)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            sipp_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            stats = kh.read_sipp_stats(stat)
        finally:
            if gw.poll() is None:
                gw.terminate()
                gw.wait(5)
    finally:
        kamailio.stop()
        if shipper is not None:
            # The shipper's CPU during the run, and what it needed to catch up after it.
            shipper_cpu = stop_shipper(shipper) - ship0
    counted = None if events is None else sum(1 for _ in cc.read_events(events))
    return Run(
        label,
        rate,
        calls,
        int(stats["SuccessfulCall(C)"]),
        int(stats["FailedCall(C)"]),
        int(stats.get("Retransmissions(C)") or 0),
        wall,
        cpu,
        sipp_cpu,
        counted,
        shipper_cpu,
    )


def _cpu(proc: subprocess.Popen[bytes] | None) -> float:
    """CPU seconds a running process used so far (0 without one)."""
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(
    workdir: Path,
    rates: tuple[int, ...],
    seconds: float,
    repeats: int,
    tunings: tuple[str, ...] = tuple(TUNINGS),
    kind: Traffic = TRAFFICS["simple"],
    children: int = CHILDREN,
    memory: str = MEMORY,
) -> list[Run]:
    """Each rate, *repeats* times: the trivial route, then callcodes with each tuning."""
    site, store, found = prepare(workdir, kind, int(max(rates) * seconds))
    gateway = kh.free_udp_port()
    options = {"children": children, "memory": memory}  # the same Kamailio for both routes
    runs = []
    for rate in rates:
        for repeat in range(repeats):
            common = (gateway, rate, seconds, repeat, kind, found)
            trivial = trivial_env(gateway)
            runs.append(run_once(workdir, "trivial", TRIVIAL, trivial, *common, **options))
            for tuning in tunings:
                env, events, spool = callcodes_env(
                    workdir, f"{rate}-{tuning}-{repeat}", store, site, gateway, tuning, kind
                )
                label = f"callcodes {tuning}"
                runs.append(
                    run_once(workdir, label, CALLCODES, env, *common, events, spool, **options)
                )
    return runs


def medians(runs: list[Run]) -> list[tuple[int, str, float, int, float, float]]:
    """Per rate and route: calls/s, failed calls (all repeats), CPU per call, node CPU per call."""
    groups: dict[tuple[int, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.rate, run.label), []).append(run)
    return [
        (
            rate,
            label,
            statistics.median(run.per_second for run in found),
            sum(run.failed for run in found),
            statistics.median(run.cpu_per_call_us for run in found),
            statistics.median(run.node_per_call_us for run in found),
        )
        for (rate, label), found in groups.items()
    ]


def report(runs: list[Run]) -> None:
    for run in runs:
        print(run.line())
    rows = medians(runs)
    base = {rate: cpu for rate, label, _s, _f, cpu, _n in rows if label == "trivial"}
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"median of the repeats (load average now: {load}):")
    print("| offered | route | calls/s | failed | Kamailio CPU per call | + shipper |")
    print("|---:|---|---:|---:|---:|---:|")
    for rate, label, per_second, failed, cpu, node in rows:
        over = f" ({cpu / base[rate] - 1:+.0%})" if label != "trivial" else ""
        shipper = f"{node:,.0f} µs ({node / base[rate] - 1:+.0%})" if node > cpu else ""
        print(
            f"| {rate:,}/s | {label} | {per_second:,.0f} | {failed:,} | {cpu:,.0f} µs{over} "
            f"| {shipper} |"
        )


def plot(runs: list[Run], path: Path) -> None:
    """CPU per call and completed calls per second against the offered rate, per route."""
    import matplotlib as mpl  # the [bench] extra

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    rows = medians(runs)
    labels = list(dict.fromkeys(label for _r, label, *_ in rows))
    figure, (cpu_axis, rate_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label in labels:
        mine = [row for row in rows if row[1] == label]
        offered = [row[0] for row in mine]
        cpu_axis.plot(offered, [row[4] for row in mine], marker="o", label=label)
        if any(row[5] > row[4] for row in mine):
            cpu_axis.plot(
                offered,
                [row[5] for row in mine],
                marker="x",
                linestyle="--",
                label=f"{label} + shipper",
            )
        rate_axis.plot(offered, [row[2] for row in mine], marker="o", label=label)
    cpu_axis.set(
        xlabel="offered INVITEs per second",
        ylabel="CPU per call (µs)",
        title="Kamailio CPU per completed call",
    )
    rate_axis.plot(
        [min(r[0] for r in rows), max(r[0] for r in rows)],
        [min(r[0] for r in rows), max(r[0] for r in rows)],
        color="grey",
        linestyle=":",
        label="offered",
    )
    rate_axis.set(
        xlabel="offered INVITEs per second",
        ylabel="completed calls per second",
        title="Completed calls",
    )
    for axis in (cpu_axis, rate_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def test_kamailio_invites_per_second(benchmark, tmp_path) -> None:
    missing = kh.missing_tools()
    assert not missing, f"install {' '.join(kh.DEBIAN_PACKAGES)} first (missing: {missing})"
    runs: list[Run] = []

    def measure() -> None:
        runs.extend(compare(tmp_path, RATES, SECONDS, REPEATS, kind=TRAFFICS["realistic"]))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    report(runs)
    benchmark.extra_info["runs"] = [run.line() for run in runs]
    for run in runs:  # every decision is recorded: one per call, warm-up calls included
        if run.events is not None and run.failed == 0:
            assert run.events == run.ok + WARM_UP, run.line()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES))
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--tunings", nargs="+", choices=list(TUNINGS), default=list(TUNINGS))
    parser.add_argument("--traffic", choices=list(TRAFFICS), default="realistic")
    parser.add_argument("--children", type=int, default=CHILDREN, help="Kamailio's UDP workers")
    parser.add_argument(
        "--memory", choices=MEMORY_MANAGERS, default=MEMORY, help="Kamailio's memory manager (-x)"
    )
    parser.add_argument("--plot", type=Path, help="write the plot (PNG) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-kamailio-") as folder:
        found = compare(
            Path(folder),
            tuple(args.rates),
            args.seconds,
            args.repeats,
            tuple(args.tunings),
            TRAFFICS[args.traffic],
            args.children,
            args.memory,
        )
        report(found)
        if args.plot:
            plot(found, args.plot)


if __name__ == "__main__":
    main()
