"""docs/events.md is true: its python blocks run in order and its command lines print as shown."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcodes.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "events.md"
PYTHON = re.compile(r"^```python\n(?P<body>.*?)^```", re.S | re.M)
CONSOLE = re.compile(r"^```console\n(?P<body>.*?)^```", re.S | re.M)
# A print() followed by a comment: the comment is exactly what it prints.
PRINTED = re.compile(r"^(?P<call>print\(.*\))\s+# (?P<expected>.*)$")


def checked(block: str) -> str:
    """The block with a check after each commented print()."""
    lines = []
    for line in block.splitlines():
        lines.append(line)
        match = PRINTED.match(line)
        if match:
            lines.append(f"expect_printed({match['expected']!r})")
    return "\n".join(lines)


def matches(pattern: str, line: str) -> bool:
    """Whether *line* is what the doc shows; ``...`` in the doc stands for any text."""
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, line) is not None


class TestEventsDoc:
    def test_examples_run_and_print_what_they_say(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each python block runs; then each command line prints the lines shown under it."""
        monkeypatch.chdir(tmp_path)
        text = DOC.read_text(encoding="utf-8")
        printed: list[str] = []

        def record(*args: object) -> None:
            printed.append(" ".join(map(str, args)))

        def expect(expected: str) -> None:
            assert printed[-1] == expected

        namespace: dict[str, object] = {"print": record, "expect_printed": expect}
        blocks = PYTHON.findall(text)
        assert len(blocks) >= 4
        for block in blocks:
            exec(compile(checked(block), str(DOC), "exec"), namespace)
        assert Path("callcodes.db").exists()
        commands = 0
        for body in CONSOLE.findall(text):
            for command, expected in self.commands(body):
                argv = shlex.split(command)
                assert argv[0] == "callcodes", command
                result = CliRunner().invoke(main, argv[1:], env={"CALLCODES_DB": None})
                assert result.exit_code == 0, f"$ {command}\n{result.output}"
                got = result.output.rstrip("\n").splitlines()
                assert len(got) == len(expected), f"$ {command}\n{result.output}"
                for want, line in zip(expected, got, strict=True):
                    assert matches(want, line.rstrip()), f"$ {command}\n{want}\n{line}"
                commands += 1
        assert commands >= 4

    @staticmethod
    def commands(body: str) -> list[tuple[str, list[str]]]:
        found: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            else:
                assert found, f"output before any command: {line!r}"
                found[-1][1].append(line)
        return found

    def test_durability_is_one_table(self) -> None:
        """The promise of each flush policy is stated in one table, with every policy in it."""
        text = DOC.read_text(encoding="utf-8")
        tables = [t for t in re.split(r"\n\n", text) if t.startswith("| policy |")]
        assert len(tables) == 1
        for policy in ("FlushPolicy.every_event()", "FlushPolicy.group(", "MemorySink"):
            assert policy in tables[0]
