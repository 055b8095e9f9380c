"""``--json`` on every command: what a change did, refusals as data, pages, nulls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from callcodes.cli import main


def _leaves(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(command, click.Group):
        return [
            leaf
            for name, sub in sorted(command.commands.items())
            for leaf in _leaves(sub, (*path, name))
        ]
    return [path]


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


LEAVES = _leaves(main)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "policy.db"


def run(db: Path, *args: str) -> tuple[int, str]:
    env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout


def js(db: Path, *args: str) -> Any:
    """Run a command with ``--json``: exit status 0 and one JSON value on stdout."""
    status, out = run(db, *args, "--json")
    assert status == 0, out
    return json.loads(out)


@pytest.fixture
def acme(db: Path) -> Path:
    js(db, "group", "set", "acme", "--mode", "authorization", "--digits", "4")
    return db


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_takes_json(path: tuple[str, ...]) -> None:
    """Every leaf command of ``callcodes`` has a ``--json`` flag."""
    flags = [
        opt
        for param in _command(path).params
        if isinstance(param, click.Option)
        for opt in param.opts
    ]
    assert "--json" in flags


def test_writing_commands_say_what_changed(acme: Path, tmp_path: Path) -> None:
    """Each writing command prints one JSON object naming what it changed."""
    db = acme
    assert js(db, "group", "set", "acme", "--attempts", "5") == {
        "group": "acme",
        "created": False,
        "changed": ["max_attempts"],
    }
    assert js(db, "group", "set", "bob", "--digits", "6")["created"] is True
    assert js(db, "codes", "add", "acme", "1234", "0042") == {
        "group": "acme",
        "added": 2,
        "codes": ["1234", "0042"],
    }
    edited = js(db, "codes", "edit", "acme", "1234", "--level", "3")
    assert edited["edited"] == 1
    assert edited["codes"][0]["level"] == 3
    assert js(db, "users", "add", "acme", "--mandatory", "alice") == {
        "group": "acme",
        "mandatory": ["alice"],
        "optional": [],
        "added": ["alice"],
    }
    assert js(db, "users", "set", "acme", "--optional", "bob") == {
        "group": "acme",
        "mandatory": ["alice"],
        "optional": ["bob"],
    }
    assert js(db, "users", "remove", "acme", "bob")["removed"] == ["bob"]
    assert js(db, "locks", "add", "acme", "carol")["locked"]["user"] == "carol"
    assert js(db, "locks", "unlock", "acme", "carol") == {
        "group": "acme",
        "unlocked": {"user": "carol"},
    }
    assert js(db, "dialplan", "set", "acme", "--region", "US")["created"] is True
    assert js(db, "dialplan", "remove", "acme") == {"group": "acme", "removed": True}
    (tmp_path / "in.csv").write_text("code,description\n5555,x\n", encoding="utf-8")
    assert js(db, "codes", "import", "acme", "in.csv")["imported"] == 1
    assert js(db, "codes", "export", "acme", "out.csv")["exported"] == 3
    assert js(db, "group", "export", "acme", "acme.json")["codes"] == 3
    assert js(db, "group", "import", "acme.json", "--group", "copy")["imported"] == 3
    (tmp_path / "users.csv").write_text(
        "group,user_id,first_name,last_name\nacme,alice,Alice,Doe\nacme,dave,Dave,Doe\n",
        encoding="utf-8",
    )
    assert js(db, "users", "directory", "import", "users.csv")["imported"] == {"acme": 2}
    assert js(db, "users", "directory", "export", "dir.csv")["exported"] == 2
    assert js(db, "codes", "delete", "acme", "5555") == {
        "group": "acme",
        "deleted": 1,
        "codes": ["5555"],
    }
    assert js(db, "group", "remove", "copy", "--yes")["removed"] is True
    assert js(db, "demo")["calls"]


def test_a_refused_batch_lists_every_bad_row(acme: Path) -> None:
    """Exit 1 and only a JSON error object on stdout, its rows numbered from 1."""
    status, out = run(acme, "codes", "add", "acme", "12", "1234", "x1", "--json")
    assert status == 1
    found = json.loads(out)
    assert isinstance(found["error"], str)
    assert "\n" not in found["error"]
    assert [(r["row"], r["code"]) for r in found["rows"]] == [(1, "12"), (3, "x1")]
    assert all(r["problem"] for r in found["rows"])
    status, out = run(acme, "codes", "list", "nope", "--json")
    assert status == 1
    assert json.loads(out)["rows"] is None


def test_next_pages_through_every_code(acme: Path) -> None:
    """``next`` is the ``--after`` of the next page, null on the last."""
    codes = [f"{n:04d}" for n in range(7)]
    js(acme, "codes", "add", "acme", *codes)
    seen: list[str] = []
    after: list[str] = []
    for _ in range(10):
        page = js(acme, "codes", "list", "acme", "--limit", "3", *after)
        seen += [entry["code"] for entry in page["codes"]]
        if page["next"] is None:
            break
        after = ["--after", page["next"]]
    assert seen == codes
    last = js(acme, "codes", "list", "acme", "--limit", "7")
    assert last["next"] is None


def test_absent_fields_are_null(acme: Path, tmp_path: Path) -> None:
    """A field without a value is null: never left out, never ""."""
    js(acme, "codes", "add", "acme", "1234")
    (entry,) = js(acme, "codes", "list", "acme")["codes"]
    assert entry == {
        "code": "1234",
        "description": None,
        "level": 0,
        "valid_from": None,
        "valid_until": None,
        "max_uses": None,
        "hours": None,
    }
    (tmp_path / "users.csv").write_text(
        "group,user_id,first_name,last_name\nacme,dave,Dave,Doe\n", encoding="utf-8"
    )
    js(acme, "users", "directory", "import", "users.csv")
    (user,) = js(acme, "users", "directory", "list", "acme")
    assert user["department"] is None
    assert user["extension"] is None


def test_reading_commands_leave_the_file_alone(acme: Path) -> None:
    """``dialplan show`` and the reading ``users`` commands open the store read-only."""
    before = acme.read_bytes()
    for args in (
        ("dialplan", "show", "acme"),
        ("users", "list", "acme"),
        ("users", "available", "acme"),
        ("users", "directory", "list"),
        ("users", "directory", "export"),
    ):
        js(acme, *args)
        assert acme.read_bytes() == before, args
