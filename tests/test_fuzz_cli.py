"""Every ``callcodes`` command driven with generated arguments and files: one clear line, always.

The commands are enumerated from the click group, so a new command is fuzzed without a change
here. Each example runs one command against a copy of a real store in a fresh directory, with
junk, huge and edge-of-calendar values and generated CSV, JSON and TOML files, and checks that
the command exits 0, 1 or 2, prints no traceback, and leaves the store file byte for byte as it
was whenever it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from callcodes.cli import main

NAMES = [
    "acme",
    "bob",
    "",
    " acme",
    "acme ",
    "a\tb",
    "a\nb",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;title\x07",
    "x" * 200,
    "\u202eevil",
    "ü" * 31,
]
NUMBERS = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1",
    "4",
    "1.5",
    "-0.0",
    "1e400",
    "1e308",
    "9" * 400,
    str(10**30),
    "0x10",
    "٣",
    "9" * 5000 + ":1",
]
TIMES = [
    "9999-12-31T23:59:59-01:00",
    "9999-12-31",
    "0001-01-01",
    "0001-01-01T00:00:00+01:00",
    "2026-01-01",
    "2026-01-01T08:00Z",
    "none",
    "junk",
    "2026-13-45",
]
NUMBERS_ST = st.sampled_from(NUMBERS)
TEXT = st.one_of(
    st.sampled_from(NAMES + NUMBERS + TIMES + ["1234", "0042", "12", "*71", "US", "none", "all"]),
    st.builds("{}={}".format, st.sampled_from(["international", "local", "moon", ""]), NUMBERS_ST),
    st.text(max_size=20),
)

#: The rows and documents the generated files are made of: valid, junk, huge, deep, odd.
CSV_FILES = st.one_of(
    st.sampled_from(
        [
            b"code,description\n1234,Sales\n5678,Support\n",
            b"code,description,level,valid_from,valid_until,max_uses\n1234,x,5,,,"
            + str(10**400).encode()
            + b"\n",
            b"code,level\n1234," + str(10**30).encode() + b"\n",
            b"code,valid_from\n1234,9999-12-31T23:59:59-01:00\n",
            b"code,valid_until\n1234,0001-01-01\n",
            b"code," + b"x" * 200_000 + b"\n1234,a\n",
            b"code,description\n1234,bell\x07\n",
            b"\xff\xfe\x00c\x00o\x00d\x00e\x00",
            b"code;description\n1234;x\n",
            b"",
        ]
    ),
    st.binary(max_size=200),
)
JSON_FILES = st.one_of(
    st.sampled_from(
        [
            b'{"group": "fuzz", "settings": {"code_length": 4}, "codes": [{"code": "1234"}]}',
            b'{"group": "fuzz", "codes": [{"code": "1234", "max_uses": '
            + str(10**400).encode()
            + b"}]}",
            b'{"group": "fuzz", "codes": [{"code": "1234", "level": 1e30}]}',
            b'{"group": "fuzz", "settings": {"lockout": {"lock_for": 1e400}}}',
            b'{"group": "fuzz", "settings": {"lockout": {"user_window": -5}}}',
            b'{"group": "fuzz", "settings": {"max_attempts": ' + b"9" * 5000 + b"}}",
            b'{"group": "fuzz\\n\\u001b[31m"}',
            b'{"group": "fuzz", "codes": [{"code": "1234", '
            b'"valid_from": "0001-01-01T00:00:00+01:00"}]}',
            b'{"group": "fuzz", "dialplan": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            b"[" * 100_000,
            b'{"group": "fuzz", "settings": {"mandatory_users": ["a\\tb"]}}',
        ]
    ),
    st.binary(max_size=200),
)
TOML_FILES = st.one_of(
    st.sampled_from(
        [
            b'group = "fuzz"\n[settings]\ncode_length = 4\n',
            b'group = "fuzz"\n[[codes]]\ncode = "1234"\nmax_uses = 99999999999999999999\n',
            b'group = "fuzz"\n[[codes]]\ncode = "1234"\nvalid_until = 9999-12-31T23:59:59-01:00\n',
            b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
            b'group = "\\u001b[2J"\n',
        ]
    ),
    st.binary(max_size=200),
)
FILES = st.one_of(CSV_FILES, JSON_FILES, TOML_FILES)
FILE_NAMES = ["in.csv", "in.json", "in.toml", "-", "missing.csv", "out.json"]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


# `serve` and `events ship` run until they are signalled, so a valid set of arguments would
# never return here; they are driven as real processes instead (tests/service/test_serve_cli.py,
# tests/test_events_spool.py).
RUN_UNTIL_SIGNALLED = {("serve",), ("events", "ship")}
COMMANDS = [path for path in _commands(main) if path not in RUN_UNTIL_SIGNALLED]


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _value(param: click.Parameter) -> st.SearchStrategy[str]:
    if isinstance(param.type, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in param.type.choices]), TEXT)
    if isinstance(param.type, click.Path):
        return st.sampled_from(FILE_NAMES)
    return TEXT


@st.composite
def _invocation(draw: st.DrawFn, path: tuple[str, ...]) -> list[str]:
    command = _command(path)
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            if param.name in ("help",) or not draw(st.booleans()):
                continue
            opts = [*param.opts, *param.secondary_opts]
            if param.is_flag:
                args.append(draw(st.sampled_from(opts)))
            else:
                args += [draw(st.sampled_from(opts)), draw(_value(param))]
        elif isinstance(param, click.Argument):
            count = 1 if param.nargs == 1 else draw(st.integers(0 if not param.required else 1, 3))
            if not param.required and param.nargs == 1 and draw(st.booleans()):
                continue
            args += [draw(_value(param)) for _ in range(count)]
    return [*path, *args]


def _run(directory: Path, args: list[str], stdin: bytes | None = None) -> tuple[int, str]:
    runner = CliRunner()
    db = str(directory / "policy.db")
    result = runner.invoke(main, ["--db", db, *args], input=stdin, catch_exceptions=True)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        raise AssertionError(f"$ callcodes {args!r} raised {exc!r}\n{result.output}") from exc
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store: groups acme and bob, codes, users, a lock and a dial plan."""
    directory = tmp_path_factory.mktemp("template")
    for args in [
        ["group", "set", "acme", "--digits", "4", "--mode", "authorization"],
        ["codes", "add", "acme", "1234", "5678", "--description", "Sales"],
        ["group", "set", "bob", "--digits", "6"],
        ["locks", "add", "acme", "carol"],
        ["dialplan", "set", "acme", "--region", "US", "--outside-prefix", "9"],
        ["users", "set", "acme", "--optional", "none"],  # the directory's tables, once
    ]:
        status, output = _run(directory, args)
        assert status == 0, output
    return directory / "policy.db"


