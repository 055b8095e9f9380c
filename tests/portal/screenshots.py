"""Regenerate the screenshots of docs/portal.md: ``python tests/portal/screenshots.py [--out DIR]``.

A sample group on a fresh store, a real ``callcodes serve``, headless Chromium signed in as the
group's administrator: one PNG per workflow of the page, written to docs/portal/ (or DIR).
Needs Debian's chromium and chromium-driver (the portal tests install them).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "service")]

from browser import Portal, start_chromium  # noqa: E402 - after the path above
from real_server import PASSWORD, Server, Tenants  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

import callcodes as cc  # noqa: E402
from callcodes.store import PolicyStore  # noqa: E402
from callcodes.store.accounts import Accounts, Role  # noqa: E402
from callcodes.store.directory import UserDirectory  # noqa: E402

DOCS = HERE.parent.parent / "docs" / "portal"
GROUP = "acme"
ADMIN = "acme-admin"
#: Every screenshot the page shows, by file name.
NAMES = (
    "login",
    "groups",
    "administration",
    "management",
    "add",
    "bulk-edit",
    "delete",
    "import-errors",
    "directory",
    "locks",
    "reports",
    "audit",
)
PEOPLE = (
    ("1001", "Ada", "Lovelace", "Engineering"),
    ("1002", "Grace", "Hopper", "Engineering"),
    ("1003", "Alan", "Turing", "Research"),
    ("1004", "Edsger", "Dijkstra", "Research"),
    ("1005", "Barbara", "Liskov", "Sales"),
    ("1006", "Donald", "Knuth", "Sales"),
)


def seed(db: Path) -> str:
    """Group acme (authorization codes of 4 digits), its directory, codes, a lock; an operator.

    Returns the operator's API token (for the sample calls of the report).
    """
    with PolicyStore(db) as store:
        store.set_group(
            GROUP,
            cc.GroupSettings(
                mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"1001", "1002"})
            ),
            actor="setup",
        )
        rows = "".join(f"{GROUP},{u},{f},{last},{d},,{u}\n" for u, f, last, d in PEOPLE)
        UserDirectory(store).import_csv(
            b"group,user_id,first_name,last_name,department,phone_number,extension\n"
            + rows.encode(),
            actor="setup",
        )
        store.add_codes(
            GROUP,
            [
                cc.CodeEntry("1234", "Sales"),
                cc.CodeEntry("2040", "Project Apollo"),
                cc.CodeEntry("3141", "Research"),
                cc.CodeEntry("5150", "Front desk"),
                cc.CodeEntry("7007", "Travel desk"),
            ],
            actor="setup",
        )
        store.lock(cc.Lock(GROUP, "1003", datetime.now(UTC)), actor="setup")
        accounts = Accounts(store)
        accounts.add(ADMIN, Role.GROUP, scope=GROUP, password=PASSWORD, actor="setup")
        accounts.add("ops", Role.OPERATOR, scope=None, actor="setup")
        return accounts.issue_token("ops", actor="setup", label="screenshots")[1]


def calls(server: Server, token: str) -> None:
    """A few decided calls, so that the report has something to show."""
    for user, code in (("1001", "1234"), ("1001", "2040"), ("1002", "1234"), ("1002", "9999")):
        body = {"group": GROUP, "user": user, "dialed": "912125550123", "code": code}
        server.client.post("/api/v1/decide", json=body, headers=server.headers(token))


def shoot(portal: Portal, out: Path, name: str) -> None:
    """The whole page shown, as *out*/*name*.png."""
    height = portal.driver.execute_script("return document.documentElement.scrollHeight")
    portal.driver.set_window_size(1280, max(600, min(int(height) + 140, 2400)))
    portal.driver.execute_script("window.scrollTo(0, 0)")
    portal.driver.save_screenshot(str(out / f"{name}.png"))
    portal.driver.set_window_size(1280, 900)


def tour(portal: Portal, out: Path, scratch: Path) -> None:
    """Every workflow of docs/portal.md, a screenshot each."""
    base = f"/groups/{GROUP}"
    portal.open("/login")
    portal.fill("username", ADMIN)
    shoot(portal, out, "login")
    portal.login(ADMIN)
    shoot(portal, out, "groups")
    portal.open(base)
    portal.find("#optional-available").send_keys(Keys.ARROW_DOWN)
    portal.find("fieldset[data-name='optional'] button[data-move='add']").click()
    shoot(portal, out, "administration")
    portal.open(f"{base}/codes")
    portal.find("tr[data-code='5150'] input").click()
    shoot(portal, out, "management")
    portal.open(f"{base}/codes/add")
    portal.fill("code", "8080")
    portal.fill("description", "Warehouse")
    shoot(portal, out, "add")
    portal.open(f"{base}/codes/edit")
    portal.fill("description-2040", "Project Apollo (phase 2)")
    shoot(portal, out, "bulk-edit")
    portal.open(f"{base}/codes")
    for code in ("5150", "7007"):
        portal.find(f"tr[data-code='{code}'] input").click()
    portal.submit(portal.find("#delete-form button[type='submit']"))
    shoot(portal, out, "delete")
    bad = scratch / "codes.csv"
    bad.write_text("code,description\n4242,Lab\n12a4,Letters\n4242,Twice\n99,Too short\n")
    portal.open(f"{base}/codes/import")
    portal.find("#file").send_keys(str(bad))
    portal.submit(portal.find("main form button[type='submit']"))
    shoot(portal, out, "import-errors")
    portal.open(f"{base}/directory?field=department&match=equal&text=research")
    shoot(portal, out, "directory")
    portal.open(f"{base}/locks")
    shoot(portal, out, "locks")
    portal.open(f"{base}/reports?by=user")
    shoot(portal, out, "reports")
    portal.open(f"{base}/audit")
    shoot(portal, out, "audit")


def main(argv: list[str] | None = None) -> int:
    """Write every screenshot; the folder is docs/portal/ unless --out says otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="where the PNG files go")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="portal-shots-") as folder:
        scratch = Path(folder)
        db = scratch / "policy.db"
        token = seed(db)
        profile = scratch / "profile"
        profile.mkdir()
        driver = start_chromium(profile)
        try:
            with Server(db) as server:
                calls(server, token)
                tour(Portal(driver, server, db, Tenants({}, {}, {}), ""), out, scratch)
        finally:
            driver.quit()
    written = sorted(path.stem for path in out.glob("*.png"))
    print(f"{len(NAMES)} screenshot(s) in {out}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
