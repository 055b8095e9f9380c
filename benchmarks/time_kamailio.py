"""Where a Kamailio worker's CPU goes per INVITE, with callcodes and with the trivial route.

bench_kamailio.py's realistic traffic at one rate, through the trivial route and then through
callcodes with the production settings ("journal"), each in a Kamailio whose workers count the
CPU time of their threads in named functions (kamailio_timed_router.py): the code check and its
parts, and Kamailio's own record_route and t_relay, which both routes call. Unlike a sampling
profiler (profile_kamailio.py) nothing pauses the worker; each timer adds about a microsecond.

    python benchmarks/time_kamailio.py [--rate 1000] [--seconds 8] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_kamailio as bench

kh = bench.kh
TIMED = Path(__file__).resolve().with_name("kamailio_timed_router.py")
# The timers of kamailio_timed_router.py, each indented under the one it runs in.
PARTS = (
    "request route",
    "  check_invite",
    "    worker and policy refresh",
    "    read_dialed",
    "    Engine.decide",
    "      failed entry counted",
    "      event journaled",
    "    request rewritten",
    "      uac To rewrite",
    "  Kamailio record_route",
    "  Kamailio t_relay",
    "  KSR.pv.gete",
    "  KSR.pv.get",
    "  KSR.hdr.is_present",
)


def per_invite(folder: Path) -> dict[str, float]:
    """Microseconds per INVITE of each timer, over every worker's file of every run in *folder*."""
    spent: dict[str, int] = {}
    calls: dict[str, int] = {}
    for path in folder.glob("*/*.json"):
        data = json.loads(path.read_text())
        for label, ns in data["spent_ns"].items():
            spent[label] = spent.get(label, 0) + ns
            calls[label] = calls.get(label, 0) + data["calls"][label]
    # Every INVITE goes through check_invite; the trivial route relays (record-routes) each.
    invites = calls.get("  check_invite") or calls.get("  Kamailio record_route") or 1
    return {label: ns / invites / 1000 for label, ns in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    kind = bench.TRAFFICS["realistic"]
    with tempfile.TemporaryDirectory(prefix="time-kamailio-") as folder:
        work = Path(folder)
        site, store, found = bench.prepare(work, kind, int(args.rate * args.seconds))
        gateway = kh.free_udp_port()
        runs = []
        timers = {"trivial": work / "timers-trivial", "callcodes": work / "timers-callcodes"}
        for repeat in range(args.repeats):
            for route, timed in timers.items():
                (timed / str(repeat)).mkdir(parents=True)
                env = {
                    "TIMED_ROUTE": route,
                    "TIMERS_DIR": str(timed / str(repeat)),
                    "CALLCODES_EXAMPLE": str(kh.EXAMPLE),
                    **bench.trivial_env(gateway),
                }
                events = spool = None
                if route == "callcodes":
                    own_env, events, spool = bench.callcodes_env(
                        work, str(repeat), store, site, gateway, "journal", kind
                    )
                    env |= own_env
                run = bench.run_once(
                    *(work, route, TIMED, env, gateway, args.rate, args.seconds, repeat, kind),
                    *(found, events, spool),
                )
                print(run.line())
                runs.append(run)
        print()
        cpu = {
            route: sum(r.kamailio_cpu for r in runs if r.label == route)
            / max(sum(r.ok for r in runs if r.label == route), 1)
            * 1e6
            for route in timers
        }
        print(
            f"Kamailio CPU per completed call: trivial {cpu['trivial']:.0f} µs, "
            f"callcodes {cpu['callcodes']:.0f} µs ({cpu['callcodes'] / cpu['trivial'] - 1:+.0%})"
        )
        print("\nthread CPU per INVITE, summed over the workers (µs):\n")
        print("| part | trivial | callcodes |\n|---|---:|---:|")
        table = {route: per_invite(timers[route]) for route in timers}
        for label in PARTS:
            depth = (len(label) - len(label.lstrip())) // 2
            cells = [
                f"{table[route][label]:.1f}" if label in table[route] else "" for route in timers
            ]
            print(f"| {'· ' * depth}{label.strip()} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
