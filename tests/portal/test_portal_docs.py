"""docs/portal.md is true: its set-up runs and signs in, its screenshots exist and are regenerated.

The set-up block's commands run in a shell on a new store (the last, ``callcodes serve``, is
started by the harness instead); the screenshot script runs into a scratch folder and must write
exactly the pictures the page shows, each of which is also in docs/portal/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import Portal
from real_server import Server, Tenants

ROOT = Path(__file__).resolve().parent.parent.parent
PAGE = ROOT / "docs" / "portal.md"
SCRIPT = Path(__file__).resolve().parent / "screenshots.py"

pytestmark = pytest.mark.slow


def _pictures() -> set[str]:
    return set(re.findall(r"\]\(portal/([\w-]+)\.png\)", PAGE.read_text(encoding="utf-8")))


def test_every_screenshot_the_page_names_is_in_the_repository() -> None:
    named = _pictures()
    assert len(named) >= 10
    assert sorted(n for n in named if not (ROOT / "docs" / "portal" / f"{n}.png").exists()) == []


def test_the_screenshot_script_writes_exactly_the_pages_pictures(tmp_path: Path, chromium) -> None:
    # chromium: the browser is installed (the fixture installs it when missing).
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    written = {path.stem for path in tmp_path.glob("*.png")}
    assert written == _pictures()
    assert all(path.stat().st_size > 5000 for path in tmp_path.glob("*.png"))


def test_the_set_up_runs_and_its_account_signs_in(
    tmp_path: Path, chromium, axe_source: str
) -> None:
    text = PAGE.read_text(encoding="utf-8")
    csv = re.search(r"<!-- file: users.csv -->\n```csv\n(.*?)```", text, re.S)
    shell = re.search(r"^```sh\n(.*?)^```", text, re.S | re.M)
    assert csv is not None
    assert shell is not None
    (tmp_path / "users.csv").write_text(csv.group(1), encoding="utf-8")
    lines = shell.group(1).splitlines()
    assert lines[-1].startswith("callcodes serve ")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(
        ["sh", "-e", "-c", "\n".join(lines[:-1])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    password = re.search(r"printf '%s\\n' '([^']+)'", shell.group(1))
    assert password is not None
    db = tmp_path / "policy.db"
    with Server(db) as server:
        chromium.get(server.url + "/login")
        chromium.delete_all_cookies()
        portal = Portal(chromium, server, db, Tenants({}, {}, {}), axe_source)
        portal.login("acme-admin", password.group(1))
        assert [r.get_attribute("data-group") for r in portal.all("tr[data-group]")] == ["acme"]
        portal.open("/groups/acme/codes")
        assert portal.codes() == ["1234"]
        portal.open("/groups/acme/directory")
        assert len(portal.all("tr[data-user]")) == 3
