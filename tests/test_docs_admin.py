"""docs/admin.md: every command line runs, in order, on a fresh store, and prints what it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcodes.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "admin.md"
# A file the commands read: an HTML comment naming it, then a fenced block with its content.
FILE = re.compile(r"^<!-- file: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)^```", re.S | re.M)
CONSOLE = re.compile(r"^```console\n(?P<body>.*?)^```", re.S | re.M)


def steps(text: str) -> list[tuple[str, str, list[str]]]:
    """The doc's files and commands in order: (kind, file name or command, expected lines)."""
    found: list[tuple[int, str, str, list[str]]] = []
    for match in FILE.finditer(text):
        found.append((match.start(), "file", match["name"], match["body"].splitlines()))
    for match in CONSOLE.finditer(text):
        command: str | None = None
        for offset, line in enumerate(match["body"].splitlines()):
            if line.startswith("$ "):
                command = line[2:]
                found.append((match.start() + offset, "command", command, []))
            else:
                assert command is not None, f"output before any command: {line!r}"
                found[-1][3].append(line)
    return [(kind, what, lines) for _, kind, what, lines in sorted(found, key=lambda s: s[0])]


def matches(pattern: str, line: str) -> bool:
    """Whether *line* is what the doc shows; ``...`` in the doc stands for any text."""
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, line) is not None


class TestAdminHowTo:
    """The administrator's how-to is true: its commands run and print what it says."""

    def test_commands_run_in_order(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each command exits 0 (1 where the doc shows an Error) and prints the lines shown."""
        monkeypatch.chdir(tmp_path)
        runner = CliRunner()
        env = {"CALLCODES_DB": None, "CALLCODES_ACTOR": "ann"}
        for kind, what, expected in steps(DOC.read_text(encoding="utf-8")):
            if kind == "file":
                Path(what).write_text("\n".join(expected) + "\n", encoding="utf-8")
                continue
            argv = shlex.split(what)
            assert argv[0] == "callcodes", what
            result = runner.invoke(main, argv[1:], env=env)
            wanted_status = 1 if expected and expected[0].startswith("Error:") else 0
            assert result.exit_code == wanted_status, f"$ {what}\n{result.output}"
            if expected:
                printed = [line.rstrip() for line in result.output.rstrip("\n").splitlines()]
                assert len(printed) == len(expected), f"$ {what}\n{result.output}"
                for want, got in zip(expected, printed, strict=True):
                    assert matches(want.rstrip(), got), f"$ {what}\nwanted: {want}\ngot:    {got}"
        assert Path("callcodes.db").exists()

    def test_covers_the_portal_workflows(self) -> None:
        """The how-to shows each workflow of the group portal, and the audit and locks."""
        commands = [what for kind, what, _ in steps(DOC.read_text(encoding="utf-8"))]
        for workflow in (
            "group show",
            "group set",
            "users add acme --mandatory",
            "users add acme --optional",
            "users remove",
            "codes add",
            "codes list",
            "codes edit",
            "codes delete",
            "codes import",
            "codes export",
            "audit",
            "locks unlock",
        ):
            assert any(c.startswith(f"callcodes {workflow}") for c in commands), workflow

    def test_ellipsis(self) -> None:
        """'...' in the doc matches any text, and nothing else is loose."""
        assert matches("id ... ann", "id 2026-01-01 ann")
        assert not matches("id ... ann", "id 2026-01-01 bob")
        assert not matches("a.b", "axb")
