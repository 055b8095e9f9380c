"""Reading the log: queries and keyset pages, reports, exports, and the events CLI group."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from callcodes.cli.events import events as events_group
from strategies import USERS, events

T0 = datetime(2024, 6, 1, tzinfo=UTC)
# Few distinct times, so ties (kept in stored order) are common; two days for day reports.
log_times = st.sampled_from([T0 + timedelta(hours=h) for h in (0, 0, 5, 23, 24, 30)]) | st.builds(
    lambda s: T0 + timedelta(seconds=s), st.integers(0, 2 * 86400)
)
log_events = st.lists(
    events(group=st.sampled_from(("acme", "globex")), times=log_times), max_size=25
)
bounds = st.none() | log_times


def sources(written: list[cc.Event], directory: Path) -> dict[str, Any]:
    """The same events in a memory sink, a JSON Lines file and an SQLite file."""
    memory = cc.MemorySink()
    memory.write_many(written)
    with cc.JsonlSink(directory / "log.jsonl", cc.FlushPolicy.group(1000, None)) as jsonl:
        jsonl.write_many(written)
    with cc.SqliteSink(directory / "log.db", cc.FlushPolicy.group(1000, None)) as sqlite:
        sqlite.write_many(written)
    return {"memory": memory, "jsonl": directory / "log.jsonl", "sqlite": directory / "log.db"}


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def expected_page(
    written: list[cc.Event],
    group: str,
    *,
    user: str | None = None,
    code: str | None = None,
    verdict: cc.Verdict | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[cc.Event]:
    """The model: filter, then a stable sort by time (ties in stored order)."""
    found = [
        e
        for e in written
        if e.group == group
        and (user is None or e.user == user)
        and (code is None or e.code == code)
        and (verdict is None or e.verdict is verdict)
        and (since is None or e.time >= since)
        and (until is None or e.time < until)
    ]
    return sorted(found, key=lambda e: e.time)


def expected_report(written: list[cc.Event], group: str, by: str) -> list[tuple[object, ...]]:
    sums: dict[str | None, list[cc.Event]] = {}
    for e in written:
        if e.group != group:
            continue
        key = {"code": e.code, "user": e.user, "day": e.time.date().isoformat()}[by]
        sums.setdefault(key, []).append(e)
    rows = []
    for key in sorted(sums, key=lambda k: (k is None, k or "")):
        found = sums[key]
        ids = {e.call_id for e in found if e.call_id is not None}
        anonymous = sum(e.call_id is None for e in found)
        rows.append(
            (
                key,
                len(found),
                len(ids) + anonymous,
                sum(e.verdict is cc.Verdict.ALLOW for e in found),
                sum(e.verdict is cc.Verdict.BLOCK for e in found),
                sum(e.verdict is cc.Verdict.LOG_ONLY for e in found),
                min(e.time for e in found),
                max(e.time for e in found),
            )
        )
    return rows


class TestQuery:
    @given(
        log_events,
        st.sampled_from(("acme", "globex")),
        st.none() | st.sampled_from(USERS),
        st.none() | st.sampled_from(cc.Verdict),
        bounds,
        bounds,
    )
    def test_every_source_answers_like_the_model(
        self,
        written: list[cc.Event],
        group: str,
        user: str | None,
        verdict: cc.Verdict | None,
        since: datetime | None,
        until: datetime | None,
    ) -> None:
        """Memory, JSON Lines and SQLite return the model's events, in time then stored order."""
        want = expected_page(written, group, user=user, verdict=verdict, since=since, until=until)
        with tempfile.TemporaryDirectory() as name:
            for kind, source in sources(written, Path(name)).items():
                page = cc.query_events(
                    source,
                    group,
                    user=user,
                    verdict=verdict,
                    since=since,
                    until=until,
                    limit=None,
                )
                assert list(page.events) == want, kind
                assert page.next is None

    @given(log_events, st.integers(1, 7))
    def test_pages_cover_everything_once(self, written: list[cc.Event], size: int) -> None:
        """Following the cursors page by page gives every match once, in order, then stops.

        (JSON Lines pages take the in-memory path after reading the file, as the memory sink.)
        """
        want = expected_page(written, "acme")
        with tempfile.TemporaryDirectory() as name:
            every = sources(written, Path(name))
            for kind in ("memory", "sqlite"):
                source = every[kind]
                seen: list[cc.Event] = []
                after = None
                while True:
                    page = cc.query_events(source, "acme", limit=size, after=after)
                    assert len(page.events) <= size
                    seen.extend(page.events)
                    if page.next is None:
                        break
                    assert len(page.events) == size
                    after = page.next
                assert seen == want, kind

    def test_filter_by_account_code_and_reason(self, workdir: Path) -> None:
        """Filtering by account code and by reason keeps exactly those events."""
        written = [
            cc.Event(T0, "acme", "bob", "1", "national", "account", "log_only", "account code",
                     code="0042"),
            cc.Event(T0, "acme", "bob", "2", "national", "account", "log_only", "account code",
                     code="0043"),
            cc.Event(T0, "acme", "bob", "3", "national", "account", "log_only", "missing code",
                     retry=True),
        ]  # fmt: skip
        for kind, source in sources(written, workdir).items():
            page = cc.query_events(source, "acme", code="0042")
            assert [e.dialed for e in page.events] == ["1"], kind
            page = cc.query_events(source, "acme", reason=cc.Reason.MISSING_CODE)
            assert [e.dialed for e in page.events] == ["3"], kind
            page = cc.query_events(source, "acme", reason="missing code", verdict="log_only")
            assert [e.dialed for e in page.events] == ["3"], kind

    def test_pages_stay_right_while_events_arrive(self, workdir: Path) -> None:
        """A cursor keeps its place when newer events are added between two pages."""
        path = workdir / "log.db"
        with cc.SqliteSink(path) as sink:
            sink.write_many([self.event(n) for n in range(4)])
            first = cc.query_events(path, "acme", limit=2)
            sink.write_many([self.event(n) for n in range(4, 6)])
            second = cc.query_events(path, "acme", limit=10, after=first.next)
        assert [e.dialed for e in first.events + second.events] == [str(n) for n in range(6)]

    @staticmethod
    def event(n: int) -> cc.Event:
        return cc.Event(
            T0 + timedelta(minutes=n), "acme", "bob", str(n), "national", None, "allow",
            "not enabled",
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("option", "value", "field"),
        [
            ("after", "page-2", "after"),
            ("after", "12:x", "after"),
            ("limit", 0, "limit"),
            ("limit", True, "limit"),
            ("since", datetime(2024, 6, 1), "since"),  # noqa: DTZ001
            ("code", "12a4", "code"),
            ("verdict", "maybe", "verdict"),
            ("reason", "bored", "reason"),
            ("user", 7, "user"),
        ],
    )
    def test_bad_arguments_are_named(self, option: str, value: object, field: str) -> None:
        """Each bad argument raises an InvalidValueError naming it."""
        with pytest.raises(cc.InvalidValueError) as caught:
            cc.query_events(cc.MemorySink(), "acme", **{option: value})  # type: ignore[arg-type]
        assert caught.value.field == field

    def test_missing_log(self, workdir: Path) -> None:
        """A path where there is no log says to record events first."""
        with pytest.raises(cc.InvalidValueError, match="no such file"):
            cc.query_events(workdir / "none.db", "acme")

    def test_database_without_events_table(self, workdir: Path) -> None:
        """An SQLite file of another component only, with no events, says so."""
        import sqlite3

        path = workdir / "policy.db"
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("CREATE TABLE policy_groups(name TEXT)")
        conn.close()
        with pytest.raises(cc.InvalidValueError, match="no events table"):
            cc.query_events(path, "acme")