def _store_state(db: Path) -> bytes:
    return db.read_bytes() if db.exists() else b""


@settings(
    # Five times the profile's count: 300 by default, 1000 on CI (CI=true); ten seconds or so.
    max_examples=5 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(COMMANDS),
    data=st.data(),
    content=FILES,
    actor=st.one_of(st.just("ann"), st.sampled_from(NAMES)),
)
def test_every_command_fails_in_one_line_and_changes_nothing(
    template: Path, path: tuple[str, ...], data: st.DataObject, content: bytes, actor: str
) -> None:
    """Exit status 0, 1 or 2; no traceback; a failed command leaves the store as it was."""
    args = ["--actor", actor, *data.draw(_invocation(path), label="args")]
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        db = directory / "policy.db"
        shutil.copyfile(template, db)
        for file in ("in.csv", "in.json", "in.toml"):
            (directory / file).write_bytes(content)
        before = _store_state(db)
        cwd = Path.cwd()
        try:
            os.chdir(directory)
            status, output = _run(directory, args, stdin=content)
        finally:
            os.chdir(cwd)
        event(f"exit status {status}")
        assert status in (0, 1, 2), (args, status, output)
        assert "Traceback" not in output, (args, output)
        if status != 0:
            assert _store_state(db) == before, (args, output)
            lines = [line for line in output.splitlines() if line.startswith("Error")]
            assert len(lines) == 1, (args, output)
            assert len(output) < 20_000, (args, output[:500])


