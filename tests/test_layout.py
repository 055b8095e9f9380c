"""The layout holds: arrows point inward, no cycle, the core stays pure, modules stay small."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "callcodes"
MAX_LINES = 700

# Each layer may import its own package and the layers listed before it, never one after it.
# Within a layer, packages do not import each other (events and the store stay apart). The CLI
# and the testing helpers are applications of the public face, so they come after it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_errors",),
    ("core",),
    ("_sqlite", "_postgres", "_timefmt", "_csvsafe", "_files"),
    ("dialplan", "events", "_places"),
    ("store", "engine"),
    ("policyfile", "audit"),
    ("integrations", "service"),
    ("__init__",),
    ("cli", "testing"),
    ("__main__",),
)
# What the pure core may import besides itself and the error tree: no I/O, no clock.
CORE_ALLOWED = frozenset(
    {
        "__future__",
        "attrs",
        "sortedcontainers",
        "collections",
        "dataclasses",
        "datetime",
        "enum",
        "functools",
        "itertools",
        "math",
        "operator",
        "re",
        "threading",
        "types",
        "typing",
        "unicodedata",
        "weakref",
        "bisect",
        "gc",
        "contextlib",
    }
)
CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def imports(name: str, path: Path) -> Iterator[tuple[str, ...]]:
    """What *name* imports anywhere in its text (in functions and TYPE_CHECKING too).

    One tuple per import: ``from pkg import a, b`` gives ``("pkg", "pkg.a", "pkg.b")``, since
    ``a`` may be a module of ``pkg`` or a name defined in it.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name,) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            yield (base, *(f"{base}.{alias.name}" for alias in node.names))


def internal_graph() -> dict[str, set[str]]:
    """Module to the modules of callcodes it imports (a submodule, not its package, if named)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for base, *names in imports(name, path):
            submodules = [n for n in names if n in known]
            targets.update(submodules or ([base] if base in known else []))
        graph[name] = targets - {name}
    return graph


def layer_of(name: str) -> tuple[int, str]:
    top = name.split(".")[1] if "." in name else "__init__"
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index, top
    raise AssertionError(f"{name} belongs to no layer: add its package to LAYERS and design.md")


class TestLayers:
    """Arrows point inward only, and nothing goes round in a circle."""

    def test_every_module_has_a_layer(self) -> None:
        """Each module of src/ sits in a known layer."""
        names = modules()
        assert len(names) > 30
        for name in names:
            layer_of(name)

    def test_no_import_points_outward_or_sideways(self) -> None:
        """A module imports only its own package and the layers inside it."""
        outward = []
        for source, targets in internal_graph().items():
            level, package = layer_of(source)
            for target in targets:
                target_level, target_package = layer_of(target)
                if target_level > level or (target_level == level and target_package != package):
                    outward.append(f"{source} -> {target}")
        assert outward == []

    def test_no_import_cycle(self) -> None:
        """The module import graph has no cycle."""
        graph = internal_graph()
        state: dict[str, int] = {}
        cycles: list[list[str]] = []

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            for nxt in sorted(graph[node]):
                if state.get(nxt) == 1:
                    cycles.append([*trail[trail.index(nxt) :], nxt])
                elif nxt not in state:
                    visit(nxt, [*trail, nxt])
            state[node] = 2

        for start in sorted(graph):
            if start not in state:
                visit(start, [start])
        assert cycles == []

    def test_the_checker_sees_a_planted_outward_arrow(self, tmp_path: Path) -> None:
        """The import walk resolves relative imports, so an outward arrow would be seen."""
        fake = tmp_path / "callcodes" / "core" / "bad.py"
        fake.parent.mkdir(parents=True)
        fake.write_text("from ..store import PolicyStore\nfrom . import model\n")
        found = list(imports("callcodes.core.bad", fake))
        assert found == [
            ("callcodes.store", "callcodes.store.PolicyStore"),
            ("callcodes.core", "callcodes.core.model"),
        ]


class TestPureCore:
    """The core does no I/O and never reads the clock."""

    @pytest.mark.parametrize("path", sorted((SRC / "core").glob("*.py")), ids=lambda p: p.name)
    def test_imports_only_pure_modules(self, path: Path) -> None:
        """A core module imports attrs, sortedcontainers, the error tree, the core, pure stdlib."""
        name = module_name(path)
        outside = [
            target
            for target, *_ in imports(name, path)
            if not target.startswith(("callcodes.core", "callcodes._errors"))
            and target.split(".")[0] not in CORE_ALLOWED
        ]
        assert outside == []

    @pytest.mark.parametrize("path", sorted((SRC / "core").glob("*.py")), ids=lambda p: p.name)
    def test_never_reads_the_clock(self, path: Path) -> None:
        """No core module calls now(), today(), time() or a monotonic clock."""
        calls = [
            node.func.attr
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
        ]
        assert calls == []


class TestModules:
    """One job per module, stated in its header, in files a reader can hold in mind."""

    @pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=module_name)
    def test_small_and_headed(self, path: Path) -> None:
        """Each module is at most MAX_LINES lines and opens with a docstring saying its job."""
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= MAX_LINES
        assert ast.get_docstring(ast.parse(text))

    def test_design_page_maps_every_module(self) -> None:
        """docs/design.md's module map names exactly the modules of src/callcodes."""
        page = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
        section = page.split("## Module map", 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", section, re.MULTILINE))
        actual = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py")}
        assert listed == actual
