"""Run a documentation page's examples: its python blocks and its ``$ callcodes`` command lines.

Conventions a page follows so that its examples are checked:

- ``print(...)  # text``: the print must print exactly ``text``.
- A python block followed by ``prints`` and a ```` ```text ```` block: it prints exactly that.
- In a ```` ```console ```` block, the lines under a ``$ callcodes ...`` line are its output;
  ``...`` stands for any text; output starting with ``Error:`` means exit status 1.
- ``<!-- file: NAME -->`` then a fenced block: a file the commands read, written first.
- The README's ``$ python3 -m venv ...`` set-up lines are run by CI itself, not here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner

from callcodes.cli import main

PYTHON = re.compile(
    r"^```python\n(?P<code>.*?)^```\n(?:\nprints\n\n```text\n(?P<output>.*?)^```)?", re.S | re.M
)
CONSOLE = re.compile(r"^```console\n(?P<body>.*?)^```", re.S | re.M)
FILE = re.compile(r"^<!-- file: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)^```", re.S | re.M)
PRINTED = re.compile(r"^\s*print\(.*\)\s+# (?P<expected>.*)$")
SET_UP = "python3 -m venv "


def matches(pattern: str, line: str) -> bool:
    """Whether *line* is what the page shows; ``...`` in the page stands for any text."""
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, line) is not None


def run_python(path: Path) -> int:
    """Run the page's python blocks in order, in one namespace; return how many ran."""
    printed: list[str] = []

    def record(*args: object) -> None:
        printed.append(" ".join(map(str, args)))

    def expect(expected: str) -> None:
        assert printed[-1] == expected, (
            f"{path.name}: printed {printed[-1]!r}, page says {expected!r}"
        )

    namespace: dict[str, object] = {"print": record, "expect_printed": expect}
    blocks = list(PYTHON.finditer(path.read_text(encoding="utf-8")))
    for block in blocks:
        lines = []
        for line in block["code"].splitlines():
            lines.append(line)
            match = PRINTED.match(line)
            if match:
                indent = line[: len(line) - len(line.lstrip())]
                lines.append(f"{indent}expect_printed({match['expected']!r})")
        printed.clear()
        exec(compile("\n".join(lines), str(path), "exec"), namespace)  # our own page
        if block["output"] is not None:
            assert [p.rstrip() for p in printed] == block["output"].rstrip("\n").splitlines()
    return len(blocks)


def steps(text: str) -> list[tuple[str, str, list[str]]]:
    """The page's files and commands in order: (kind, file name or command, lines under it)."""
    found: list[tuple[int, str, str, list[str]]] = []
    for match in FILE.finditer(text):
        found.append((match.start(), "file", match["name"], match["body"].splitlines()))
    for match in CONSOLE.finditer(text):
        for offset, line in enumerate(match["body"].splitlines()):
            if line.startswith("$ "):
                found.append((match.start() + offset, "command", line[2:], []))
            else:
                assert found, f"output before any command: {line!r}"
                assert found[-1][1] == "command", f"output after a file: {line!r}"
                found[-1][3].append(line)
    ordered = sorted(found, key=lambda step: step[0])
    return [(kind, what, lines) for _, kind, what, lines in ordered if not what.startswith(SET_UP)]


def run_console(path: Path, env: Mapping[str, str | None]) -> list[str]:
    """Run the page's ``$ callcodes`` lines in order in the current folder; return their outputs.

    Each command must exit 0 (1 where the page shows an ``Error:``) and print the lines shown.
    """
    runner = CliRunner()
    outputs = []
    for kind, what, expected in steps(path.read_text(encoding="utf-8")):
        if kind == "file":
            Path(what).write_text("\n".join(expected) + "\n", encoding="utf-8")
            continue
        argv = shlex.split(what)
        assert argv[0] == "callcodes", f"{path.name}: {what}"
        result = runner.invoke(main, argv[1:], env=dict(env))
        wanted_status = 1 if expected and expected[0].startswith("Error:") else 0
        assert result.exit_code == wanted_status, f"$ {what}\n{result.output}"
        if expected:
            got = [line.rstrip() for line in result.output.rstrip("\n").splitlines()]
            assert len(got) == len(expected), f"$ {what}\n{result.output}"
            for want, line in zip(expected, got, strict=True):
                assert matches(want.rstrip(), line), f"$ {what}\nwanted: {want}\ngot:    {line}"
        outputs.append(result.output)
    return outputs
