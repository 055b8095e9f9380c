"""INVITEs per second through Kamailio with callcodes, against a trivial Python route.

Both routes run in the same Kamailio (examples/kamailio/kamailio.cfg, 2 workers, 1 GB of shared
memory), on loopback, one after the other in the same run: a sipp caller offers a fixed rate of
INVITEs (answered, acknowledged and hung up through the proxy by a sipp gateway) for a few
seconds. For each run: calls completed and failed, retransmissions, and the CPU time of every
Kamailio process (utime + stime from /proc) per call.

The callcodes route decides each call with an authorization code dialed inline (``*71``, a
6-digit code, then a national number) against a group of 10,000 codes, strips the code,
rewrites the To header and records the event in the SQLite log. Two tunings: "strict" (the
defaults: every event synced, the policy checked before every INVITE) and "tuned" (group
commit every 1000 events, the policy checked once a second). Runs alternate between the routes
and repeat, and the report gives medians: other processes on the machine move single runs.

As a pytest-benchmark test (one round, the comparison at the rates below):

    pytest benchmarks/bench_kamailio.py -p no:cacheprovider --benchmark-enable \
        -o python_files='bench_*.py' -s

As a script, to search the highest rate without a failed call:

    python benchmarks/bench_kamailio.py --rates 1000 1500 2000 2500 --seconds 4
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "kamailio"))

import kamharness as kh  # noqa: E402

import callcodes as cc  # noqa: E402
from callcodes.store import PolicyStore  # noqa: E402

TRIVIAL = Path(__file__).resolve().parent / "kamailio_trivial_route.py"
DIALED = "*71123456913125550123"
RATES = (1000, 1500)
SECONDS = 3.0
REPEATS = 2
CODES = 10_000
# sync_every, refresh_ms: the strict defaults, and group commit with a policy check per second.
TUNINGS = {"strict": (1, 0), "tuned": (1000, 1000)}


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

    @property
    def per_second(self) -> float:
        return self.ok / self.wall

    @property
    def cpu_per_call_us(self) -> float:
        return self.kamailio_cpu / max(self.ok, 1) * 1e6

    def line(self) -> str:
        events = "" if self.events is None else f" events={self.events}"
        return (
            f"{self.label:18s} offered {self.rate:5d}/s: ok={self.ok} failed={self.failed} "
            f"retrans={self.retransmissions} -> {self.per_second:6.0f} calls/s, Kamailio CPU "
            f"{self.cpu_per_call_us:5.0f} us/call (sipp {self.sipp_cpu:.2f} s){events}"
        )


def make_store(path: Path) -> None:
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


def write_config(path: Path, store: Path, events: Path, gateway: int, tuning: str) -> None:
    sync_every, refresh_ms = TUNINGS[tuning]
    path.write_text(
        f'store = "{store}"\nevents = "{events}"\n'
        f'gateway = "sip:{kh.LOOPBACK}:{gateway}"\ngroup = "acme"\n'
        f"sync_every = {sync_every}\nrefresh_ms = {refresh_ms}\n"
        '[dial_plan]\nregion = "US"\nextensions = ["1000-1999"]\noutside_prefix = "9"\n'
    )


def run_once(
    workdir: Path,
    label: str,
    script: Path,
    env: dict[str, str],
    gateway: int,
    rate: int,
    seconds: float,
    repeat: int,
    events: Path | None = None,
) -> Run:
    """One Kamailio, one gateway, one caller at *rate* INVITEs/s for *seconds*."""
    calls = int(rate * seconds)
    here = workdir / f"{label.replace(' ', '-')}-{rate}-{repeat}"
    here.mkdir(parents=True, exist_ok=True)
    kamailio = kh.Kamailio(here, kh.EXAMPLE / "kamailio.cfg", script, shm_mb=1024, env=env)
    kamailio.start()
    gateway_argv = kh.sipp_argv(
        kh.SCENARIOS / "gateway.xml",
        local_port=gateway,
        calls=calls,
        timeout_s=seconds + 30,
        timeout_error=False,
    )
    gw = subprocess.Popen(
        gateway_argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        kh.wait_for(lambda: kh.udp_port_bound(gateway), 10, "the sipp gateway")
        stat = here / "caller.csv"
        argv = kh.sipp_argv(
            kh.SCENARIOS / "caller.xml",
            remote=f"{kh.LOOPBACK}:{kamailio.port}",
            service=DIALED,
            keys={"caller": "1001", "domain": "acme.example", "extra_hdrs": "X-Test: 1"},
            calls=calls,
            rate=rate,
            limit=5000,
            timeout_s=seconds + 20,
            stat_file=stat,
            extra=["-recv_timeout", "5000"],
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0, t0 = kamailio.cpu_seconds(), time.monotonic()
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
        try:
            gw.wait(10)
        except subprocess.TimeoutExpired:
            gw.terminate()
            gw.wait(5)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sipp_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        stats = kh.read_sipp_stats(stat)
    finally:
        if gw.poll() is None:
            gw.terminate()
            gw.wait(5)
        kamailio.stop()
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
    )


def compare(
    workdir: Path,
    rates: tuple[int, ...],
    seconds: float,
    repeats: int,
    tunings: tuple[str, ...] = tuple(TUNINGS),
) -> list[Run]:
    """Each rate, *repeats* times: the trivial route, then callcodes with each tuning."""
    site = os.pathsep.join(str(p) for p in kh.kamailio_python_path(workdir / "site"))
    store = workdir / "policy.db"
    make_store(store)
    gateway = kh.free_udp_port()
    runs = []
    for rate in rates:
        for repeat in range(repeats):
            trivial_env = {"TRIVIAL_GATEWAY": f"sip:{kh.LOOPBACK}:{gateway}"}
            runs.append(
                run_once(workdir, "trivial", TRIVIAL, trivial_env, gateway, rate, seconds, repeat)
            )
            for tuning in tunings:
                events = workdir / f"events-{rate}-{tuning}-{repeat}.db"
                config = workdir / f"cc-{rate}-{tuning}-{repeat}.toml"
                write_config(config, store, events, gateway, tuning)
                env = {"CALLCODES_SITE": site, "CALLCODES_CONFIG": str(config)}
                script = kh.EXAMPLE / "callcodes_router.py"
                runs.append(
                    run_once(
                        workdir,
                        f"callcodes {tuning}",
                        script,
                        env,
                        gateway,
                        rate,
                        seconds,
                        repeat,
                        events,
                    )
                )
    return runs


def report(runs: list[Run]) -> None:
    for run in runs:
        print(run.line())
    groups: dict[tuple[int, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.rate, run.label), []).append(run)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"median of the repeats (load average now: {load}):")
    for (rate, label), found in groups.items():
        cpu = statistics.median(run.cpu_per_call_us for run in found)
        base = statistics.median(run.cpu_per_call_us for run in groups[rate, "trivial"])
        failed = sum(run.failed for run in found)
        rate_ok = statistics.median(run.per_second for run in found)
        print(
            f"  {rate:5d}/s {label:22s} {rate_ok:6.0f} calls/s, failed {failed:5d}, "
            f"Kamailio CPU {cpu:4.0f} us/call ({cpu / base - 1:+.0%} over trivial)"
        )


def test_kamailio_invites_per_second(benchmark, tmp_path) -> None:
    missing = kh.missing_tools()
    assert not missing, f"install {' '.join(kh.DEBIAN_PACKAGES)} first (missing: {missing})"
    runs: list[Run] = []

    def measure() -> None:
        runs.extend(compare(tmp_path, RATES, SECONDS, REPEATS))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    report(runs)
    benchmark.extra_info["runs"] = [run.line() for run in runs]
    for run in runs:  # every decision is recorded: one event per call that went through
        if run.events is not None and run.failed == 0:
            assert run.events == run.ok, run.line()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES))
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--tunings", nargs="+", choices=list(TUNINGS), default=list(TUNINGS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-kamailio-") as folder:
        found = compare(
            Path(folder), tuple(args.rates), args.seconds, args.repeats, tuple(args.tunings)
        )
        report(found)


if __name__ == "__main__":
    main()
