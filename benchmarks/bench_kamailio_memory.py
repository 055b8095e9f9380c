"""Memory of Kamailio's workers holding a policy of 1,000,000 codes, with and without preloading.

One group of 1,000,000 authorization codes; Kamailio (examples/kamailio/kamailio.cfg) with 4 SIP
workers. Each worker first decides every code once (kamailio_touch_router.py: the decision and
the event row of each, what INVITEs read of the policy), then the proportional set size (PSS:
a page shared by n processes counts 1/n in each) and the private dirty memory of every Kamailio
process are read from /proc/PID/smaps_rollup. Two runs: "per worker" (each worker loads its
own copy, as before) and "preloaded" (loaded once in mod_init, before the fork, and frozen out
of the garbage collector). The reference is the first: the aim is all workers together at most
twice one worker's size there.

    pytest benchmarks/bench_kamailio_memory.py -p no:cacheprovider --benchmark-enable \
        -o python_files='bench_*.py' -s
    python benchmarks/bench_kamailio_memory.py [--codes 1000000] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
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

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "kamailio_touch_router.py"
CODES = 1_000_000
WORKERS = 4
FIRST = 10_000_000  # 8-digit codes from here


@dataclass
class Memory:
    label: str
    workers: list[dict[str, int]]  # kB per field, one dict per SIP worker
    others: list[dict[str, int]]  # the main process, timers, the other Kamailio processes

    def total(self, field: str, processes: list[dict[str, int]]) -> float:
        return sum(p.get(field, 0) for p in processes) / 1024

    def lines(self) -> list[str]:
        pss = [w["Pss"] / 1024 for w in self.workers]
        return [
            f"{self.label}: each worker PSS {min(pss):.0f}-{max(pss):.0f} MB, private dirty "
            f"{self.total('Private_Dirty', self.workers) / len(self.workers):.0f} MB each; "
            f"workers together {self.total('Pss', self.workers):.0f} MB; all Kamailio "
            f"processes {self.total('Pss', self.workers + self.others):.0f} MB PSS"
        ]


def make_store(path: Path, codes: int) -> None:
    with PolicyStore(path) as store:
        store.set_group(
            "acme",
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION, code_length=8, mandatory_users=frozenset({"1001"})
            ),
            actor="bench",
        )
        batch = 100_000
        for start in range(FIRST, FIRST + codes, batch):
            chunk = range(start, min(start + batch, FIRST + codes))
            store.add_codes("acme", [str(n) for n in chunk], actor="bench")


def rollup(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        found[name.strip()] = int(rest.split()[0])
    return found


def measure(workdir: Path, store: Path, codes: int, workers: int, preload: bool) -> Memory:
    label = "preloaded" if preload else "per worker"
    here = workdir / label.replace(" ", "-")
    here.mkdir()
    config = here / "cc.toml"
    config.write_text(
        f'store = "{store}"\nevents = "{here / "events.db"}"\nspool = "{here / "spool"}"\n'
        f'gateway = "sip:{kh.LOOPBACK}:5999"\ngroup = "acme"\nsync_every = 1000\n'
        'refresh_ms = 1000\n[dial_plan]\nregion = "US"\noutside_prefix = "9"\n'
    )
    site = os.pathsep.join(str(p) for p in kh.kamailio_python_path(workdir / "site"))
    env = {
        "CALLCODES_SITE": site,
        "CALLCODES_CONFIG": str(config),
        "CALLCODES_EXAMPLE": str(kh.EXAMPLE),
        "CALLCODES_PRELOAD": "1" if preload else "0",
        "CALLCODES_TOUCH": f"{FIRST}:{codes}",
    }
    kamailio = kh.Kamailio(here, kh.EXAMPLE / "kamailio.cfg", SCRIPT, children=workers, env=env)
    kamailio.start(timeout=600)
    try:
        kh.wait_for(
            lambda: kamailio.log_text().count("touched") >= workers,
            1200,
            f"{workers} workers to decide every code",
        )
        log = kamailio.log_text()
        touched = {
            int(line.split("pid ")[1].split()[0])
            for line in log.splitlines()
            if "callcodes bench: pid" in line
        }
        assert all(
            f"touched {codes} codes" in line
            for line in log.splitlines()
            if "callcodes bench: pid" in line
        ), log[-2000:]
        pids = kamailio.pids()
        return Memory(
            label,
            [rollup(pid) for pid in pids if pid in touched],
            [rollup(pid) for pid in pids if pid not in touched],
        )
    finally:
        kamailio.stop()


def compare(workdir: Path, codes: int, workers: int) -> list[Memory]:
    store = workdir / "policy.db"
    started = time.monotonic()
    make_store(store, codes)
    print(f"store of {codes:,} codes made in {time.monotonic() - started:.0f} s")
    return [measure(workdir, store, codes, workers, preload) for preload in (False, True)]


def report(found: list[Memory]) -> None:
    for memory in found:
        for line in memory.lines():
            print(line)
    before, after = found
    one = max(w["Pss"] for w in before.workers) / 1024
    together = after.total("Pss", after.workers)
    node = after.total("Pss", after.workers + after.others)
    print(
        f"aim: workers together at most 2 x {one:.0f} MB = {2 * one:.0f} MB; preloaded: "
        f"{together:.0f} MB workers, {node:.0f} MB with every Kamailio process"
    )


def test_kamailio_memory(benchmark, tmp_path) -> None:
    missing = kh.missing_tools()
    assert not missing, f"install {' '.join(kh.DEBIAN_PACKAGES)} first (missing: {missing})"
    found: list[Memory] = []
    benchmark.pedantic(
        lambda: found.extend(compare(tmp_path, CODES, WORKERS)), rounds=1, iterations=1
    )
    report(found)
    benchmark.extra_info["memory"] = [line for m in found for line in m.lines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codes", type=int, default=CODES)
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        report(compare(Path(folder), args.codes, args.workers))


if __name__ == "__main__":
    main()
