"""The command on a PostgreSQL store: ``--db postgresql://...`` (or ``CALLCODES_DB``).

The same commands give the same answers on both backends: a script of administrator's steps is
run against an SQLite file and against a database of the test server, and their outputs and
the stores they leave are compared.
"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from callcodes.cli import main
from callcodes.store import PolicyStore
from callcodes.store.postgres import PostgresPolicyStore

STEPS = (
    ("group", "set", "acme", "--mode", "authorization", "--digits", "4"),
    ("codes", "add", "acme", "1234", "0042", "7001"),
    ("codes", "edit", "acme", "7001", "--description", "Contractor", "--max-uses", "3"),
    ("group", "set", "acme", "--attempts", "3"),
    ("locks", "add", "acme", "alice"),
    ("codes", "delete", "acme", "0042", "--yes"),
    ("codes", "list", "acme"),
    ("group", "show", "acme", "--json"),
    ("audit", "acme", "--json"),
)


def run(db: str, *args: str) -> Result:
    env = {"CALLCODES_DB": db, "CALLCODES_ACTOR": "ann"}
    return CliRunner().invoke(main, list(args), env=env)


TIMES = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00|Z)?")


def normalised(text: str) -> str:
    """Output with the times of the run (locks, audit records) blanked."""
    return TIMES.sub("TIME", text)


def test_the_same_steps_give_the_same_answers_and_stores(pg_url: str, tmp_path: Path) -> None:
    sqlite_db = str(tmp_path / "policy.db")
    for step in STEPS:
        on_file, on_pg = run(sqlite_db, *step), run(pg_url, *step)
        assert on_file.exit_code == 0, (step, on_file.output)
        assert on_pg.exit_code == 0, (step, on_pg.output)
        assert normalised(on_pg.stdout) == normalised(on_file.stdout), step
    with PolicyStore(sqlite_db, read_only=True) as file, PostgresPolicyStore(pg_url) as pg:
        assert pg.group("acme") == file.group("acme")
        assert pg.codes("acme", "", None, 100) == file.codes("acme", "", None, 100)
        assert [(k.user, k.until) for k in pg.locks("acme")] == [
            (k.user, k.until) for k in file.locks("acme")
        ]
        assert [r.action for r in pg.audit("acme")] == [r.action for r in file.audit("acme")]


def test_a_bad_step_is_refused_alike_and_changes_nothing(pg_url: str) -> None:
    assert run(pg_url, "group", "set", "acme", "--digits", "4").exit_code == 0
    refused = run(pg_url, "codes", "add", "acme", "1234", "12a4", "99")
    assert refused.exit_code == 1
    assert "bad row(s), nothing was changed" in refused.stderr
    with PostgresPolicyStore(pg_url) as store:
        assert store.count("acme") == 0


def test_the_directory_and_accounts_answer_alike(pg_url: str, tmp_path: Path) -> None:
    """The user directory and the accounts on PostgreSQL: the same answers as on a file."""
    steps = [
        ("group", "set", "acme"),
        ("users", "set", "acme", "--mandatory", "alice"),
        ("users", "list", "acme"),
        ("accounts", "add", "sw", "--role", "softswitch"),
        ("accounts", "list"),
    ]
    answers = []
    for db in (pg_url, str(tmp_path / "p.db")):
        answers.append([(r.exit_code, r.stdout, r.stderr) for r in (run(db, *s) for s in steps)])
    assert answers[0] == answers[1]
    assert [code for code, _, _ in answers[0]] == [0] * len(steps)
