"""Atomic file writing: a cut-off export never replaces a good file; code files are 0600."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import callcodes as cc
from callcodes._files import CODE_FILE_MODE, atomic_write
from callcodes.cli import main
from callcodes.store import PolicyStore


def _store(tmp_path: Path, count: int = 2000) -> Path:
    db = tmp_path / "policy.db"
    store = PolicyStore(db)
    store.set_group("acme", cc.GroupSettings(mode="authorization", code_length=8), actor="ann")
    store.add_codes("acme", [f"{n:08}" for n in range(count)], actor="ann")
    store.close()
    return db


def _export(db: Path, *args: str) -> int:
    env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code


class TestAtomicWrite:
    def test_writes_the_whole_text(self, tmp_path: Path) -> None:
        target = tmp_path / "out.txt"
        with atomic_write(target) as file:
            file.write("hello")
        assert target.read_text() == "hello"
        assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]

    def test_an_exception_leaves_the_earlier_file(self, tmp_path: Path) -> None:
        target = tmp_path / "out.txt"
        target.write_text("earlier")

        def cut_off() -> None:
            with atomic_write(target) as file:
                file.write("half")
                raise RuntimeError

        with pytest.raises(RuntimeError):
            cut_off()
        assert target.read_text() == "earlier"
        assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]

    def test_mode(self, tmp_path: Path) -> None:
        target = tmp_path / "secret.csv"
        with atomic_write(target, mode=0o600) as file:
            file.write("x")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600

    def test_default_mode_follows_the_umask(self, tmp_path: Path) -> None:
        target = tmp_path / "plain.txt"
        umask = os.umask(0o022)
        try:
            with atomic_write(target) as file:
                file.write("x")
        finally:
            os.umask(umask)
        assert stat.S_IMODE(target.stat().st_mode) == 0o644


class TestExports:
    @pytest.mark.parametrize(
        "args",
        [("codes", "export", "acme", "out.csv"), ("group", "export", "acme", "out.csv.json")],
    )
    def test_code_exports_are_owner_only(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
    ) -> None:
        db = _store(tmp_path, 3)
        monkeypatch.chdir(tmp_path)
        assert _export(db, *args) == 0
        assert stat.S_IMODE((tmp_path / args[-1]).stat().st_mode) == CODE_FILE_MODE

    @pytest.mark.parametrize(
        "args",
        [("codes", "export", "acme", "out.file"), ("group", "export", "acme", "out.file")],
    )
    def test_a_size_limit_leaves_the_earlier_file(self, tmp_path: Path, args: list[str]) -> None:
        """An export cut off by RLIMIT_FSIZE (as by a full disk) leaves the earlier file whole."""
        db = _store(tmp_path)
        earlier = b"code,description\n12345678,kept\n"
        target = tmp_path / "out.file"
        target.write_bytes(earlier)
        script = textwrap.dedent(
            f"""
            import resource, signal, sys
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
            from callcodes.cli import main
            sys.argv = ["callcodes", *{list(args)!r}]
            main()
            """
        )
        env = {**os.environ, "CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            check=False,
        )
        assert done.returncode != 0
        assert target.read_bytes() == earlier
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


class TestReplaceAsks:
    """``codes import --replace`` that would remove all or most of a group's codes needs --yes."""

    @pytest.mark.parametrize("content", ["code,description\n", "code,description\n00000000,a\n"])
    def test_refused_without_yes(self, tmp_path: Path, content: str) -> None:
        db = _store(tmp_path, 4)
        (tmp_path / "cut.csv").write_text(content)
        before = db.read_bytes()
        env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
        args = ["codes", "import", "acme", str(tmp_path / "cut.csv"), "--replace"]
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 1, result.output
        assert "--yes" in result.stderr
        assert db.read_bytes() == before
        assert PolicyStore(db).count("acme") == 4
        result = CliRunner().invoke(main, [*args, "--yes"], env=env)
        assert result.exit_code == 0, result.output
        assert PolicyStore(db).count("acme") == content.count("\n") - 1

    def test_a_replacement_keeping_most_codes_goes_ahead(self, tmp_path: Path) -> None:
        db = _store(tmp_path, 4)
        (tmp_path / "most.csv").write_text("code,description\n00000000,a\n00000001,b\n")
        env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
        args = ["codes", "import", "acme", str(tmp_path / "most.csv"), "--replace"]
        assert CliRunner().invoke(main, args, env=env).exit_code == 0


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()


