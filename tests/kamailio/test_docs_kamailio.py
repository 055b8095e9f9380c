"""The how-to of docs/kamailio.md, run command by command on a copy of the repository.

The machine's folders the how-to writes to (/opt/callcodes, /etc/kamailio, /var/lib/callcodes)
are moved to a scratch folder, and its ports (5060, 5070, 5080) to free ones, in the commands
and in the files they copy. Commands ending in ``&`` run in the background until the end, and
are stopped by pid. The output shown under a command must appear in what it prints (dates and
times aside).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kamharness as kh
import pytest

from debian import install_debian_packages

PAGE = kh.ROOT / "docs" / "kamailio.md"
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
MOVED = ("/opt/callcodes", "/etc/kamailio", "/var/lib/callcodes")
PORTS = ("5060", "5070", "5080")
TIME_OR_DATE = re.compile(r"^\d{4}-\d\d-\d\d$|^\d\d:\d\d:\d\d$")

pytestmark = pytest.mark.slow


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def steps() -> list[Step]:
    """Every ``$`` command of the page's console blocks, with the output shown under it."""
    found: list[Step] = []
    for block in CONSOLE.findall(PAGE.read_text(encoding="utf-8")):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append(Step(line[2:]))
            elif line.strip():
                found[-1].expected.append(line)
    return found


class Sandbox:
    """Where the how-to's folders and ports go, and the processes it left running."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.paths = {path: str(root / path.lstrip("/")) for path in MOVED}
        self.ports = {port: str(kh.free_udp_port()) for port in PORTS}
        self.env = {**os.environ}
        self.env.pop("CALLCODES_DB", None)
        self.background: list[tuple[subprocess.Popen[bytes], str]] = []
        self.done: set[Path] = set()
        self.log = root / "background.log"
        # What a machine has before the how-to: /opt, /var/lib, and Kamailio's /etc/kamailio.
        for folder in ("opt", "var/lib", "etc/kamailio"):
            (root / folder).mkdir(parents=True)

    def move(self, text: str) -> str:
        """The text with the how-to's folders and ports replaced by the sandbox's."""
        for path, moved in self.paths.items():
            text = re.sub(rf"(?<![\w/.-]){re.escape(path)}", moved, text)
        for port, moved in self.ports.items():
            text = re.sub(rf"(?<=[: ]){port}\b", moved, text)
        return text

    def move_files(self) -> None:
        """Rewrite, once, each file a command copied into the moved /etc/kamailio."""
        folder = Path(self.paths["/etc/kamailio"])
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path not in self.done:
                    path.write_text(self.move(path.read_text()))
                    self.done.add(path)

    def run(self, step: Step) -> str:
        command = self.move(step.command)
        if command.startswith("apt-get "):
            return self.install(command)
        export = re.fullmatch(r"export (\w+)=(\S+)", command)
        if export:
            self.env[export[1]] = export[2]
            return ""
        if command.endswith(" &"):
            self.start(command[:-2])
            return ""
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            timeout=600,
            check=False,
        )
        output = done.stdout.decode(errors="replace")
        assert done.returncode == 0, f"{command}\n{output}{done.stderr.decode(errors='replace')}"
        self.move_files()
        return output

    def install(self, command: str) -> str:
        """apt-get runs only when a package it names is missing (it needs the network)."""
        words = shlex.split(command)
        if words[1] == "update":
            return ""
        wanted = [w for w in words[2:] if not w.startswith("-")]
        missing = [name for name in wanted if not _installed(name)]
        if missing:
            install_debian_packages(self.root / "apt.log", tuple(wanted))
        return ""

    def start(self, command: str) -> None:
        """A background command: started, then awaited until it serves its port."""
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.repo,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.background.append((proc, command))
        if command.startswith("kamailio"):
            port = int(self.ports["5060"])
            kh.wait_for(lambda: proc.poll() is not None or kh.sip_options(port), 20, command)
            assert proc.poll() is None, f"{command} exited:\n{self.log_tail()}"
        else:
            port = int(re.findall(r"-p (\d+)", command)[0])
            kh.wait_for(lambda: kh.udp_port_bound(port), 10, command)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for proc, command in reversed(self.background):
            if command.startswith("kamailio"):
                pids = [proc.pid, *kh.children_of(proc.pid)]
                kh.Kamailio.stop_process(proc)
                assert [pid for pid in pids if kh.alive(pid)] == []
            elif proc.poll() is None:
                proc.terminate()
                proc.wait(10)


def _installed(package: str) -> bool:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, check=False
    )
    return done.stdout.endswith(b"install ok installed")


def _copy_repository(target: Path) -> None:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.db", "*.db-*", ".*_cache", ".hypothesis", ".benchmarks"
    )
    shutil.copytree(kh.ROOT, target, ignore=ignore, symlinks=True)


@pytest.fixture
def sandbox(kamailio_tools: None, tmp_path: Path) -> Iterator[Sandbox]:
    if os.geteuid() != 0:
        pytest.fail("the how-to of docs/kamailio.md is written for root: run the tests as root")
    found = Sandbox(tmp_path)
    _copy_repository(found.repo)
    try:
        yield found
    finally:
        found.stop()


def words(line: str) -> list[str]:
    return [word for word in line.split() if not TIME_OR_DATE.match(word)]


class TestHowTo:
    def test_the_page_lists_the_steps(self) -> None:
        """The how-to installs the packages, makes a venv, starts Kamailio and calls."""
        commands = [step.command for step in steps()]
        assert any(c.startswith("apt-get install -y kamailio ") for c in commands)
        assert any("-m venv /opt/callcodes" in c for c in commands)
        assert any(c.startswith("kamailio -f /etc/kamailio/kamailio.cfg") for c in commands)
        assert sum(c.startswith("sipp ") for c in commands) == 3

    def test_every_command_runs_and_prints_what_the_page_shows(self, sandbox: Sandbox) -> None:
        """From an empty machine layout to a 200 and a 403 through a real Kamailio."""
        for step in steps():
            output = sandbox.run(step)
            printed = [words(line) for line in output.splitlines()]
            for line in step.expected:
                wanted = words(sandbox.move(line))
                assert any(_contains(seen, wanted) for seen in printed), (
                    f"{step.command}: {line!r} not in\n{output}"
                )


def _contains(seen: list[str], wanted: list[str]) -> bool:
    """True when *wanted* appears as consecutive words of *seen*."""
    size = len(wanted)
    return any(seen[i : i + size] == wanted for i in range(len(seen) - size + 1))
