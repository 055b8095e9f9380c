"""Drive a real Kamailio (app_python3) and real sipp processes on loopback, stopped by pid.

Everything here is started with ``subprocess.Popen`` or ``subprocess.run``, bounded by a
timeout, and stopped by process id. Used by the end-to-end tests' fixtures and by
``benchmarks/bench_kamailio.py``.

Kamailio embeds the system's Python (Debian's 3.11), not the interpreter that runs the tests:
:func:`kamailio_python_path` builds a folder that makes ``callcodes`` and its pure-Python
dependencies importable there.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCENARIOS = HERE / "scenarios"
EXAMPLE = ROOT / "examples" / "kamailio"
DEBIAN_PACKAGES = ("kamailio", "kamailio-python3-modules", "sip-tester")
APP_PYTHON3 = "app_python3.so"
# The distributions callcodes needs at run time, all pure Python.
RUNTIME_DEPENDENCIES = (
    "attrs",
    "sortedcontainers",
    "click",
    "tomli-w",
    "phonenumbers",
    # The postgres extra, for the nodes that share a PostgreSQL database (built for 3.11).
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "typing-extensions",
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOOPBACK = "127.0.0.1"


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/sbin")


def sipp_binary() -> str | None:
    return shutil.which("sipp")


def kamailio_module_dir() -> Path | None:
    """The folder holding Kamailio's modules (with app_python3.so), or None."""
    for candidate in [
        *sorted(Path("/usr/lib").glob("*/kamailio/modules")),
        Path("/usr/lib/kamailio/modules"),
    ]:
        if (candidate / APP_PYTHON3).exists():
            return candidate
    return None


def missing_tools() -> list[str]:
    """What of Kamailio, its Python module and sipp is not installed."""
    missing = []
    if kamailio_binary() is None:
        missing.append("kamailio")
    if kamailio_module_dir() is None:
        missing.append("kamailio-python3-modules")
    if sipp_binary() is None:
        missing.append("sip-tester")
    return missing


def kamailio_python_path(folder: Path) -> list[Path]:
    """Folders that make callcodes importable by Kamailio's embedded Python.

    The runtime dependencies are pure Python: their installed files are linked from the
    environment running the tests into *folder*, and this checkout's ``src`` comes after it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_DEPENDENCIES:
        dist = importlib.metadata.distribution(name)
        tops = {
            Path(str(f)).parts[0]
            for f in dist.files or ()
            if not Path(str(f)).parts[0].endswith((".dist-info", ".egg-info", "__pycache__"))
            and not str(f).startswith("..")
        }
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            target = folder / top
            if source.exists() and not target.exists():
                target.symlink_to(source)
    return [folder, ROOT / "src"]


# --------------------------------------------------------------------------- waiting, /proc


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll *predicate* until it is true; raise TimeoutError naming *what* after *timeout* s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not true after {timeout} s")
        time.sleep(0.005)


def free_udp_port() -> int:
    """A UDP port of the loopback that is free now (the user binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def udp_port_bound(port: int) -> bool:
    """True when some process has bound UDP *port* (read from /proc/net/udp)."""
    wanted = f":{port:04X}"
    with Path("/proc/net/udp").open() as table:
        next(table)
        return any(line.split()[1].endswith(wanted) for line in table)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, utime+stime in ticks) of *pid*, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[11]) + int(rest[12])


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found and found[1] == pid and found[0] != "Z":
                kids.append(int(entry.name))
    return kids


def alive(pid: int) -> bool:
    found = _stat(pid)
    return found is not None and found[0] != "Z"


# --------------------------------------------------------------------------- SIP probe