class TestReports:
    @given(log_events)
    def test_every_source_reports_like_the_model(self, written: list[cc.Event]) -> None:
        """Per code, user and day: events, calls, outcomes, first and last, as the model says."""
        with tempfile.TemporaryDirectory() as name:
            for kind, source in sources(written, Path(name)).items():
                for by in ("code", "user", "day"):
                    rows = cc.report_events(source, "acme", by)  # type: ignore[arg-type]
                    got = [
                        (r.key, r.events, r.calls, r.allow, r.block, r.log_only, r.first, r.last)
                        for r in rows
                    ]
                    assert got == expected_report(written, "acme", by), (kind, by)

    def test_time_range_limits_the_report(self, workdir: Path) -> None:
        """since and until bound the events a report sums."""
        written = [TestQuery.event(n) for n in range(10)]
        for kind, source in sources(written, workdir).items():
            [row] = cc.report_events(
                source,
                "acme",
                "user",
                since=T0 + timedelta(minutes=2),
                until=T0 + timedelta(minutes=5),
            )
            assert (row.key, row.events, row.first) == ("bob", 3, T0 + timedelta(minutes=2)), kind

    def test_unknown_grouping(self) -> None:
        """A report by anything but code, user or day is refused."""
        with pytest.raises(cc.InvalidValueError, match="code, user, day"):
            cc.report_events(cc.MemorySink(), "acme", "month")  # type: ignore[arg-type]


