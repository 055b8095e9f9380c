"""Where a Kamailio worker spends its time with callcodes, sampled inside the worker (py-spy).

Kamailio runs the example router with the production settings (the journal, one policy check
a second) and bench_kamailio.py's realistic traffic at a fixed rate; after a few seconds,
py-spy samples each of the two busiest workers for a few seconds and the share of samples
in each function (with the native frames of Kamailio's own C code, shown as one entry) is
printed, cumulative and own. py-spy comes with the [bench] extra; run as root (it reads
another process's memory).

    python benchmarks/profile_kamailio.py [--rate 1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_kamailio as bench

kh = bench.kh


def busiest(pids: list[int], count: int) -> list[int]:
    """The *count* processes that used the most CPU over one second."""

    def ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before = {pid: ticks(pid) for pid in pids}
    time.sleep(1)
    return sorted(pids, key=lambda pid: ticks(pid) - before[pid], reverse=True)[:count]


def shares(raw: Path) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Samples, and per function the samples it was on the stack (cumulative) and on top."""
    on_stack: collections.Counter[str] = collections.Counter()
    on_top: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = [frame.split(" (")[0] or "(Kamailio's C code)" for frame in stack.split(";")]
        for frame in set(frames):
            on_stack[frame] += samples
        on_top[frames[-1]] += samples
    return total, on_stack, on_top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    spy = Path(sys.executable).with_name("py-spy")
    with tempfile.TemporaryDirectory(prefix="profile-kamailio-") as folder:
        work = Path(folder)
        kind = bench.TRAFFICS["realistic"]
        site = os.pathsep.join(str(p) for p in kh.kamailio_python_path(work / "site"))
        store, events, config = work / "policy.db", work / "events.db", work / "cc.toml"
        kind.make_store(store)
        calls = int(args.rate * (args.seconds + 8))
        found = kind.calls_file(work / "calls.csv", calls)
        gateway = kh.free_udp_port()
        spool = bench.write_config(config, store, events, gateway, "journal", kind)
        assert spool is not None
        env = {"CALLCODES_SITE": site, "CALLCODES_CONFIG": str(config)}
        kamailio = kh.Kamailio(
            work, kh.EXAMPLE / "kamailio.cfg", kh.EXAMPLE / "callcodes_router.py", env=env
        )
        kamailio.start()
        shipper = bench.start_shipper(spool, events)
        try:
            bench.warm_up(kamailio, gateway, work)
            gw = bench.start_gateway(gateway, calls, args.seconds + 40)
            argv = kind.caller_argv(kamailio, calls, args.rate, args.seconds, work / "s", found)
            caller = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            )
            time.sleep(3)  # past the start of the traffic
            workers = busiest(kamailio.pids(), 2)
            samplers = [
                subprocess.Popen(
                    [
                        *(str(spy), "record", "-p", str(pid), "-d", str(args.seconds)),
                        *("-r", "250", "-f", "raw", "-o", str(work / f"{pid}.txt")),
                        "--native",  # Kamailio's C frames too (the worker pauses per sample)
                    ],
                    stdout=subprocess.DEVNULL,
                )
                for pid in workers
            ]
            for sampler in samplers:
                sampler.wait()
            caller.wait()
            gw.terminate()
            gw.wait(10)
        finally:
            kamailio.stop()
            bench.stop_shipper(shipper)
        for pid in workers:
            total, on_stack, on_top = shares(work / f"{pid}.txt")
            print(f"worker {pid}: {total} samples at {args.rate} INVITE/s")
            print("  cumulative (on the stack):")
            for name, samples in on_stack.most_common(30):
                print(f"    {samples / total:6.1%}  {name}")
            print("  own (on top of the stack):")
            for name, samples in on_top.most_common(15):
                print(f"    {samples / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
