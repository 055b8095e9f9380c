"""The portal's own rules as properties: where a login may lead, the code search's pages, the
chart's SVG, and the pages kept out of the API's OpenAPI document.
"""

from __future__ import annotations

import string
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from callcodes.events.reports import ReportRow
from callcodes.service import ServiceConfig, create_app
from callcodes.service.portal.chart import bar_chart
from callcodes.service.portal.codes import _page
from callcodes.service.portal.signin import _next
from callcodes.service.portal.web import _derive
from callcodes.store import PolicyStore

SVG = "{http://www.w3.org/2000/svg}"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(st.one_of(texts, texts.map(lambda t: "/" + t), texts.map(lambda t: "//" + t)))
def test_a_login_leads_only_to_a_page_of_the_portal(wanted: str) -> None:
    target = _next(wanted)
    assert target.startswith("/")
    assert not target.startswith("//")
    assert "\\" not in target
    assert target in ("/", wanted[:512])


@given(st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=64), texts)
def test_each_session_has_its_own_form_token(secret: str, other: str) -> None:
    first = _derive(secret)
    assert first == _derive(secret)
    assert (first == _derive(other)) == (secret == other)
    assert secret not in first


#: Report keys: user ids, codes, days, all printable (the core refuses control characters).
names = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn")), max_size=40
)
rows = st.lists(
    st.builds(
        lambda key, allow, block, log: ReportRow(
            key, allow + block + log, allow + block + log, allow, block, log, WHEN, WHEN
        ),
        st.one_of(st.none(), names),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    ),
    max_size=30,
)


@given(rows, st.sampled_from(["code", "user", "day"]))
def test_the_chart_is_svg_with_a_bar_per_row_and_its_keys_as_text(
    report: list[ReportRow], by: str
) -> None:
    root = ET.fromstring(str(bar_chart(report, by)))
    assert root.tag == f"{SVG}svg"
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    assert len(bars) == len(report)
    labels = [t.text or "" for t in root.findall(f"./{SVG}g/{SVG}text")][::2]
    assert labels == [("(no code)" if r.key is None else r.key)[:24] for r in report]
    assert all(float(bar.get("width", "-1")) >= 0 for bar in bars)


codes = st.dictionaries(
    st.text(alphabet="0123456789", min_size=4, max_size=4),
    st.sampled_from(["Sales", "sales floor", "Warehouse", "", "Réception"]),
    max_size=40,
)


@given(
    codes,
    st.text(alphabet="0123456789", max_size=2),
    st.sampled_from(["", "SALES", "é"]),
    st.integers(1, 7),
)
def test_the_code_search_pages_through_exactly_the_matching_codes(
    stored: dict[str, str], prefix: str, words: str, size: int
) -> None:
    with tempfile.TemporaryDirectory() as folder, PolicyStore(Path(folder) / "p.db") as store:
        store.set_group("acme", cc.GroupSettings(), actor="test")
        if stored:
            entries = [cc.CodeEntry(code, text or None) for code, text in stored.items()]
            store.add_codes("acme", entries, actor="test")
        seen: list[str] = []
        after = None
        while True:
            shown, after = _page(store, "acme", prefix, words, after=after, size=size)
            assert len(shown) <= size
            seen += [entry.code for entry in shown]
            if after is None:
                break
    wanted = sorted(
        code
        for code, text in stored.items()
        if code.startswith(prefix) and words.casefold() in text.casefold()
    )
    assert seen == wanted


def test_the_pages_are_not_in_the_openapi_document(tmp_path: Path) -> None:
    app = create_app(ServiceConfig(tmp_path / "unused.db"))
    paths = set(app.openapi_schema.paths or {})
    assert "/api/v1/groups/{group}/codes" in paths
    portal = {"/", "/login", "/logout", "/groups/{group}", "/groups/{group}/codes"}
    assert paths & portal == set()
