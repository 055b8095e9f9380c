"""Every step of the BroadWorks seed in a real browser, each checked in the store afterwards.

A group administrator (``group1``, group ``p1-acme``: authorization codes 1234 and 0042, a
directory of alice, bob and carol, alice mandatory) signs in, sets the Administration page with
the keyboard only, adds, bulk edits, searches, pages, deletes, imports and exports codes, looks
users up, lifts a lock, reads the reports and the audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from browser import Portal
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

import callcodes as cc

pytestmark = pytest.mark.slow

GROUP = "p1-acme"


def _options(portal: Portal, select: str) -> list[str]:
    return [o.get_attribute("value") or "" for o in portal.all(f"{select} option")]


def _key(portal: Portal, *keys: str) -> None:
    ActionChains(portal.driver).send_keys(*keys).perform()


def _focused(portal: Portal) -> str:
    return portal.driver.execute_script(
        "const e = document.activeElement; return e.id || e.textContent.trim();"
    )


def test_sign_in_lists_only_the_groups_of_the_account(portal: Portal) -> None:
    portal.login("group1")
    assert portal.path == "/"
    assert [r.get_attribute("data-group") for r in portal.all("tr[data-group]")] == [GROUP]
    portal.login("provider1")
    assert [r.get_attribute("data-group") for r in portal.all("tr[data-group]")] == [
        "p1-acme",
        "p1-beta",
    ]


def test_administration_with_the_keyboard_only(portal: Portal) -> None:
    portal.login("group1")
    portal.open(f"/groups/{GROUP}")
    assert _options(portal, "#mandatory-selected") == ["alice"]
    assert _options(portal, "#mandatory-available") == ["bob", "carol"]
    # Mandatory: highlight bob in Available with the arrow key, then Tab to "Add >" and press it.
    portal.find("#mandatory-available").send_keys(Keys.ARROW_DOWN)
    _key(portal, Keys.TAB)
    assert _focused(portal) == "Add >"
    _key(portal, Keys.SPACE)
    assert _options(portal, "#mandatory-selected") == ["alice", "bob"]
    # bob left the other table's Available list too: a user is on one list only.
    assert _options(portal, "#optional-available") == ["carol"]
    # Optional: Select All takes every available user (carol).
    portal.find("#optional-available").send_keys(Keys.NULL)
    _key(portal, Keys.TAB, Keys.TAB, Keys.TAB)
    assert _focused(portal) == "Select All"
    _key(portal, Keys.ENTER)
    assert _options(portal, "#optional-selected") == ["carol"]
    assert _options(portal, "#mandatory-available") == []
    # The settings: authorization codes stay, local and toll-free calls go without a code.
    portal.find("#allow_local_and_toll_free").send_keys(Keys.SPACE)
    portal.submit(portal.find("#admin-form button[type='submit']"))
    assert portal.find(".note").text == "Saved."
    with portal.store() as store:
        settings = store.group(GROUP)
    assert settings.mandatory_users == {"alice", "bob"}
    assert settings.optional_users == {"carol"}
    assert settings.allow_local_and_toll_free
    assert settings.mode is cc.Mode.AUTHORIZATION
    # Deselect all on Mandatory, and save: alice and bob are available again.
    deselect = portal.find("fieldset[data-name='mandatory'] button[data-move='none']")
    deselect.send_keys(Keys.ENTER)
    assert _options(portal, "#mandatory-selected") == []
    assert _options(portal, "#mandatory-available") == ["alice", "bob"]
    portal.submit(portal.find("#admin-form button[type='submit']"))
    with portal.store() as store:
        settings = store.group(GROUP)
    assert settings.mandatory_users == frozenset()
    assert settings.optional_users == {"carol"}


def test_mode_change_from_account_codes_asks_to_confirm(portal: Portal) -> None:
    with portal.store() as store:
        store.set_group(GROUP, cc.GroupSettings(mode=cc.Mode.ACCOUNT), actor="test")
    portal.login("group1")
    portal.open(f"/groups/{GROUP}")
    portal.find("#mode-authorization").click()
    portal.submit(portal.find("#admin-form button[type='submit']"))
    assert "tick the confirmation" in portal.find(".error").text
    with portal.store() as store:
        assert store.group(GROUP).mode is cc.Mode.ACCOUNT
    portal.find("#confirm").click()
    portal.submit(portal.find("#admin-form button[type='submit']"))
    with portal.store() as store:
        assert store.group(GROUP).mode is cc.Mode.AUTHORIZATION


def test_add_a_code_with_the_plus_and_a_refused_one(portal: Portal) -> None:
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes")
    portal.find("a[title='Add a code']").click()
    assert portal.path == f"/groups/{GROUP}/codes/add"
    portal.fill("code", "5555")
    portal.fill("description", "Lobby phone")
    portal.submit(portal.find("main form button[type='submit']"))
    assert "5555" in portal.codes()
    with portal.store() as store:
        assert store.get(GROUP, "5555") == cc.CodeEntry("5555", "Lobby phone")
    # A code of the wrong length (the group's codes have 4 digits) is refused, nothing added.
    portal.open(f"/groups/{GROUP}/codes/add")
    portal.fill("code", "123")
    portal.submit(portal.find("main form button[type='submit']"))
    assert "123" in portal.find(".error").text
    assert portal.find("[name='code']").get_attribute("value") == "123"
    with portal.store() as store:
        assert store.count(GROUP) == 3
        assert store.get(GROUP, "123") is None


def test_bulk_edit_changes_only_the_descriptions_edited(portal: Portal) -> None:
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes")
    portal.find("a[href^='/groups/p1-acme/codes/edit']").click()
    portal.fill("description-0042", "Front desk")
    portal.fill("description-1234", "")
    portal.submit(portal.find("main form button[type='submit']"))
    assert "2 description(s) changed." in portal.find(".note").text
    with portal.store() as store:
        assert store.get(GROUP, "0042") == cc.CodeEntry("0042", "Front desk")
        assert store.get(GROUP, "1234") == cc.CodeEntry("1234")
        assert [r.actor for r in store.audit(GROUP)][-1] == "group1"


def test_bulk_delete_asks_first_and_deletes_exactly_the_ticked_codes(portal: Portal) -> None:
    with portal.store() as store:
        store.add_codes(GROUP, ["1111", "2222", "3333"], actor="test")
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes")
    for code in ("1111", "3333"):
        portal.find(f"tr[data-code='{code}'] input[type='checkbox']").send_keys(Keys.SPACE)
    portal.submit(portal.find("#delete-form button[type='submit']"))
    # The confirmation names exactly the ticked codes, and nothing is deleted yet.
    assert portal.heading() == "Delete 2 code(s)?"
    assert [li.text for li in portal.all("ul.doomed li")] == ["1111", "3333"]
    with portal.store() as store:
        assert store.count(GROUP) == 5
    portal.submit(portal.find("#confirm-delete"))
    assert "2 code(s) deleted." in portal.find(".note").text
    with portal.store() as store:
        assert [e.code for e in store.iter_codes(GROUP)] == ["0042", "1234", "2222"]


def test_select_every_code_on_the_page_then_cancel(portal: Portal) -> None:
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes")
    portal.find("#pick-all").send_keys(Keys.SPACE)
    assert all(box.is_selected() for box in portal.all("input.pick"))
    portal.submit(portal.find("#delete-form button[type='submit']"))
    assert [li.text for li in portal.all("ul.doomed li")] == ["0042", "1234"]
    portal.find("a[href='/groups/p1-acme/codes']").click()
    with portal.store() as store:
        assert store.count(GROUP) == 2


def test_search_by_prefix_and_description_and_page(portal: Portal) -> None:
    with portal.store() as store:
        store.add_codes(
            GROUP,
            [cc.CodeEntry(f"5{n:03d}", "Sales floor" if n % 2 else "Warehouse") for n in range(45)],
            actor="test",
        )
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes?limit=20")
    first = portal.codes()
    assert first == ["0042", "1234", *[f"5{n:03d}" for n in range(18)]]
    portal.find("a[rel='next']").click()
    assert portal.codes() == [f"5{n:03d}" for n in range(18, 38)]
    portal.open(f"/groups/{GROUP}/codes")
    portal.fill("prefix", "501")
    portal.fill("q", "SALES")
    portal.submit(portal.find("form[role='search'] button"))
    assert portal.codes() == ["5011", "5013", "5015", "5017", "5019"]


def test_csv_import_lists_every_bad_row_and_changes_nothing(portal: Portal, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("code,description\n7001,Good\n12x4,Letters\n7001,Twice\n99,Short\n")
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes/import")
    portal.find("#file").send_keys(str(bad))
    portal.submit(portal.find("main form button[type='submit']"))
    rows = [
        [td.text for td in tr.find_elements("css selector", "td")]
        for tr in portal.all(".error tbody tr")
    ]
    assert [row[0] for row in rows] == ["3", "4", "5"]
    assert all(row[2] for row in rows)  # each with its reason
    with portal.store() as store:
        assert store.count(GROUP) == 2
    good = tmp_path / "good.csv"
    good.write_text("code,description\n7001,Good\n7002,Also good\n")
    portal.find("#file").send_keys(str(good))
    portal.submit(portal.find("main form button[type='submit']"))
    assert "2 code(s) imported." in portal.find(".note").text
    with portal.store() as store:
        assert store.get(GROUP, "7002") == cc.CodeEntry("7002", "Also good")


def test_replacing_most_codes_by_import_needs_the_confirmation(portal: Portal, tmp_path) -> None:
    new = tmp_path / "new.csv"
    new.write_text("code,description\n8001,Only\n")
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes/import")
    portal.find("#file").send_keys(str(new))
    portal.find("#replace").click()
    portal.submit(portal.find("main form button[type='submit']"))
    assert "tick the confirmation" in portal.find(".error").text
    with portal.store() as store:
        assert [e.code for e in store.iter_codes(GROUP)] == ["0042", "1234"]
    portal.find("#file").send_keys(str(new))
    assert portal.find("#replace").is_selected()  # kept from the refused attempt
    portal.find("#confirm").click()
    portal.submit(portal.find("main form button[type='submit']"))
    with portal.store() as store:
        assert [e.code for e in store.iter_codes(GROUP)] == ["8001"]


def test_export_gives_the_codes_as_csv(portal: Portal) -> None:
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes")
    href = portal.find("a[href^='/groups/p1-acme/codes/export']").get_attribute("href") or ""
    got = portal.fetch(href)
    assert got["status"] == 200
    assert got["type"].startswith("text/csv")
    lines = got["text"].lstrip("\ufeff").splitlines()
    assert lines[1:] == ["0042,", "1234,Sales"]


@pytest.mark.parametrize(
    ("match", "text", "users"),
    [("starts", "b", ["bob"]), ("contains", "AR", ["carol"]), ("equal", "alic", [])],
)
def test_directory_search(portal: Portal, match: str, text: str, users: list[str]) -> None:
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/directory")
    portal.find(f"#match option[value='{match}']").click()
    portal.find("#field option[value='first_name']").click()
    portal.fill("text", text)
    portal.submit(portal.find("form[role='search'] button"))
    assert [r.get_attribute("data-user") for r in portal.all("tr[data-user]")] == users


def test_unlock_lifts_the_lock_in_the_store(portal: Portal) -> None:
    with portal.store() as store:
        store.lock(cc.Lock(GROUP, "bob", datetime.now(UTC)), actor="test")
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/locks")
    assert [r.get_attribute("data-lock") for r in portal.all("tr[data-lock]")] == ["bob"]
    portal.submit(portal.find("tr[data-lock='bob'] button"))
    assert portal.find(".note").text == "The lock was lifted."
    assert portal.all("tr[data-lock]") == []
    with portal.store() as store:
        assert store.locks(GROUP) == []
        assert store.audit(GROUP)[-1].actor == "group1"


def _decide(portal: Portal, user: str, code: str | None) -> None:
    body = {"group": GROUP, "user": user, "dialed": "912125550123"}
    if code is not None:
        body["code"] = code
    answer = portal.server.client.post(
        "/api/v1/decide",
        json=body,
        headers=portal.server.headers(portal.tenants.tokens["operator"]),
    )
    assert answer.status_code == 200, answer.text


def test_reports_as_table_chart_and_csv(portal: Portal) -> None:
    for user, code in (("alice", "1234"), ("alice", "9999"), ("alice", None)):
        _decide(portal, user, code)
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/reports")
    portal.find("#by option[value='user']").click()
    portal.submit(portal.find("form[aria-label='Report'] button"))
    cells = [
        td.text for td in portal.find("tr[data-key='alice']").find_elements("css selector", "td")
    ]
    assert cells[:2] == ["alice", "3"]
    assert len(portal.all("svg.chart rect.bar")) == 1
    assert portal.find("svg.chart title").get_attribute("textContent") == "Events per user"
    got = portal.fetch(portal.find("a[href*='/reports/csv']").get_attribute("href") or "")
    assert got["status"] == 200
    assert got["text"].splitlines()[1].startswith("alice,3,")


def test_audit_trail_shows_who_changed_what(portal: Portal) -> None:
    portal.login("group1")
    portal.open(f"/groups/{GROUP}/codes/add")
    portal.fill("code", "6006")
    portal.submit(portal.find("main form button[type='submit']"))
    portal.open(f"/groups/{GROUP}/audit")
    last = portal.all("tr[data-audit]")[-1]
    cells = portal.cells(last)
    assert cells[2:4] == ["group1", "codes.add"]
    with portal.store() as store:
        assert str(store.audit(GROUP)[-1].id) == cells[0]
