"""The portal's harness: Debian's Chromium driven by Selenium against a real ``callcodes serve``.

Chromium and its driver are installed with apt-get when missing, and axe-core with npm (into a
cache folder), as the Kamailio tests install their tools: the tests never skip. Each test gets
its own seeded store and server (``real_server``); the browser is started once per session and
forgets its cookies between tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The service tests' real-server harness (a folder of its own, not a package).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "service"))

from browser import CHROMEDRIVER, CHROMIUM, Portal, start_chromium
from real_server import Server, seed_tenants
from selenium.webdriver.remote.webdriver import WebDriver

from debian import ensure_debian_packages

#: Where axe-core is installed once for every test run on this machine.
AXE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "callcodes-tests"
AXE_JS = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"


def _missing_browser() -> list[str]:
    return [str(tool) for tool in (CHROMIUM, CHROMEDRIVER) if not tool.exists()]


def _missing_npm() -> list[str]:
    return [] if shutil.which("npm") else ["npm"]


@pytest.fixture(scope="session")
def apt_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("apt") / "apt.log"


@pytest.fixture(scope="session")
def axe_source(apt_log: Path) -> str:
    """axe-core's script, installed with npm into the cache folder when missing."""
    if not AXE_JS.exists():
        ensure_debian_packages(_missing_npm, ["npm"], apt_log)
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(AXE_CACHE), "axe-core"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not AXE_JS.exists():
            pytest.fail(f"npm install axe-core failed ({done.returncode}): {done.stderr[-2000:]}")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def chromium(apt_log: Path) -> Iterator[WebDriver]:
    """Headless Chromium under chromedriver (installed with apt-get when missing)."""
    ensure_debian_packages(_missing_browser, ["chromium", "chromium-driver"], apt_log)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = start_chromium(Path(profile))
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def portal(chromium: WebDriver, axe_source: str, tmp_path: Path) -> Iterator[Portal]:
    """A seeded store (``seed_tenants``), its server, and the browser pointed at it."""
    db = tmp_path / "policy.db"
    tenants = seed_tenants(db)
    with Server(db) as server:
        chromium.get(server.url + "/login")  # the site's cookies can only be cleared on it
        chromium.delete_all_cookies()
        yield Portal(chromium, server, db, tenants, axe_source)