dangerous = st.builds(
    lambda first, rest: first + rest, st.sampled_from("=+-@\t\r"), st.text(max_size=10)
)


class TestExports:
    @given(st.lists(events(), max_size=5), st.lists(dangerous, min_size=3, max_size=3))
    def test_csv_cells_cannot_run_as_formulas(
        self, written: list[cc.Event], hostile: list[str]
    ) -> None:
        """No CSV cell starts with = + - @ tab or CR; such text is kept behind a quote."""
        user, dialed, call_id = hostile
        written.append(
            cc.Event(T0, "acme", user, dialed, "local", None, "allow", "not enabled",
                     call_id=call_id, description="=HYPERLINK(\"http://x\")")
        )  # fmt: skip
        out = io.StringIO(newline="")
        assert cc.export_csv(written, out) == len(written)
        rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
        assert rows[0] == [field.name for field in attrs.fields(cc.Event)]
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        last = dict(zip(rows[0], rows[-1], strict=True))
        assert (last["user"], last["dialed"], last["call_id"]) == (
            "'" + user,
            "'" + dialed,
            "'" + call_id,
        )
        assert last["description"] == '\'=HYPERLINK("http://x")'

    def test_csv_of_a_report(self) -> None:
        """A report exports with its own header; times are ISO 8601."""
        sink = cc.MemorySink()
        sink.write_many([TestQuery.event(0), TestQuery.event(1)])
        out = io.StringIO(newline="")
        cc.export_csv(cc.report_events(sink, "acme", "day"), out)
        assert out.getvalue().splitlines() == [
            "key,events,calls,allow,block,log_only,first,last",
            "2024-06-01,2,2,2,0,0,2024-06-01T00:00:00.000000+00:00,"
            "2024-06-01T00:01:00.000000+00:00",
        ]

    def test_empty_export_still_has_a_header(self) -> None:
        """Nothing to export still writes the header, of events or of a report."""
        out = io.StringIO()
        assert cc.export_csv([], out) == 0
        assert out.getvalue().startswith("time,group,user")
        out = io.StringIO()
        cc.export_csv([], out, kind="report")
        assert out.getvalue().startswith("key,events")

    def test_mixed_items_are_refused(self) -> None:
        """Events and report rows do not mix in one CSV."""
        sink = cc.MemorySink()
        sink.write(TestQuery.event(0))
        mixed = [TestQuery.event(0), *cc.report_events(sink, "acme", "day")]
        with pytest.raises(cc.InvalidValueError, match="does not fit"):
            cc.export_csv(mixed, io.StringIO())

    @given(st.lists(events(), max_size=6))
    def test_jsonl_export_reads_back(self, written: list[cc.Event]) -> None:
        """Exported JSON Lines are the log format: each line reads back as its event."""
        out = io.StringIO()
        assert cc.export_jsonl(written, out) == len(written)
        assert [cc.Event.from_json(line) for line in out.getvalue().splitlines()] == written

    def test_jsonl_of_a_report(self) -> None:
        """Report rows export as JSON objects with ISO times."""
        sink = cc.MemorySink()
        sink.write(TestQuery.event(0))
        out = io.StringIO()
        cc.export_jsonl(cc.report_events(sink, "acme", "user"), out)
        assert json.loads(out.getvalue()) == {
            "key": "bob",
            "events": 1,
            "calls": 1,
            "allow": 1,
            "block": 0,
            "log_only": 0,
            "first": "2024-06-01T00:00:00.000000+00:00",
            "last": "2024-06-01T00:00:00.000000+00:00",
        }


