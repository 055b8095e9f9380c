"""The examples of docs/dialplan.md run, and print what the page says they print."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

import callcodes as cc
from callcodes import cli

PAGE = Path(__file__).resolve().parent.parent / "docs" / "dialplan.md"
# A python block, optionally followed by "prints" and the text block of its output.
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\nprints\n\n```text\n(.*?)^```)?", re.S | re.M)
# A print() whose comment is its output: "print(x)  # allow" must print "allow".
PRINTED = re.compile(r"^print\(.*\)\s+# (?P<expected>.+)$")


class TestDialplanPage:
    def test_examples_run_and_print_what_they_say(self) -> None:
        """Each block runs in order; commented prints and "prints" blocks match the output."""
        blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
        assert len(blocks) >= 5
        printed: list[str] = []

        def record(*args: object) -> None:
            printed.append(" ".join(map(str, args)))

        def expect(expected: str) -> None:
            assert printed[-1] == expected

        namespace: dict[str, object] = {"print": record, "expect_printed": expect}
        for code, output in blocks:
            lines = []
            for line in code.splitlines():
                lines.append(line)
                match = PRINTED.match(line)
                if match:
                    lines.append(f"expect_printed({match['expected'].strip()!r})")
            printed.clear()
            exec(compile("\n".join(lines), str(PAGE), "exec"), namespace)
            if output:
                assert [line.rstrip() for line in printed] == output.rstrip("\n").splitlines()

    def test_rule_table_names_real_call_types(self) -> None:
        """The page's rule table only names call types that exist."""
        text = PAGE.read_text(encoding="utf-8")
        rows = re.findall(r"^\| \d+ \| .*? \| (.*?) \|$", text, re.M)
        named = {name for row in rows for name in re.findall(r"`([A-Z_]+)`", row)}
        assert named
        assert named <= {t.name for t in cc.CallType}


class TestDialplanPageCommands:
    def test_console_commands_run(self, tmp_path: Path) -> None:
        """Every '$ callcodes' line of the page runs, in order, on one fresh store."""
        text = PAGE.read_text(encoding="utf-8")
        blocks = re.findall(r"^```console\n(.*?)^```", text, re.S | re.M)
        commands = [line[2:] for block in blocks for line in block.splitlines() if line[:2] == "$ "]
        assert len(commands) >= 5
        env = {"CALLCODES_DB": str(tmp_path / "policy.db"), "CALLCODES_ACTOR": "admin"}
        outputs = []
        for command in commands:
            words = shlex.split(command)
            assert words[0] == "callcodes"
            done = CliRunner().invoke(cli.main, words[1:], env=env)
            assert done.exit_code == 0, (command, done.output)
            outputs.append(done.output)
        assert "international" in outputs[-2]
        assert "emergency" in outputs[-1]
