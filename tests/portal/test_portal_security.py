"""What a portal on the internet needs: tenancy, CSRF, escaping, CSP, cookies, sessions, throttling.

The browser signs in; some checks then send requests with its session cookie from httpx, to post
what a browser's page would never post (a form without its token, another tenant's group).
Whether anything changed is read from the store's bytes (``store_bytes``).
"""

from __future__ import annotations

import re
import sqlite3
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trustme
from browser import DEADLINE, Portal
from real_server import PASSWORD, Server, seed_tenants, store_bytes
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.keys import Keys

import callcodes as cc
from callcodes.service.portal.web import CSP, LOGIN_COOKIE, SESSION_COOKIE
from callcodes.store.accounts import LoginPolicy

pytestmark = pytest.mark.slow

OWN, OTHER = "p1-acme", "p2-acme"
PAGES = (
    "",
    "/codes",
    "/codes/add",
    "/codes/edit",
    "/codes/import",
    "/codes/export",
    "/directory",
    "/locks",
    "/reports",
    "/reports/csv",
    "/audit",
)
#: Every form of a group's pages, with fields that would change something if accepted.
POSTS = {
    "": {"mode": "deactivated", "code_length": "4", "lists": "yes"},
    "/codes/add": {"code": "7777"},
    "/codes/edit": {"code": "1234", "description-1234": "Changed"},
    "/codes/delete": {"code": "1234", "confirm": "yes"},
    "/locks": {"user": ""},
}


def _client(portal: Portal) -> httpx.Client:
    """httpx with the browser's session cookie (HttpOnly: the driver reads it, pages cannot)."""
    found = portal.driver.get_cookie(SESSION_COOKIE)
    assert found is not None
    return httpx.Client(
        base_url=portal.server.url, cookies={SESSION_COOKIE: found["value"]}, timeout=DEADLINE
    )


def _csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match is not None
    return match.group(1)


def _poll(check: Callable[[], bool], what: str) -> None:
    """Poll *check()* until true, within the deadline (a server may cache a token briefly)."""
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, what


def test_another_tenants_group_gives_the_same_nothing_as_a_missing_one(portal: Portal) -> None:
    portal.login("group1")
    with _client(portal) as client:
        for page in PAGES:
            other = client.get(f"/groups/{OTHER}{page}")
            missing = client.get(f"/groups/nowhere{page}")
            assert other.status_code == 404, page
            assert other.text == missing.text, page
            assert "data-code" not in other.text
        token = _csrf(client, f"/groups/{OWN}/codes")
        before = store_bytes(portal.db)
        for page, fields in POSTS.items():
            answer = client.post(f"/groups/{OTHER}{page}", data={"csrf": token, **fields})
            assert answer.status_code == 404, page
        assert store_bytes(portal.db) == before
    # In the browser: the page says so, and shows none of the other group's codes.
    portal.open(f"/groups/{OTHER}/codes")
    assert "no such group, or not one this account may manage" in portal.find(".error").text
    assert portal.codes() == []


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(portal: Portal) -> None:
    portal.login("group1")
    portal.open(f"/groups/{OWN}/codes")
    portal.find("tr[data-code='1234'] input[type='checkbox']").send_keys(Keys.SPACE)
    portal.driver.execute_script("document.querySelector('#delete-form [name=csrf]').remove()")
    before = store_bytes(portal.db)
    portal.submit(portal.find("#delete-form button[type='submit']"))
    assert "did not come from this portal" in portal.find(".error").text
    with _client(portal) as client:
        for page, fields in {**POSTS, "/codes/import": {}}.items():
            for token in ({}, {"csrf": "0" * 64}):
                answer = client.post(f"/groups/{OWN}{page}", data={**fields, **token})
                assert answer.status_code == 403, page
        assert client.post("/account/password", data={"current": PASSWORD}).status_code == 403
        assert client.post("/logout").status_code == 403
    assert store_bytes(portal.db) == before
    with portal.store() as store:
        assert store.get(OWN, "1234") is not None


def test_the_login_form_needs_its_own_token(portal: Portal) -> None:
    with httpx.Client(base_url=portal.server.url) as client:
        answer = client.post("/login", data={"username": "group1", "password": PASSWORD})
        assert answer.status_code == 403
        assert SESSION_COOKIE not in answer.cookies
        token = client.get("/login").cookies[LOGIN_COOKIE]
        answer = client.post(
            "/login", data={"username": "group1", "password": PASSWORD, "csrf": token}
        )
        assert answer.status_code == 303
        assert answer.cookies[SESSION_COOKIE]


def test_a_script_in_a_description_shows_as_text(portal: Portal) -> None:
    evil = "<script>alert(1)</script>"
    portal.login("group1")
    portal.open(f"/groups/{OWN}/codes/add")
    portal.fill("code", "6666")
    portal.fill("description", evil)
    portal.submit(portal.find("main form button[type='submit']"))
    with portal.store() as store:
        assert store.get(OWN, "6666") == cc.CodeEntry("6666", evil)
    for page in ("/codes", "/codes/edit", "/audit"):
        portal.open(f"/groups/{OWN}{page}")
        with pytest.raises(NoAlertPresentException):
            portal.driver.switch_to.alert.text  # noqa: B018 - raises when no alert is open
        assert (
            portal.driver.execute_script("return document.querySelectorAll('main script').length")
            == 0
        )
    portal.open(f"/groups/{OWN}/codes")
    assert portal.cells("tr[data-code='6666']")[2] == evil
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in portal.driver.page_source