#: Inputs that each reached a traceback, or a silent success, before they were refused.
FOUND = [
    ["locks", "add", "acme", "carol", "--for", "nan"],
    ["locks", "add", "acme", "carol", "--for", "inf"],
    ["locks", "add", "acme", "carol", "--for", "-1"],
    ["locks", "add", "acme", "carol", "--for", "1e400"],
    ["locks", "add", "acme", "carol", "--for", "1e300"],
    ["group", "set", "acme", "--lock-for", "nan"],
    ["group", "set", "acme", "--lock-for", "1e300"],
    ["group", "set", "acme", "--lockout-user-window", "-5"],
    ["group", "set", "acme", "--lockout-group-window", "inf"],
    ["group", "set", "acme", "--digits", "9" * 5000],
    ["codes", "add", "acme", "4321", "--valid-until", "9999-12-31T23:59:59-01:00"],
    ["codes", "add", "acme", "4321", "--valid-from", "0001-01-01T00:00:00+01:00"],
    ["codes", "add", "acme", "4321", "--max-uses", str(10**400)],
    ["codes", "add", "acme", "4321", "--max-uses", "9" * 5000],
    ["codes", "add", "acme", "4321", "--level", "9" * 5000],
    ["codes", "list", "acme", "--limit", "0"],
    ["codes", "list", "acme", "--limit", str(10**30)],
    ["audit", "--since", "9999-12-31T23:59:59-01:00"],
    ["audit", "--limit", str(10**30)],
    ["events", "list", "acme", "--limit", str(10**30)],
    ["events", "list", "acme", "--since", "0001-01-01T00:00:00+01:00"],
    ["check", "acme", "bob", "5551234", "--type", "national", "--attempt", str(10**30)],
    ["group", "set", "a\nb"],
    ["group", "set", "\x1b[31mred"],
    ["group", "set", "x" * 31],
    ["locks", "add", "acme", "a\tb"],
    ["locks", "add", "acme", "u" * 162],
    ["--actor", "ann\x1b[2J", "group", "set", "acme", "--attempts", "3"],
    ["audit", "--csv", "--json"],
    ["events", "list", "acme", "--after", "9" * 5000 + ":1"],
    ["group", "set", "acme", "--min-level", "international=" + "9" * 5000],
    ["group", "set", "acme", "--lock-for", "-5"],
    ["users", "add", "acme", "bob", "--mandatory", "--optional"],
    ["group", "set", "acme", "--local-toll-free", "--no-local-toll-free"],
    ["group", "set", "acme", "--lockout-user-window", "1e12"],
    ["group", "provider", "acme", "sp\x1b[2J"],
    ["group", "provider", "acme", "p" * 31],
    ["group", "provider", "acme", "sp", "--none"],
    ["group", "provider", "acme"],
    ["group", "provider", "nope", "sp"],
    ["users", "available", "acme", "--after", "nobody"],
    ["users", "available", "acme", "--limit", "0"],
    ["audit", "--after", "-1"],
    ["audit", "--after", "9" * 5000],
]

#: Python's own renderings, which a message must not show: reprs of timedeltas and enums.
INTERNALS = re.compile(r"datetime\.|<\w+\.\w+: |\(or None\)")


@pytest.mark.parametrize("args", FOUND, ids=lambda args: " ".join(args)[:40])
def test_found_inputs_are_refused_in_one_line(
    template: Path, tmp_path: Path, args: list[str]
) -> None:
    """Each input that once reached a traceback or succeeded wrongly is refused: exit 1 or 2."""
    db = tmp_path / "policy.db"
    shutil.copyfile(template, db)
    before = db.read_bytes()
    status, output = _run(tmp_path, args)
    assert status in (1, 2), (args, output)
    assert "Traceback" not in output
    assert len([line for line in output.splitlines() if line.startswith("Error")]) == 1, output
    assert max(len(line) for line in output.splitlines()) < 400, output
    assert not INTERNALS.search(output), output
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("in.csv", b"code,description,max_uses\n4321,x," + str(10**400).encode() + b"\n"),
        ("in.csv", b"code,level\n4321," + b"9" * 5000 + b"\n"),
        ("in.csv", b"code," + b",".join([b"x" * 100] * 20_000) + b"\n4321,a\n"),
        ("in.csv", b"code,valid_until\n4321,9999-12-31T23:59:59-01:00\n"),
        ("in.csv", b"code,valid_from\n4321,0001-01-01T00:00:00+01:00\n"),
        (
            "in.json",
            b'{"group": "acme", "codes": [{"code": "4321", "max_uses": 1' + b"0" * 400 + b"}]}",
        ),
        (
            "in.json",
            b'{"group": "acme", "codes": [{"code": "4321", "level": 1' + b"0" * 30 + b"}]}",
        ),
        ("in.json", b'{"group": "acme", "dialplan": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("in.json", b'{"group": "acme", "settings": {"max_attempts": ' + b"9" * 5000 + b"}}"),
        ("in.json", b'{"group": "a\\tb"}'),
        ("in.json", b'{"group": "acme", "users": {"mandatory": ["\\u001b[31mx"]}}'),
        ("in.toml", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ],
    ids=lambda value: value if isinstance(value, str) else str(len(value)),
)
def test_found_files_are_refused_in_one_short_line(
    template: Path, tmp_path: Path, name: str, content: bytes
) -> None:
    """Huge numbers, deep nesting, odd names and giant headers: one short error line."""
    db = tmp_path / "policy.db"
    shutil.copyfile(template, db)
    (tmp_path / name).write_bytes(content)
    before = db.read_bytes()
    file = str(tmp_path / name)
    args = ["codes", "import", "acme", file] if name.endswith(".csv") else ["group", "import", file]
    status, output = _run(tmp_path, args)
    assert status in (1, 2), output[:500]
    assert "Traceback" not in output
    assert len(output) < 2000, output[:500]
    assert db.read_bytes() == before