def cli(db: Path) -> click.Group:
    """A stand-in for the main command: it passes the database path as ctx.obj.db."""

    @click.group()
    @click.pass_context
    def main(ctx: click.Context) -> None:
        ctx.obj = types.SimpleNamespace(db=db)

    main.add_command(events_group)
    return main


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """An SQLite log written by an engine: authorization and account calls of group acme."""
    book = cc.CodeBook()
    book.set_group(
        "acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"}))
    )
    book.add_codes("acme", [cc.CodeEntry("1234", "Sales")])
    book.set_group(
        "bill", cc.GroupSettings(mode=cc.Mode.ACCOUNT, mandatory_users=frozenset({"bob"}))
    )
    times = iter(T0 + timedelta(minutes=n) for n in range(100))
    path = tmp_path / "callcodes.db"
    with cc.SqliteSink(path) as sink:
        engine = cc.Engine(book, sink, clock=lambda: next(times))
        engine.decide(cc.Call("acme", "alice", "0114420", "international", "c1"), "1234")
        engine.decide(cc.Call("acme", "alice", "0114420", "international", "c2"), "9999")
        for n, code in enumerate(["0042", "0042", "0043", "=1+2"]):
            engine.decide(cc.Call("bill", "bob", "+12125551234", "national", f"b{n}"), code)
    return path