def test_every_page_sends_the_csp_and_has_no_inline_script_or_style(portal: Portal) -> None:
    portal.login("group1")
    with _client(portal) as client:
        for page in ["/", "/login", "/account/password", *(f"/groups/{OWN}{p}" for p in PAGES)]:
            answer = client.get(page)
            assert answer.status_code == 200, page
            assert answer.headers["content-security-policy"] == CSP
            assert answer.headers["x-content-type-options"] == "nosniff"
            if answer.headers["content-type"].startswith("text/html"):
                assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), page
                assert not re.search(r"\s(style|on[a-z]+)=", answer.text), page


def test_session_cookie_flags(portal: Portal) -> None:
    portal.login("group1")
    found = portal.driver.get_cookie(SESSION_COOKIE)
    assert found is not None
    assert found["httpOnly"] is True
    assert found["sameSite"] == "Strict"
    assert found["secure"] is False  # plain HTTP here: see the TLS test
    assert portal.driver.execute_script("return document.cookie") == ""


def test_session_cookie_is_secure_under_tls(tmp_path: Path) -> None:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    db = tmp_path / "policy.db"
    seed_tenants(db)
    context = ssl.create_default_context()
    authority.configure_trust(context)
    with (
        Server(db, "--certfile", str(certfile), "--keyfile", str(keyfile)) as server,
        httpx.Client(base_url=server.url, verify=context) as client,
    ):
        form = client.get("/login")
        token = form.cookies[LOGIN_COOKIE]
        assert "secure" in form.headers["set-cookie"].lower()
        answer = client.post(
            "/login", data={"username": "group1", "password": PASSWORD, "csrf": token}
        )
        assert answer.status_code == 303
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict"} <= flags


def test_logout_ends_the_session_for_the_portal_and_the_api(portal: Portal) -> None:
    portal.login("group1")
    secret = (portal.driver.get_cookie(SESSION_COOKIE) or {})["value"]
    api = portal.server.client
    assert api.get("/api/v1/account", headers=portal.server.headers(secret)).status_code == 200
    portal.submit(portal.find("header form[action='/logout'] button"))
    assert portal.path.startswith("/login")
    assert portal.find(".note").text == "You are signed out."
    with httpx.Client(base_url=portal.server.url, cookies={SESSION_COOKIE: secret}) as client:
        assert client.get(f"/groups/{OWN}/codes").headers["location"].startswith("/login")
    assert api.get("/api/v1/account", headers=portal.server.headers(secret)).status_code == 401


def test_password_change_ends_the_session(portal: Portal) -> None:
    portal.login("group1")
    secret = (portal.driver.get_cookie(SESSION_COOKIE) or {})["value"]
    portal.open("/account/password")
    new = "a much longer new password"
    portal.fill("current", PASSWORD)
    portal.fill("new", new)
    portal.fill("again", new)
    portal.submit(portal.find("main form button[type='submit']"))
    assert portal.path.startswith("/login")
    with httpx.Client(base_url=portal.server.url, cookies={SESSION_COOKIE: secret}) as client:
        assert client.get("/").headers["location"].startswith("/login")
    portal.login("group1", PASSWORD)
    assert portal.path.startswith("/login")  # the old password no longer opens a session
    portal.login("group1", new)
    assert portal.path == "/"


def test_an_expired_session_leads_to_the_login_page(portal: Portal) -> None:
    portal.login("group1")
    with sqlite3.connect(portal.db) as db:  # the session's end moved to the past
        db.execute(
            "UPDATE accounts_tokens SET expires = '2001-01-01T00:00:00.000000+00:00' "
            "WHERE kind = 'session'"
        )

    def refused() -> bool:
        portal.open(f"/groups/{OWN}/codes")
        return portal.path.startswith("/login")

    _poll(refused, "the expired session still opened the page")
    assert portal.path == f"/login?next=%2Fgroups%2F{OWN}%2Fcodes"


def test_login_throttling_is_shared_with_the_api(portal: Portal) -> None:
    api = portal.server.client
    for _ in range(LoginPolicy().max_failures):
        bad = api.post("/api/v1/login", json={"username": "group1", "password": "wrong" * 3})
        assert bad.status_code == 401
    portal.login("group1")  # the right password, but the name is locked for a while
    assert portal.path.startswith("/login")
    assert portal.find(".error").text
    assert portal.driver.get_cookie(SESSION_COOKIE) is None
    # And the other way: failures in the portal count for the API too.
    for _ in range(LoginPolicy().max_failures):
        portal.login("provider1", "wrong password!")
    locked = api.post("/api/v1/login", json={"username": "provider1", "password": PASSWORD})
    assert locked.status_code == 401


def test_login_goes_back_only_to_a_page_of_the_portal(portal: Portal) -> None:
    portal.open("/login?next=//elsewhere.example/x")
    portal.fill("username", "group1")
    portal.fill("password", PASSWORD)
    portal.submit(portal.find("form[action='/login'] button[type='submit']"))
    assert portal.path == "/"
    portal.driver.delete_all_cookies()
    portal.open(f"/groups/{OWN}/locks")
    assert portal.path.startswith("/login")
    portal.fill("username", "group1")
    portal.fill("password", PASSWORD)
    portal.submit(portal.find("form[action='/login'] button[type='submit']"))
    assert portal.path == f"/groups/{OWN}/locks"