def sip_options(port: int, user: str = "", timeout: float = 0.2) -> str | None:
    """Send one OPTIONS to 127.0.0.1:*port*; return the reply's status line, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(timeout)
        local = sock.getsockname()[1]
        ruri = f"sip:{user}@{LOOPBACK}:{port}" if user else f"sip:{LOOPBACK}:{port}"
        message = (
            f"OPTIONS {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@{LOOPBACK}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{LOOPBACK}:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), (LOOPBACK, port))
        try:
            data = sock.recv(65535).decode(errors="replace")
        except TimeoutError:
            return None
        return data.split("\r\n", 1)[0]


# --------------------------------------------------------------------------- Kamailio


class Kamailio:
    """One Kamailio in the foreground (``-DD``): the Popen pid is its main process."""

    def __init__(
        self,
        workdir: Path,
        cfg: Path,
        script: Path,
        *,
        port: int | None = None,
        children: int = 2,
        shm_mb: int = 64,
        env: Mapping[str, str] | None = None,
        memory: str | None = None,
        wrapper: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.cfg = cfg
        self.script = script
        self.port = port or free_udp_port()
        self.children = children
        self.shm_mb = shm_mb
        self.memory = memory  # Kamailio's memory manager (-x): qm (its default), fm or tlsf
        self.wrapper = list(wrapper)  # a command that runs Kamailio (a profiler, say)
        # Kamailio embeds Debian's Python: its standard library is the one under /usr, even
        # when another python3 comes first on PATH (the embedded interpreter looks there).
        self.env = {**os.environ, "PYTHONHOME": "/usr", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "kamailio.log"

    def argv(self) -> list[str]:
        rundir = self.workdir / "run"
        rundir.mkdir(parents=True, exist_ok=True)
        binary = kamailio_binary()
        assert binary is not None, "kamailio is not installed"
        argv = [binary, "-f", str(self.cfg), "-DD", "-E", "-Y", str(rundir)]
        argv += ["-w", str(self.workdir), "-m", str(self.shm_mb)]
        argv += ["-A", f"LISTEN=udp:{LOOPBACK}:{self.port}"]
        argv += ["-A", f'CALLCODES_SCRIPT="{self.script}"']
        argv += ["-A", f"CHILDREN={self.children}"]
        if self.memory is not None:
            argv += ["-x", self.memory]
        return [*self.wrapper, *argv]

    def start(self, timeout: float = 20.0) -> float:
        """Start and wait until it answers OPTIONS; return the seconds it took."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kamailio exited with status {self.proc.returncode}:\n{self.log_tail()}"
                )
            if sip_options(self.port) is not None:
                return time.monotonic() - started
        self.stop()
        raise TimeoutError(f"kamailio not ready after {timeout} s:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        return [self.proc.pid, *children_of(self.proc.pid)]

    def cpu_seconds(self) -> float:
        """utime + stime of the main process and every worker, in seconds."""
        return sum((_stat(pid) or ("", 0, 0))[2] for pid in self.pids()) / CLK_TCK

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM to the main process, then wait for it and its workers (SIGKILL if late)."""
        if self.proc is None:
            return None
        return self.stop_process(self.proc, timeout)

    @staticmethod
    def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
        """Stop the Kamailio whose main process is *proc*, and wait for its workers."""
        kids = children_of(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        deadline = time.monotonic() + timeout
        for kid in kids:
            while alive(kid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if alive(kid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(kid, signal.SIGKILL)
        return proc.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# --------------------------------------------------------------------------- sipp


def sipp_argv(
    scenario: Path,
    *,
    remote: str | None = None,
    local_port: int | None = None,
    calls: int = 1,
    service: str | None = None,
    keys: Mapping[str, str] | None = None,
    rate: float | None = None,
    limit: int | None = None,
    timeout_s: float = 10,
    timeout_error: bool = True,
    log_file: Path | None = None,
    error_file: Path | None = None,
    stat_file: Path | None = None,
    extra: Iterable[str] = (),
) -> list[str]:
    """The command line of one sipp run (always with ``-p``: sipp binds 5060 without it)."""
    binary = sipp_binary()
    assert binary is not None, "sipp is not installed"
    argv = [binary, "-sf", str(scenario)]
    if remote:
        argv.append(remote)
    argv += ["-i", LOOPBACK, "-m", str(calls), "-nostdin", "-timeout", f"{timeout_s}s"]
    argv += ["-p", str(local_port or free_udp_port())]
    if timeout_error:
        argv.append("-timeout_error")
    if service is not None:
        argv += ["-s", service]
    for key, value in (keys or {}).items():
        assert value, f"sipp refuses an empty -key value ({key})"
        argv += ["-key", key, value]
    if rate:
        argv += ["-r", str(rate)]
    if limit:
        argv += ["-l", str(limit)]
    if log_file:
        argv += ["-trace_logs", "-log_file", str(log_file)]
    if error_file:
        argv += ["-trace_err", "-error_file", str(error_file)]
    if stat_file:
        argv += ["-trace_stat", "-stf", str(stat_file), "-fd", "1"]
    return [*argv, *extra]


def extra_headers(headers: Iterable[str]) -> str:
    """The caller scenario's ``extra_hdrs`` value: never empty (an empty line ends the headers)."""
    found = [h for h in headers if h]
    return "\r\n".join(found) if found else "X-Test: 1"


def read_sipp_stats(stat_file: Path) -> dict[str, str]:
    """The last row of sipp's ``-trace_stat`` file (``;``-separated) as a dict."""
    lines = [line for line in stat_file.read_text().splitlines() if line.strip()]
    head = lines[0].rstrip(";").split(";")
    row = lines[-1].rstrip(";").split(";")
    return dict(zip(head, row, strict=False))


@dataclass
class Final:
    """The final response a sipp caller received, and how sipp ended."""

    status: int | None
    reason: str
    returncode: int
    output: str

    @property
    def line(self) -> str:
        return f"{self.status} {self.reason}"


#: The final response line that caller.xml logs: status and reason.
FINAL_LINE = re.compile(r"^FINAL call=\d+ SIP/2\.0 (\d{3}) ?(.*)$", re.M)


def call(
    workdir: Path,
    kamailio_port: int,
    dialed: str,
    caller: str,
    domain: str,
    headers: Iterable[str] = (),
    *,
    tag: str,
    timeout_s: float = 10,
) -> Final:
    """One INVITE from a sipp caller through Kamailio; return the final response it got."""
    log = workdir / f"{tag}.log"
    errors = workdir / f"{tag}.err"
    argv = sipp_argv(
        SCENARIOS / "caller.xml",
        remote=f"{LOOPBACK}:{kamailio_port}",
        service=dialed,
        keys={"caller": caller, "domain": domain, "extra_hdrs": extra_headers(headers)},
        timeout_s=timeout_s,
        log_file=log,
        error_file=errors,
    )
    done = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        timeout=timeout_s + 20,
        check=False,
    )
    text = log.read_text(errors="replace") if log.exists() else ""
    found = FINAL_LINE.findall(text)
    output = done.stdout.decode(errors="replace")[-2000:]
    if errors.exists():
        output += errors.read_text(errors="replace")[-2000:]
    if not found:
        return Final(None, "", done.returncode, output)
    status, reason = found[-1]
    return Final(int(status), reason.strip(), done.returncode, output)