class TestCli:
    def test_list_masks_authorization_codes(self, logged: Path) -> None:
        """The table shows authorization entries masked, and never the code itself."""
        result = CliRunner().invoke(cli(logged), ["events", "list", "acme"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].split()[:3] == ["TIME", "(UTC)", "USER"]
        assert "****" in lines[1]
        assert "Sales" in lines[1]
        assert "1234" not in result.output
        assert "9999" not in result.output

    def test_list_pages_with_after(self, logged: Path) -> None:
        """--limit cuts a page and prints how to get the next; --after continues."""
        runner = CliRunner()
        first = runner.invoke(cli(logged), ["events", "list", "bill", "--limit", "3"])
        assert first.exit_code == 0
        hint = first.output.splitlines()[-1]
        assert hint.startswith("more events: add --after ")
        cursor = hint.split()[-1]
        second = runner.invoke(cli(logged), ["events", "list", "bill", "--after", cursor])
        assert second.exit_code == 0
        assert len(second.output.splitlines()) == 2  # the header and the last event
        assert "more events" not in second.output

    def test_list_filters(self, logged: Path) -> None:
        """--code and --since narrow the list."""
        result = CliRunner().invoke(
            cli(logged), ["events", "list", "bill", "--code", "0042", "--since", "2024-06-01T00:03"]
        )
        assert result.exit_code == 0, result.output
        assert len(result.output.splitlines()) == 2

    def test_list_as_json_lines(self, logged: Path) -> None:
        """--jsonl prints the log's JSON Lines; the next-page hint goes to stderr."""
        result = CliRunner().invoke(
            cli(logged), ["events", "list", "bill", "--jsonl", "--limit", "2"]
        )
        assert result.exit_code == 0
        parsed = [cc.Event.from_json(line) for line in result.stdout.splitlines()]
        assert [e.call_id for e in parsed] == ["b0", "b1"]
        assert "more events" in result.stderr

    def test_list_as_json_pages_with_a_cursor(self, logged: Path) -> None:
        """--json prints one document; its next cursor gives the following page, then null."""
        runner = CliRunner()
        first = json.loads(
            runner.invoke(cli(logged), ["events", "list", "bill", "--json", "--limit", "2"]).stdout
        )
        assert [e["call_id"] for e in first["events"]] == ["b0", "b1"]
        assert first["next"] is not None
        args = ["events", "list", "bill", "--json", "--limit", "2", "--after", first["next"]]
        second = json.loads(runner.invoke(cli(logged), args).stdout)
        assert [e["call_id"] for e in second["events"]] == ["b2", "b3"]
        assert second["next"] is None

    def test_list_as_csv_is_spreadsheet_safe(self, logged: Path) -> None:
        """--csv neutralises the leading + of numbers; a malformed code is masked, not kept."""
        result = CliRunner().invoke(cli(logged), ["events", "list", "bill", "--csv"])
        assert result.exit_code == 0
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [r["dialed"] for r in rows] == ["'+12125551234"] * 4
        assert [r["code"] for r in rows] == ["0042", "0042", "0043", ""]
        assert rows[-1]["masked"] == "****"

    def test_report_by_code(self, logged: Path) -> None:
        """report --by code sums each account code, and entries with none under (none)."""
        result = CliRunner().invoke(cli(logged), ["events", "report", "bill", "--by", "code"])
        assert result.exit_code == 0, result.output
        table = [line.split()[:4] for line in result.output.splitlines()]
        assert table == [
            ["CODE", "EVENTS", "CALLS", "ALLOW"],
            ["0042", "2", "2", "0"],
            ["0043", "1", "1", "0"],
            ["(none)", "1", "1", "0"],
        ]

    @pytest.mark.parametrize(
        ("flag", "first"), [("--csv", "key,events"), ("--jsonl", '{"key"'), ("--json", "{\n")]
    )
    def test_report_formats(self, logged: Path, flag: str, first: str) -> None:
        """report prints CSV, JSON Lines or one JSON document on request."""
        result = CliRunner().invoke(cli(logged), ["events", "report", "acme", "--by", "day", flag])
        assert result.exit_code == 0
        assert result.output.startswith(first)

    def test_bad_time_is_a_callcodes_error(self, logged: Path) -> None:
        """A bad --since raises InvalidValueError, which the main command turns into status 1."""
        result = CliRunner().invoke(cli(logged), ["events", "list", "acme", "--since", "soon"])
        assert isinstance(result.exception, cc.InvalidValueError)
        assert "ISO 8601" in str(result.exception)

    def test_missing_log_is_a_callcodes_error(self, tmp_path: Path) -> None:
        """A database path with no log raises InvalidValueError that says what to do."""
        result = CliRunner().invoke(cli(tmp_path / "none.db"), ["events", "list", "acme"])
        assert isinstance(result.exception, cc.InvalidValueError)
        assert "record events first" in str(result.exception)

    @pytest.mark.parametrize(
        "args",
        [
            ["events", "list", "acme", "--csv", "--json"],
            ["events", "list", "acme", "--verdict", "maybe"],
            ["events", "report", "acme"],
            ["events", "report", "acme", "--by", "month"],
        ],
    )
    def test_usage_errors_exit_2(self, logged: Path, args: list[str]) -> None:
        """Conflicting or unknown options are usage errors (exit status 2)."""
        result = CliRunner().invoke(cli(logged), args)
        assert result.exit_code == 2

    def test_without_a_database(self) -> None:
        """Run without the main command's context, the group says so (usage error)."""
        result = CliRunner().invoke(events_group, ["list", "acme"])
        assert result.exit_code == 2
        assert "no event log given" in result.output
