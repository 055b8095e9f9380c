"""Instructions a Kamailio worker executes per call, with callcodes and with the trivial route.

Time on a shared machine moves by ten points from one run to the next; instructions do not.
Each Kamailio runs under valgrind's callgrind, counting only inside ``receive_msg`` (the work
of a worker on each SIP message it receives: parsing, the route, relaying, replies), with
bench_kamailio.py's realistic traffic at a slow rate. Each route runs twice, with *calls* and
with twice as many: the difference over the extra calls is the count per call in the steady
state, without the start and the warm-up. The count of Kamailio's own memory manager
(``qm_malloc`` and its kin) and of the Python route (``apy_exec``, with the ``KSR`` functions
it calls, and those ``KSR`` functions alone) are shown apart, from the same files
(``callgrind_annotate --inclusive``).

    python benchmarks/count_kamailio.py [--calls 200] [--memory tlsf]

valgrind must be installed (Debian's ``valgrind``); a run takes a few minutes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_kamailio as bench

kh = bench.kh
REALISTIC = bench.TRAFFICS["realistic"]
RATE = 20  # calls per second: Kamailio under callgrind runs about fifty times slower
# Functions whose inclusive counts are shown apart: (label, pattern of callgrind's name).
PARTS = (
    ("Python route (apy_exec, KSR calls included)", re.compile(r":apy_exec ")),
    (
        "KSR functions called by the route (t_relay included)",
        re.compile(r":sr_apy_kemi_exec_func "),
    ),
    ("Kamailio's memory manager", re.compile(r":(qm|fm|tlsf)_(malloc|free|realloc) ")),
)
_COUNT = re.compile(r"^\s*([\d,]+) \(")


def counted(folder: Path) -> dict[str, int]:
    """Instructions counted in the callgrind files of *folder*: in all, and in each part."""
    totals = dict.fromkeys(["all", *(label for label, _ in PARTS)], 0)
    for path in folder.glob("callgrind.*"):
        argv = ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)]
        text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            found = _COUNT.match(line)
            if found is None:
                continue
            count = int(found.group(1).replace(",", ""))
            if "PROGRAM TOTALS" in line:
                totals["all"] += count
            for label, pattern in PARTS:
                if pattern.search(line):
                    totals[label] += count
    return totals


def run_counted(
    work: Path, route: str, calls: int, memory: str, found: object, store: Path, site: str
) -> dict[str, int]:
    """One Kamailio under callgrind through *calls* calls (and the warm-up); its counts."""
    out = work / f"callgrind-{route}-{calls}"
    out.mkdir()
    wrapper = (
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",  # Kamailio forks its workers
        "--collect-atstart=no",
        "--toggle-collect=receive_msg",
        f"--callgrind-out-file={out}/callgrind.%p",
    )
    gateway = kh.free_udp_port()
    events = spool = None
    if route == "trivial":
        script, env = bench.TRIVIAL, bench.trivial_env(gateway)
    else:
        script = bench.CALLCODES
        env, events, spool = bench.callcodes_env(
            work, f"{route}-{calls}", store, site, gateway, "journal", REALISTIC
        )
    run = bench.run_once(
        # The call count stands as the repeat number: it names the run's folder.
        *(work, route, script, env, gateway, RATE, calls / RATE, calls),
        *(REALISTIC, found, events, spool),
        memory=memory,
        wrapper=wrapper,
    )
    print(run.line(), flush=True)
    if run.failed:
        raise SystemExit(f"{run.failed} calls failed under callgrind: counts would mislead")
    return counted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--memory", choices=bench.MEMORY_MANAGERS, default=bench.MEMORY)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="count-kamailio-") as folder:
        work = Path(folder)
        site, store, found = bench.prepare(work, REALISTIC, 2 * args.calls)
        per_call = {}
        for route in ("trivial", "callcodes"):
            small = run_counted(work, route, args.calls, args.memory, found, store, site)
            large = run_counted(work, route, 2 * args.calls, args.memory, found, store, site)
            per_call[route] = {k: (large[k] - small[k]) / args.calls for k in small}
    trivial, callcodes = per_call["trivial"], per_call["callcodes"]
    print(f"\ninstructions per call in the workers, memory manager {args.memory}:\n")
    print("| | trivial | callcodes | difference |\n|---|---:|---:|---:|")
    for key in trivial:
        name = "every message of the call (receive_msg)" if key == "all" else key
        print(
            f"| {name} | {trivial[key]:,.0f} | {callcodes[key]:,.0f} "
            f"| {callcodes[key] - trivial[key]:+,.0f} |"
        )
    more = callcodes["all"] / trivial["all"] - 1
    print(f"\ncallcodes executes {more:+.0%} instructions per call")


if __name__ == "__main__":
    main()
