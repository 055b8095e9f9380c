"""Keyboard and screen reader: axe-core finds no serious or critical violation on any page.

axe-core (the npm package) runs in the real browser on every page of the portal, each filled
with what it shows in use: codes, a lock, a report, an import's bad rows, a refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from browser import Portal
from selenium.webdriver.common.keys import Keys

import callcodes as cc

pytestmark = pytest.mark.slow

GROUP = "p1-acme"


def _clean(portal: Portal, where: str) -> None:
    found = portal.axe()
    assert found == [], (where, [(v["id"], v["impact"], v.get("help")) for v in found])


def test_axe_reports_a_control_without_a_label(portal: Portal) -> None:
    """The check can fail: an input added without a label is a violation axe reports."""
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes")
    _clean(portal, "codes")
    portal.driver.execute_script(
        "const i = document.createElement('input'); document.querySelector('main').append(i);"
    )
    assert "label" in {v["id"] for v in portal.axe()}


def test_every_page_passes_axe(portal: Portal, tmp_path: Path) -> None:
    with portal.store() as store:
        store.lock(cc.Lock(GROUP, "bob", datetime.now(UTC)), actor="test")
    body = {"group": GROUP, "user": "alice", "dialed": "912125550123", "code": "1234"}
    token = portal.server.headers(portal.tenants.tokens["operator"])
    assert portal.server.client.post("/api/v1/decide", json=body, headers=token).is_success
    portal.open("/login")
    _clean(portal, "login")
    portal.login("group1", "not the password")
    _clean(portal, "login refused")
    portal.login("group1")
    pages = ["/", "/account/password"]
    pages += [
        f"/groups/{GROUP}{page}"
        for page in (
            "",
            "/codes",
            "/codes/add",
            "/codes/edit",
            "/codes/import",
            "/directory?text=s&match=contains",
            "/locks",
            "/reports?by=day",
            "/audit",
        )
    ]
    pages.append("/groups/p2-acme/codes")  # the refusal page
    for page in pages:
        portal.open(page)
        _clean(portal, page)
    # The pages a form leads to: a delete's confirmation, an import's bad rows, a refused add.
    portal.open(f"/groups/{GROUP}/codes")
    portal.find("#pick-all").send_keys(Keys.SPACE)
    portal.submit(portal.find("#delete-form button[type='submit']"))
    _clean(portal, "delete confirmation")
    bad = tmp_path / "bad.csv"
    bad.write_text("code,description\n12x4,Letters\n")
    portal.open(f"/groups/{GROUP}/codes/import")
    portal.find("#file").send_keys(str(bad))
    portal.submit(portal.find("main form button[type='submit']"))
    _clean(portal, "import errors")
    portal.open(f"/groups/{GROUP}/codes/add")
    portal.fill("code", "1")
    portal.submit(portal.find("main form button[type='submit']"))
    _clean(portal, "add refused")
