"""Chromium under Selenium for the portal: starting it, signing in, waiting, running axe-core.

Waits poll for a condition with a deadline (Selenium's ``WebDriverWait``), never sleep: a page
that was submitted is done when the old page is gone and the new one has loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from real_server import PASSWORD, Server, Tenants
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from callcodes.store import PolicyStore

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMEDRIVER: Final = Path("/usr/bin/chromedriver")
#: The longest a page may take to answer before a test fails (an upper bound, not a wait).
DEADLINE: Final = 30.0
#: Chromium as root, without a display, and without calling any service on the network.
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def start_chromium(profile: Path) -> WebDriver:
    """Headless Chromium with a fresh profile folder, under Debian's chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(DEADLINE)
    driver.set_script_timeout(DEADLINE)
    return driver


class Portal:
    """The browser on one server's portal, with the store behind it and the seeded tenants."""

    def __init__(
        self, driver: WebDriver, server: Server, db: Path, tenants: Tenants, axe: str
    ) -> None:
        self.driver = driver
        self.server = server
        self.db = db
        self.tenants = tenants
        self.axe_source = axe

    # -- moving around ----------------------------------------------------------------------------

    def open(self, path: str) -> None:
        """Load a page of the portal."""
        self.driver.get(self.server.url + path)

    @property
    def path(self) -> str:
        """The path (and query) of the page shown."""
        return self.driver.current_url.removeprefix(self.server.url)

    def until(self, condition: Callable[[WebDriver], Any]) -> Any:
        """Poll *condition* until it holds (its value), failing after the deadline."""
        return WebDriverWait(self.driver, DEADLINE).until(condition)

    def submit(self, button: WebElement) -> None:
        """Click a button that sends a form, and wait for the page it leads to."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        button.click()
        self.until(lambda _driver: _left(old))
        self.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def find(self, css: str) -> WebElement:
        """The one element *css* selects on the page."""
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        """Every element *css* selects on the page."""
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def fill(self, field: str, text: str) -> None:
        """Type *text* into the field named *field* (its old text cleared)."""
        element = self.find(f"[name='{field}']")
        element.clear()
        element.send_keys(text)

    def login(self, name: str, password: str = PASSWORD) -> None:
        """Sign in with the login form's ``username`` and ``password`` fields."""
        self.open("/login")
        self.fill("username", name)
        self.fill("password", password)
        self.submit(self.find("form[action='/login'] button[type='submit']"))

    def cells(self, row: WebElement | str) -> list[str]:
        """The texts of a table row's cells (the row, or the CSS that selects it)."""
        found = self.find(row) if isinstance(row, str) else row
        return [cell.text for cell in found.find_elements(By.CSS_SELECTOR, "td")]

    def heading(self) -> str:
        """The page's first-level heading."""
        return self.find("h1").text

    def codes(self) -> list[str]:
        """The codes listed on the page, from their rows' ``data-code``."""
        return [row.get_attribute("data-code") or "" for row in self.all("tr[data-code]")]

    def fetch(self, path: str) -> dict[str, Any]:
        """GET *path* from the page's script context (its cookies): status, type, text."""
        found: dict[str, Any] = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'same-origin'}).then(async (r) => done("
            "{status: r.status, type: r.headers.get('content-type'), text: await r.text()}))",
            path,
        )
        return found

    # -- checks -----------------------------------------------------------------------------------

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page shown."""
        # Added by the test through the driver, not by the page: the CSP governs the page's
        # own scripts, and a driver's script runs regardless of it.
        self.driver.execute_script(self.axe_source)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document).then((r) => done(JSON.stringify(r.violations)))"
            ".catch((e) => done(JSON.stringify([{impact: 'critical', id: String(e)}])));"
        )
        violations: list[dict[str, Any]] = json.loads(result)
        return [v for v in violations if v.get("impact") in ("serious", "critical")]

    @contextmanager
    def store(self) -> Iterator[PolicyStore]:
        """The store the server runs on, opened beside it (as the command line would)."""
        with PolicyStore(self.db) as store:
            yield store


def _left(element: WebElement) -> bool:
    """Whether *element* belongs to a page the browser has left (the page was replaced).

    ChromeDriver says so with a stale reference, or, when the new page comes in while it
    looks, with an inspector error that the node is not in the document: both mean gone.
    """
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False