_READERS = [
    ("group", "list"),
    ("group", "show", "acme"),
    ("group", "export", "acme"),
    ("codes", "list", "acme"),
    ("codes", "export", "acme"),
    ("locks", "list", "acme"),
    ("audit",),
]


class TestReadOnlyCommands:
    """Commands that only read never create or change a file, whatever it is."""

    @pytest.mark.parametrize("args", _READERS)
    @pytest.mark.parametrize("kind", ["empty", "text", "foreign sqlite"])
    def test_a_file_that_is_not_a_store_is_refused_untouched(
        self, tmp_path: Path, args: tuple[str, ...], kind: str
    ) -> None:
        path = tmp_path / "other.db"
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "text":
            path.write_text("not a database\n")
        else:
            _foreign_sqlite(path)
        before = path.read_bytes()
        env = {"CALLCODES_DB": str(path), "CALLCODES_ACTOR": "ann"}
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("Error: ")
        assert "not a callcodes policy store" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]

    @pytest.mark.parametrize("args", _READERS)
    def test_a_store_is_read_without_a_change(self, tmp_path: Path, args: tuple[str, ...]) -> None:
        """The store file is unchanged (SQLite may keep its -wal/-shm companions beside it)."""
        db = _store(tmp_path, 3)
        before = db.read_bytes()
        env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 0, result.output
        assert db.read_bytes() == before
        assert {p.name for p in tmp_path.iterdir()} <= {
            "policy.db",
            "policy.db-wal",
            "policy.db-shm",
        }

    def test_a_missing_store_is_named(self, tmp_path: Path) -> None:
        path = tmp_path / "nowhere.db"
        with pytest.raises(cc.InvalidValueError, match=r"nowhere\.db"):
            PolicyStore(path, read_only=True)
        assert not path.exists()

    def test_a_read_only_store_refuses_writes(self, tmp_path: Path) -> None:
        db = _store(tmp_path, 3)
        before = db.read_bytes()
        store = PolicyStore(db, read_only=True)
        assert store.count("acme") == 3
        with pytest.raises(sqlite3.OperationalError):
            store.add_codes("acme", ["99999999"], actor="ann")
        store.close()
        assert db.read_bytes() == before


class TestEnvironmentProblems:
    def test_a_full_disk_is_reported_as_such(self, tmp_path: Path) -> None:
        """A store that cannot grow (full disk, size limit) says so, not 'not a usable store'."""
        script = textwrap.dedent(
            f"""
            import resource, signal
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
            from callcodes import InvalidValueError
            from callcodes.store import PolicyStore
            try:
                PolicyStore({str(tmp_path / "p.db")!r})
            except InvalidValueError as exc:
                print(exc)
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert "free space" in done.stdout, done.stdout + done.stderr
        assert "not a usable policy store" not in done.stdout


class TestGroupImportAsks:
    """``group import`` over a group asks before removing most codes, or promoting account codes."""

    def _document(self, tmp_path: Path, mode: str, codes: list[str]) -> Path:
        path = tmp_path / "acme.json"
        document = {
            "format": "callcodes-group",
            "version": 1,
            "group": "acme",
            "settings": {"mode": mode, "code_length": 8},
            "codes": [{"code": code} for code in codes],
        }
        path.write_text(json.dumps(document))
        return path

    @pytest.mark.parametrize(
        ("mode", "codes"),
        [("authorization", []), ("authorization", ["00000000"])],
    )
    def test_refused_without_yes(self, tmp_path: Path, mode: str, codes: list[str]) -> None:
        db = _store(tmp_path, 4)
        path = self._document(tmp_path, mode, codes)
        before = db.read_bytes()
        env = {"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
        result = CliRunner().invoke(main, ["group", "import", str(path)], env=env)
        assert result.exit_code == 1, result.output
        assert "--yes" in result.stderr
        assert db.read_bytes() == before
        result = CliRunner().invoke(main, ["group", "import", str(path), "--yes"], env=env)
        assert result.exit_code == 0, result.output
        with PolicyStore(db) as store:
            assert store.count("acme") == len(codes)
