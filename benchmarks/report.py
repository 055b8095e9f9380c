"""Turn a pytest-benchmark JSON file into the core table of docs/performance.md and its plot.

    python -m pytest benchmarks/bench_core.py -o python_files='bench_*.py' \
        --benchmark-json=bench.json
    python benchmarks/report.py bench.json

The table replaces the text between the ``core-table`` markers of docs/performance.md; the plot
is written to docs/performance-core.png. Every figure is a median per operation.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "performance-core.png"
BEGIN, END = "<!-- core-table:begin -->", "<!-- core-table:end -->"


def per_op(bench: dict[str, Any]) -> float:
    return float(bench["stats"]["median"]) / int(bench["extra_info"].get("per_round", 1))


def load(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    data = json.loads(path.read_text())
    return data, {b["fullname"].split("::", 1)[1]: b for b in data["benchmarks"]}


def ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f} ns"


def table(data: dict[str, Any], found: dict[str, dict[str, Any]]) -> str:
    def get(name: str) -> float | None:
        bench = found.get(name)
        return None if bench is None else per_op(bench)

    floor = get("TestReferences::test_dict_get")
    sql = get("TestReferences::test_sqlite_point_query")
    machine = data["machine_info"]
    lines = [
        f"Run of {data['datetime'][:10]} at commit `{data['commit_info'].get('id', '?')[:10]}` "
        f"on {machine.get('cpu', {}).get('brand_raw', platform.processor())}, "
        f"{machine['python_implementation']} {machine['python_version']}.",
        "",
        "| operation (1,000,000 codes unless named) | median | x dict.get | SQLite over it |",
        "|---|---:|---:|---:|",
    ]
    rows = [
        ("bare `dict.get` (the floor)", "TestReferences::test_dict_get"),
        ("Python call returning a constant", "TestReferences::test_constant_function"),
        ("indexed SQLite point query", "TestReferences::test_sqlite_point_query"),
        ("linear scan of 100 codes", "TestReferences::test_linear_scan[100]"),
        ("linear scan of 1,000 codes", "TestReferences::test_linear_scan[1000]"),
    ]
    rows += [
        (f"`decide`: {case}", f"TestDecideByRule::test_decide[{case}]")
        for case in ("emergency", "exempt", "account", "authorized", "invalid")
    ]
    rows += [
        ("`requirement`", "TestDecideByRule::test_requirement"),
        ("`decide` authorized, 100,000 groups of 10 codes", "TestScale::test_many_small_groups"),
    ]
    for label, name in rows:
        value = get(name)
        if value is None:
            continue
        times = f"{value / floor:.1f}" if floor else ""
        faster = f"{sql / value:.1f}" if sql and "decide" in label else ""
        lines.append(f"| {label} | {ns(value)} | {times} | {faster} |")
    lines += [
        "",
        "| codes | `dict.get` | `decide` authorized | ratio | bytes per code |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size, (floor_at, decide_at, held) in scale(found).items():
        memory = f"{held:,.0f}" if held is not None else "not measured"
        lines.append(
            f"| {size:,} | {ns(floor_at)} | {ns(decide_at)} | {decide_at / floor_at:.1f} | "
            f"{memory} |"
        )
    return "\n".join(lines)


def scale(found: dict[str, dict[str, Any]]) -> dict[int, tuple[float, float, float | None]]:
    sizes: dict[int, tuple[float, float, float | None]] = {}
    for name, bench in found.items():
        match = re.fullmatch(r"TestScale::test_decide_authorized\[(\d+)\]", name)
        floor = found.get(f"TestScale::test_dict_get[{match[1]}]") if match else None
        if match and floor:
            held = bench["extra_info"].get("bytes_per_code")
            sizes[int(match[1])] = (per_op(floor), per_op(bench), held)
    return dict(sorted(sizes.items()))


def plot(found: dict[str, dict[str, Any]]) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    points = scale(found)
    sizes = list(points)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(sizes, [points[s][1] * 1e9 for s in sizes], "o-", label="decide (authorized)")
    left.plot(sizes, [points[s][0] * 1e9 for s in sizes], "s--", label="dict.get, same keys")
    sql = found.get("TestReferences::test_sqlite_point_query")
    if sql:
        left.axhline(per_op(sql) * 1e9, color="grey", linestyle=":", label="SQLite point query")
    left.set(xscale="log", yscale="log", xlabel="codes in the group", ylabel="ns per operation")
    left.set_title("Time per decision")
    left.legend()
    measured = [s for s in sizes if points[s][2] is not None]
    right.plot(measured, [points[s][2] for s in measured], "o-", label="CodeBook")
    right.axhline(200, color="red", linestyle=":", label="target: 200 bytes")
    right.set(xscale="log", xlabel="codes in the group", ylabel="bytes per code")
    right.set_title("Memory per code (no descriptions)")
    right.legend()
    figure.tight_layout()
    figure.savefig(PLOT, dpi=110)


def main(argv: list[str]) -> int:
    data, found = load(Path(argv[1]))
    text = PAGE.read_text(encoding="utf-8")
    if BEGIN not in text:
        sys.stderr.write(f"{PAGE} has no {BEGIN} marker\n")
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{BEGIN}\n{table(data, found)}\n{END}{tail}", encoding="utf-8")
    plot(found)
    print(f"wrote {PAGE.name} and {PLOT.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
