"""Policy files: JSON, TOML and CSV round trips, and every kind of bad file refused whole."""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from callcodes import policyfile as pf
from callcodes.store import PolicyStore
from policy_helpers import T0, Clock, book_state, dump, temp_store
from strategies import (
    NON_ASCII_DIGITS,
    code_lengths,
    entries,
    group_documents,
    spreadsheet_descriptions,
)

SETTINGS = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"}))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PolicyStore]:
    with PolicyStore(tmp_path / "policy.db", clock=Clock()) as opened:
        opened.set_group("acme", SETTINGS, actor="ann")
        opened.add_codes("acme", [cc.CodeEntry("0042", "Support")], actor="ann")
        yield opened


def _csv(entries: list[cc.CodeEntry]) -> bytes:
    out = io.StringIO(newline="")
    pf.write_codes_csv(entries, out)
    return out.getvalue().encode("utf-8-sig")


def _read_twice(header: list[str], code: str, description: str) -> list[object]:
    """What a code list with the header and the row written twice gives: entries or reasons.

    The second time, the fast path remembers the description's check.
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    cells = {"code": code, "description": description}
    writer.writerows([[cells[name] for name in header]] * 2)
    rows = pf.parse_codes_csv(out.getvalue().encode())
    found: dict[int, object] = dict(zip(rows.lines, rows.entries, strict=True))
    found.update((error.row, error.reason) for error in rows.errors)
    return [found[line] for line in sorted(found)]


class TestRoundTrip:
    """Export then import gives back exactly what was exported, in every format."""

    @given(document=group_documents(), fmt=st.sampled_from(["json", "toml"]))
    def test_group_documents(
        self, document: tuple[str, cc.GroupSettings, list[cc.CodeEntry]], fmt: str
    ) -> None:
        """A whole group written as JSON or TOML reads back equal."""
        original = pf.GroupDocument(*document)
        text = pf.dumps_group(original, fmt)  # type: ignore[arg-type]
        assert pf.loads_group(text.encode(), fmt) == original  # type: ignore[arg-type]

    @given(length=code_lengths, data=st.data())
    def test_csv_code_lists(self, length: int, data: st.DataObject) -> None:
        """A CSV code list, with every field and formula-like descriptions, reads back equal."""
        drawn = data.draw(
            st.lists(entries(length, limits=True), max_size=20, unique_by=lambda e: e.code)
        )
        codes = [attrs.evolve(e, description=data.draw(spreadsheet_descriptions)) for e in drawn]
        rows = pf.parse_codes_csv(_csv(codes))
        assert rows.errors == ()
        assert list(rows.entries) == codes
        assert list(rows.lines) == list(range(2, len(codes) + 2))

    @given(document=group_documents(), fmt=st.sampled_from(["json", "toml", "csv"]))
    def test_through_stores(
        self, document: tuple[str, cc.GroupSettings, list[cc.CodeEntry]], fmt: str
    ) -> None:
        """A group exported from one store and imported into another is the same group."""
        group, settings, codes = document
        with temp_store() as first, temp_store() as second:
            pf.import_group(first, pf.GroupDocument(group, settings, codes), actor="t")
            if fmt == "csv":
                out = io.StringIO(newline="")
                pf.export_codes_csv(first, group, out)
                second.set_group(group, settings, actor="t")
                pf.import_codes_csv(second, group, out.getvalue().encode(), actor="t")
            else:
                text = pf.dumps_group(pf.export_group(first, group), fmt)  # type: ignore[arg-type]
                loaded = pf.loads_group(text.encode(), fmt)  # type: ignore[arg-type]
                pf.import_group(second, loaded, actor="t")
            assert book_state(second.load()) == book_state(first.load())
            assert pf.export_group(second, group) == pf.export_group(first, group)

    def test_leading_zeros_stay(self) -> None:
        """Codes stay strings in every format: 0042 is never 42."""
        document = pf.GroupDocument("acme", SETTINGS, [cc.CodeEntry("0042"), cc.CodeEntry("0007")])
        assert json.loads(pf.dumps_group(document, "json"))["codes"][0] == {"code": "0042"}
        assert tomllib.loads(pf.dumps_group(document, "toml"))["codes"][1] == {"code": "0007"}
        assert _csv(list(document.codes)).decode("utf-8-sig").splitlines()[1] == "0042,"

    def test_formula_descriptions_are_defused(self) -> None:
        """A description a spreadsheet would run is written behind a quote, and read back bare."""
        text = _csv([cc.CodeEntry("1234", "=HYPERLINK(x)"), cc.CodeEntry("1235", "'=x")])
        assert text.decode("utf-8-sig").splitlines()[1:] == ["1234,'=HYPERLINK(x)", "1235,''=x"]
        assert [e.description for e in pf.parse_codes_csv(text).entries] == ["=HYPERLINK(x)", "'=x"]

    def test_lock_for_zero_means_until_unlocked(self) -> None:
        """lock_for_seconds 0 stands for a lock that holds until an administrator lifts it."""
        settings = pf.settings_from_dict({"lockout": {"lock_for_seconds": 0}})
        assert settings.lockout.lock_for is None
        assert pf.settings_to_dict(settings)["lockout"]["lock_for_seconds"] == 0


class TestCsvReading:
    """What a CSV code list may look like: BOM, CRLF, blank lines, any column order."""

    def test_bom_crlf_and_blank_lines(self) -> None:
        """A byte order mark, CRLF line ends and blank lines are read, lines counted right."""
        data = b"\xef\xbb\xbfcode,description\r\n1234,Sales\r\n\r\n1x,bad\r\n5678,\r\n\r\n"
        rows = pf.parse_codes_csv(data)
        assert [e.code for e in rows.entries] == ["1234", "5678"]
        assert rows.lines == (2, 5)
        assert [(r.row, r.code) for r in rows.errors] == [(4, "1x")]
        assert rows.entries == (cc.CodeEntry("1234", "Sales"), cc.CodeEntry("5678"))

    def test_columns_in_any_order(self) -> None:
        """Columns are found by the header, in any order and letter case."""
        data = b"Max_Uses, level ,code,valid_until\n3,7,000123,2027-01-01T00:00:00Z\n,,000124,\n"
        rows = pf.parse_codes_csv(data)
        assert rows.entries == (
            cc.CodeEntry("000123", level=7, max_uses=3, valid_until=T0.replace(2027, 1, 1, 0)),
            cc.CodeEntry("000124"),
        )

    @given(
        code=st.text(alphabet="0123456789 x" + NON_ASCII_DIGITS[:3], max_size=16),
        description=spreadsheet_descriptions.map(lambda d: d or "") | st.text(max_size=90),
    )
    def test_plain_rows_are_read_as_the_model_reads_them(self, code: str, description: str) -> None:
        """The fast reading of code,description rows gives the model's entry or its refusal.

        Only the header ``code,description`` takes the fast path; the same cells under the
        header ``description,code`` go through ``CodeEntry`` itself.
        """
        fast = _read_twice(["code", "description"], code, description)
        assert fast == _read_twice(["description", "code"], code, description)
        if not description.startswith("'"):  # no spreadsheet quote to take off
            try:
                expected: object = cc.CodeEntry(code, description)
            except cc.InvalidValueError as exc:
                expected = f"{exc.field}: {exc.problem}"
            assert fast == [expected, expected]

    def test_quoted_newline_keeps_line_numbers(self) -> None:
        """A quoted cell spanning lines is one (bad) row; later rows keep their real lines."""
        data = b'code,description\n1234,"two\nlines"\n123,x\n'
        rows = pf.parse_codes_csv(data)
        assert [(r.row, r.code) for r in rows.errors] == [(2, "1234")]
        assert "control character" in rows.errors[0].reason
        assert rows.lines == (4,)


BAD_ROWS = [
    ("123,wrong length", "has 3 digits; the group uses 4"),
    ("١٢٣٤,arabic digits", "ASCII digits 0-9 only"),
    ("12 4,a space", "ASCII digits 0-9 only"),
    ("5555,first", None),
    ("5555,again", "appears twice in this batch"),
    ("0042,stored", "already on the group's list"),
    ("6666," + "x" * 81, "at most 80 characters"),
    ("7777,bell\x07", "control character"),
    ("8888,ok,extra", "more cells"),
]


class TestBadFiles:
    """Every bad row is reported with its line and reason; nothing is imported."""

    def test_every_bad_row_at_once(self, store: PolicyStore) -> None:
        """One run reports each bad row of the file, by line number, and changes nothing."""
        text = "code,description\n" + "\n".join(row for row, _ in BAD_ROWS) + "\n"
        before = dump(store.path)
        with pytest.raises(cc.BatchError) as caught:
            pf.import_codes_csv(store, "acme", text.encode(), actor="t", source="codes.csv")
        expected = [(line, why) for line, (_, why) in enumerate(BAD_ROWS, start=2) if why]
        got = [(row.row, row.reason) for row in caught.value.rows]
        assert [line for line, _ in got] == [line for line, _ in expected]
        for (_, reason), (_, why) in zip(got, expected, strict=True):
            assert why in reason
        assert "codes.csv" in str(caught.value)
        assert dump(store.path) == before

    def test_bad_cells(self) -> None:
        """Level, times and use limits that cannot be read are bad rows, named by column."""
        data = (
            b"code,level,valid_from,max_uses\n"
            b"1234,x,,\n"
            b"1235,300,,\n"
            b"1236,,2026-01-01T00:00:00,\n"
            b"1237,,soon,\n"
            b"1238,,,0\n"
            b"1239,,,-1\n"
        )
        rows = pf.parse_codes_csv(data)
        assert [r.row for r in rows.errors] == [2, 3, 4, 5, 6, 7]
        reasons = [r.reason.split(":")[0] for r in rows.errors]
        assert reasons == ["level", "level", "valid_from", "valid_from", "max_uses", "max_uses"]

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"code,description\n1234,caf\xe9\n", "not UTF-8 text (byte 0xe9 on line 2)"),
            (b"", "is empty"),
            (b"\n\n", "is empty"),
            (b"description\nSales\n", "header"),
            (b"code,price\n1234,3\n", "header"),
            (b"code,code\n1234,1234\n", "header"),
            (b"code;description\n1234;x\n", "commas, not semicolons"),
            (b'code,description\n1234,"open\n', "not valid CSV"),
        ],
    )
    def test_file_level_problems(self, store: PolicyStore, data: bytes, message: str) -> None:
        """A file that cannot be read as a code list is refused with what to fix."""
        before = dump(store.path)
        with pytest.raises(cc.InvalidValueError, match=re.escape(message)):
            pf.import_codes_csv(store, "acme", data, actor="t")
        assert dump(store.path) == before

    def test_replace_checks_the_file_alone(self, store: PolicyStore) -> None:
        """With replace, a code that is already stored is fine; duplicates in the file are not."""
        pf.import_codes_csv(store, "acme", b"code\n0042\n1111\n", actor="t", replace=True)
        assert [e.code for e in store.codes("acme")] == ["0042", "1111"]
        with pytest.raises(cc.BatchError, match="line"):
            pf.import_codes_csv(store, "acme", b"code\n2222\n2222\n", actor="t", replace=True)
        assert [e.code for e in store.codes("acme")] == ["0042", "1111"]


class TestBadDocuments:
    """JSON and TOML group documents: bad settings named by key, bad codes by position."""

    def test_codes_by_position(self) -> None:
        """Every bad code of a document is reported by its place in the codes list, from 1."""
        text = json.dumps(
            {
                "group": "acme",
                "codes": [{"code": "1234"}, {"code": 1235}, {"code": "1234"}, {"code": "12"}],
            }
        )
        with pytest.raises(cc.BatchError) as caught:
            pf.loads_group(text.encode(), "json")
        assert [(r.row, r.code) for r in caught.value.rows] == [
            (2, "1235"),
            (3, "1234"),
            (4, "12"),
        ]
        assert "string" in caught.value.rows[0].reason

    @pytest.mark.parametrize(
        ("document", "field"),
        [
            ({"group": "acme", "settings": {"code_length": 1}}, "settings.code_length"),
            ({"group": "acme", "settings": {"mode": "both"}}, "settings.mode"),
            ({"group": "acme", "settings": {"digits": 4}}, "settings"),
            (
                {"group": "acme", "settings": {"lockout": {"lock_for_seconds": "x"}}},
                "settings.lockout",
            ),
            ({"group": "acme", "users": {"mandatory": ["a"], "optional": ["a"]}}, "users.optional"),
            ({"group": "acme", "users": {"mandatory": "alice"}}, "users.mandatory"),
            ({"group": "acme", "version": 2}, "version"),
            ({"group": "acme", "format": "other"}, "format"),
            ({"group": "acme", "extra": 1}, "document"),
            ({"settings": {}}, "group"),
        ],
    )
    def test_bad_settings(self, document: dict[str, object], field: str) -> None:
        """A bad setting or document key is refused naming it."""
        with pytest.raises(cc.InvalidValueError) as caught:
            pf.GroupDocument.from_dict(document)
        assert caught.value.field.startswith(field)

    @pytest.mark.parametrize(
        ("text", "fmt", "message"),
        [
            (b'{"group": "acme",,}', "json", "not valid JSON (line 1"),
            (b"group = acme", "toml", "not valid TOML"),
            (b"group = 'acme'\n[[codes]]\ncode = 0042\n", "toml", "not valid TOML"),
            (b'{"group": "caf\xe9"}', "json", "not UTF-8"),
        ],
    )
    def test_unreadable(self, text: bytes, fmt: str, message: str) -> None:
        """Text that is not UTF-8, JSON or TOML is refused saying where."""
        with pytest.raises(cc.InvalidValueError, match=re.escape(message)):
            pf.loads_group(text, fmt)  # type: ignore[arg-type]

    def test_times_need_an_offset(self) -> None:
        """A code's validity time without a UTC offset is refused (TOML local times too)."""
        text = b"group = 'acme'\n[[codes]]\ncode = '1234'\nvalid_from = 2026-01-01T00:00:00\n"
        with pytest.raises(cc.BatchError, match="UTC offset"):
            pf.loads_group(text, "toml")
        good = text.replace(b"00:00:00\n", b"00:00:00Z\n")
        assert pf.loads_group(good, "toml").codes[0].valid_from == T0.replace(
            month=1, day=1, hour=0
        )

    def test_file_formats(self) -> None:
        """The format comes from the file name, or is asked for."""
        assert pf.file_format("g.TOML") == "toml"
        assert pf.file_format("list.csv") == "csv"
        assert pf.file_format("g.txt", "json") == "json"
        with pytest.raises(cc.InvalidValueError):
            pf.file_format("g.txt")

    def test_durations_keep_microseconds(self) -> None:
        """Lockout durations are written in seconds and read back to the microsecond."""
        lockout = cc.Lockout(user_window=timedelta(seconds=90, microseconds=7))
        settings = attrs.evolve(SETTINGS, lockout=lockout)
        assert pf.settings_from_dict(pf.settings_to_dict(settings)).lockout == lockout
