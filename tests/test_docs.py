"""The examples in the README and the core docs run, and print what their comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import callcodes as cc

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "design.md", ROOT / "docs" / "reference.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# A print() whose comment starts with its output: "print(x)  # allow, always" must print "allow".
PRINTED = re.compile(r"^print\(.*\)\s+# (?P<expected>[^:(,]+)")


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_examples_run_and_print_what_they_say(path: Path) -> None:
    """Each python block runs; each print() commented with its output prints exactly that."""
    printed: list[str] = []

    def record(*args: object) -> None:
        printed.append(" ".join(map(str, args)))

    def expect(expected: str) -> None:
        assert printed[-1] == expected

    namespace: dict[str, object] = {"print": record, "expect_printed": expect}
    for block in python_blocks(path):
        lines = []
        for line in block.splitlines():
            lines.append(line)
            match = PRINTED.match(line)
            if match:
                lines.append(f"expect_printed({match['expected'].strip()!r})")
        exec(compile("\n".join(lines), str(path), "exec"), namespace)


def test_readme_has_exactly_two_set_up_commands() -> None:
    """The README keeps one command for the demo and one for the tests."""
    commands = re.findall(r"^\$ (.+)$", (ROOT / "README.md").read_text(), re.MULTILINE)
    setup = [c for c in commands if c.startswith("python3 -m venv")]
    assert len(setup) == 2
    assert setup[0].endswith("callcodes demo")
    assert setup[1].endswith("python -m pytest")


def test_reference_names_every_public_name() -> None:
    """docs/reference.md documents every name that callcodes exports."""
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    missing = [name for name in cc.__all__ if f"`{name}" not in text]
    assert missing == []


def test_design_table_matches_the_rules() -> None:
    """docs/design.md's rule table has RULES' numbers, verdicts and reasons, row by row."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| .*? \| (ALLOW|BLOCK|LOG_ONLY) \| (.*?) \|$", text, re.M)
    documented = [(int(n), verdict, reasons.split(", ")) for n, verdict, reasons in rows]
    expected = [
        (rule.number, rule.verdict.name, [reason.value for reason in rule.reasons])
        for rule in cc.RULES
    ]
    assert documented == expected
