"""Instructions the Python of a Kamailio worker's code check executes per call, in a loop.

The path of bench_call_path.py (a worker opened outside Kamailio on bench_kamailio.py's
realistic policy and traffic; each call read by ``read_dialed`` and decided by the engine,
which journals its event), run under valgrind's callgrind for *calls* and for twice as many
calls: the difference over the extra calls is the count per call, without the start. The
reference reads the same rows into a dict and makes a bare ``dict.get`` per call. What
count_kamailio.py finds in the workers' Python route, without Kamailio around it.

    python benchmarks/count_call_path.py [--calls 1000]

valgrind must be installed (Debian's ``valgrind``); a run takes a few minutes.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kamailio_traffic as traffic
from bench_call_path import decide_each, realistic_worker

_TOTAL = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def loop(work: Path, calls: int, route: str) -> None:
    """Run *calls* calls of the traffic in *work* through the check (or the reference)."""
    rows = [row.split(";") for row in (work / "calls.csv").read_text().splitlines()[1 : calls + 1]]
    if route == "reference":
        table = {dialed: user for user, _domain, dialed in rows}
        for _user, _domain, dialed in rows:
            table.get(dialed)
        return
    worker = realistic_worker(work / "policy.db", work / f"run-{calls}")
    decide_each(worker, rows, itertools.count())
    worker.close()


def counted(work: Path, calls: int, route: str) -> int:
    """Instructions of a whole process running *calls* calls of *route* under callgrind."""
    out = work / f"callgrind-{route}-{calls}"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    argv += [sys.executable, __file__, "--loop", str(work), str(calls), route]
    # A fixed hash seed: the same dict layouts, hence the same instructions, in every run.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(argv, env=env, check=True, capture_output=True)
    found = _TOTAL.search(out.read_text(errors="replace"))
    assert found is not None, f"no total in {out}"
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--loop", nargs=3, metavar=("WORK", "CALLS", "ROUTE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.loop:  # the process callgrind runs
        loop(Path(args.loop[0]), int(args.loop[1]), args.loop[2])
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="count-call-path-") as folder:
        work = Path(folder)
        traffic.make_store(work / "policy.db")
        traffic.write_calls(work / "calls.csv", 2 * args.calls)
        for route in ("reference", "check"):
            small = counted(work, args.calls, route)
            large = counted(work, 2 * args.calls, route)
            print(f"{route}: {(large - small) / args.calls:,.0f} instructions per call")


if __name__ == "__main__":
    main()
