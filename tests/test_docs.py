"""The documentation is true: its examples run and print what it shows, and its tables hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import callcodes as cc
from doc_examples import matches, run_console, run_python, steps

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# Pages whose command lines are shell steps on a real machine, checked by their own tests.
SHELL_PAGES = {"kamailio.md", "service.md"}


def text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


class TestExamples:
    """Every page's examples run as written and print what the page shows."""

    @pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
    def test_examples_run_and_print_what_the_page_shows(
        self, page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each python block of the page runs in order, then each callcodes line, on a new store."""
        monkeypatch.chdir(tmp_path)
        page_text = page.read_text(encoding="utf-8")
        assert run_python(page) == len(re.findall(r"^```python$", page_text, re.MULTILINE))
        if page.name not in SHELL_PAGES:
            outputs = run_console(page, {"CALLCODES_DB": None, "CALLCODES_ACTOR": "ann"})
            assert len(outputs) == len(re.findall(r"^\$ callcodes ", page_text, re.MULTILINE))


class TestReadme:
    """The README keeps its promises to a newcomer."""

    def test_exactly_two_set_up_commands(self) -> None:
        """One command installs and runs the demo, one installs the test tools and tests."""
        commands = re.findall(r"^\$ (.+)$", (ROOT / "README.md").read_text(), re.MULTILINE)
        setup = [c for c in commands if c.startswith("python3 -m venv")]
        assert len(setup) == 2
        assert setup[0].endswith("callcodes demo")
        assert setup[1].endswith("python -m pytest")

    def test_links_point_at_existing_pages(self) -> None:
        """Every relative link of the README names a file of the repository."""
        links = re.findall(r"\]\(([^)#:]+)\)", (ROOT / "README.md").read_text())
        assert links
        assert [link for link in links if not (ROOT / link).exists()] == []


class TestReference:
    """docs/reference.md documents the whole public API."""

    def test_names_every_public_name(self) -> None:
        """Every name that callcodes exports appears in the reference."""
        page = text("reference.md")
        assert [name for name in cc.__all__ if f"`{name}" not in page] == []


class TestDesign:
    """docs/design.md's rule table is the code's."""

    def test_rule_table_matches_the_rules(self) -> None:
        """The page's rows have RULES' numbers, verdicts and reasons, in order."""
        rows = re.findall(
            r"^\| (\d+) \| .*? \| (ALLOW|BLOCK|LOG_ONLY) \| (.*?) \|$", text("design.md"), re.M
        )
        documented = [(int(n), verdict, reasons.split(", ")) for n, verdict, reasons in rows]
        expected = [
            (rule.number, rule.verdict.name, [reason.value for reason in rule.reasons])
            for rule in cc.RULES
        ]
        assert documented == expected


class TestAdminHowTo:
    """docs/admin.md covers the group portal's workflows."""

    def test_covers_the_portal_workflows(self) -> None:
        """The how-to shows each workflow of the group portal, and the audit and locks."""
        commands = [what for kind, what, _ in steps(text("admin.md")) if kind == "command"]
        for workflow in (
            "group show",
            "group set",
            "users add acme --mandatory",
            "users add acme --optional",
            "users remove",
            "codes add",
            "codes list",
            "codes edit",
            "codes delete",
            "codes import",
            "codes export",
            "audit",
            "locks unlock",
        ):
            assert any(c.startswith(f"callcodes {workflow}") for c in commands), workflow

    def test_ellipsis(self) -> None:
        """'...' in a page matches any text, and nothing else is loose."""
        assert matches("id ... ann", "id 2026-01-01 ann")
        assert not matches("id ... ann", "id 2026-01-01 bob")
        assert not matches("a.b", "axb")


class TestDialPlanPage:
    """docs/dialplan.md names only real call types."""

    def test_rule_table_names_real_call_types(self) -> None:
        """The page's classification table only names call types that exist."""
        rows = re.findall(r"^\| \d+ \| .*? \| (.*?) \|$", text("dialplan.md"), re.M)
        named = {name for row in rows for name in re.findall(r"`([A-Z_]+)`", row)}
        assert named
        assert named <= {t.name for t in cc.CallType}


class TestEventsPage:
    """docs/events.md states the durability promise in one table."""

    def test_durability_is_one_table(self) -> None:
        """The promise of each flush policy is stated in one table, with every policy in it."""
        tables = [t for t in re.split(r"\n\n", text("events.md")) if t.startswith("| policy |")]
        assert len(tables) == 1
        for policy in ("FlushPolicy.every_event()", "FlushPolicy.group(", "MemorySink"):
            assert policy in tables[0]