# --------------------------------------------------------------------------- the gateway


@dataclass
class CapturedInvite:
    """One INVITE as the gateway received it."""

    request_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw: str = ""

    @property
    def ruri(self) -> str:
        return self.request_line.split(" ")[1]

    @property
    def ruri_user(self) -> str:
        found = re.match(r"sips?:([^@;>]+)@", self.ruri)
        return found.group(1) if found else ""

    def header(self, name: str) -> str | None:
        found = self.headers_named(name)
        return found[0] if found else None

    def headers_named(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


_BLOCK = re.compile(
    r"^=== GW-INVITE-BEGIN call=(\d+)\n(.*?)^=== GW-INVITE-END call=\1$", re.S | re.M
)


def parse_gateway_log(path: Path) -> list[CapturedInvite]:
    """The INVITEs recorded by ``gateway.xml`` in its log file, in arrival order."""
    try:
        text = path.read_text(errors="replace").replace("\r\n", "\n")
    except FileNotFoundError:
        return []
    found = []
    for match in _BLOCK.finditer(text):
        raw = match.group(2)
        lines = raw.split("\n\n", 1)[0].split("\n")
        headers = []
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers.append((name.strip(), value.strip()))
        found.append(CapturedInvite(lines[0], headers, raw))
    return found


class Gateway:
    """A sipp gateway that answers *calls* INVITEs with 200 and records each one."""

    def __init__(self, workdir: Path, port: int, calls: int, *, tag: str, timeout_s: float = 30):
        self.port = port
        self.calls = calls
        self.log = workdir / f"{tag}.gateway.log"
        self.out = workdir / f"{tag}.gateway.out"
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Gateway:
        argv = sipp_argv(
            SCENARIOS / "gateway.xml",
            local_port=self.port,
            calls=self.calls,
            timeout_s=self.timeout_s,
            timeout_error=False,
            log_file=self.log,
        )
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        proc = self.proc

        def bound() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the gateway exited: {self.out.read_text(errors='replace')}")
            return udp_port_bound(self.port)

        wait_for(bound, 10, f"the sipp gateway binding UDP port {self.port}")
        return self

    def finish(self, timeout: float = 20) -> list[CapturedInvite]:
        """Wait until it has seen its calls (stop it after *timeout*); return what it received."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        return parse_gateway_log(self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
