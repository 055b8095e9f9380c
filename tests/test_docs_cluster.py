"""docs/cluster.md: its commands run, against a real PostgreSQL, and print what the page shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from doc_examples import run_console

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cluster.md"


def test_the_page_commands_run_on_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    outputs = run_console(PAGE, {"CALLCODES_DB": pg_url, "CALLCODES_ACTOR": "ann"})
    assert len(outputs) == 4
