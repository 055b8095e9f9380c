"""The policy store: validation as the core's, persistence, schema, refresh, atomic use counts."""

from __future__ import annotations

import contextlib
import inspect
import sqlite3
import subprocess
import sys
import threading
import typing
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import callcodes as cc
from callcodes.audit import Action
from callcodes.core.loader import GroupLoader
from callcodes.store import JOURNAL_KEEP, SCHEMA_VERSION, PolicyStore, Store, sync
from callcodes.store.sqlite_schema import MIGRATIONS
from policy_helpers import T0, Clock, book_state, copy_into, outcome, snapshot, temp_store
from strategies import NON_ASCII_DIGITS, USERS, books, codes_of, descriptions, entries

AUTH = cc.GroupSettings(
    mode=cc.Mode.AUTHORIZATION, mandatory_users=frozenset({"alice"}), optional_users={"bob"}
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "policy.db"


@pytest.fixture
def store(store_at: Callable[..., PolicyStore]) -> Iterator[PolicyStore]:
    """A store with one group and two codes, on each backend (SQLite, PostgreSQL)."""
    with store_at(clock=Clock()) as opened:
        opened.set_group("acme", AUTH, actor="ann")
        opened.add_codes(
            "acme",
            [cc.CodeEntry("1234", "Sales"), cc.CodeEntry("0042", "Support", max_uses=2)],
            actor="ann",
        )
        yield opened


def _batches(length: int, existing: list[str]) -> st.SearchStrategy[list[object]]:
    """Batches mixing new codes, stored codes, wrong lengths, junk and non-strings."""
    item = st.one_of(
        codes_of(length),
        codes_of(length + 1),
        st.sampled_from(existing) if existing else codes_of(length),
        st.text(alphabet="0123456789 x" + NON_ASCII_DIGITS[:3], max_size=5),
        st.integers(0, 99),
    )
    return st.lists(item, max_size=8)


class TestSameChecksAsTheBook:
    """A store refuses exactly what a book refuses, with the same error, and applies the rest."""

    @given(book=books(limits=True), data=st.data())
    def test_add_codes(self, book: cc.CodeBook, data: st.DataObject) -> None:
        """add_codes: the same BatchError as CodeBook.add_codes, or the same codes added."""
        group = data.draw(st.sampled_from(book.groups()))
        existing = [e.code for e in book.codes(group, limit=None)]
        batch = data.draw(_batches(book.group(group).code_length, existing))
        with temp_store() as store:
            copy_into(store, book)
            expected = outcome(lambda: book.add_codes(group, batch))
            assert outcome(lambda: store.add_codes(group, batch, actor="t")) == expected
            assert book_state(store.load()) == book_state(book)

    @given(book=books(), data=st.data())
    def test_edit_codes(self, book: cc.CodeBook, data: st.DataObject) -> None:
        """edit_codes: unknown codes and bad descriptions reported as the book reports them."""
        group = data.draw(st.sampled_from(book.groups()))
        existing = [e.code for e in book.codes(group, limit=None)]
        codes = st.sampled_from(existing) | codes_of(4) if existing else codes_of(4)
        bad_descriptions = st.sampled_from(["x" * 81, "tab\there", "\u202e"])
        edits = data.draw(st.dictionaries(codes, descriptions | bad_descriptions, max_size=5))
        with temp_store() as store:
            copy_into(store, book)
            expected = outcome(lambda: book.edit_codes(group, edits))
            assert outcome(lambda: store.edit_codes(group, edits, actor="t")) == expected
            assert book_state(store.load()) == book_state(book)

    @given(book=books(limits=True), data=st.data())
    def test_update_and_delete_codes(self, book: cc.CodeBook, data: st.DataObject) -> None:
        """update_codes and delete_codes: the book's errors, the book's result."""
        group = data.draw(st.sampled_from(book.groups()))
        length = book.group(group).code_length
        existing = [e.code for e in book.codes(group, limit=None)]
        updates = data.draw(st.lists(entries(length, limits=True), max_size=4))
        if existing:
            updates += [
                attrs.evolve(e, code=data.draw(st.sampled_from(existing))) for e in updates[:2]
            ]
        some = st.sampled_from(existing) | codes_of(length) if existing else codes_of(length)
        doomed = data.draw(st.lists(some, max_size=4))
        with temp_store() as store:
            copy_into(store, book)
            expected = outcome(lambda: book.update_codes(group, updates))
            assert outcome(lambda: store.update_codes(group, updates, actor="t")) == expected
            expected = outcome(lambda: book.delete_codes(group, doomed))
            assert outcome(lambda: store.delete_codes(group, doomed, actor="t")) == expected
            assert book_state(store.load()) == book_state(book)

    @given(
        book=books(),
        data=st.data(),
        prefix=st.text(alphabet="0123456789", max_size=3) | st.just("1a"),
        limit=st.none() | st.integers(0, 5),
    )
    def test_pages(
        self, book: cc.CodeBook, data: st.DataObject, prefix: str, limit: int | None
    ) -> None:
        """codes(): the same page, or the same refusal, as CodeBook.codes."""
        group = data.draw(st.sampled_from(book.groups()))
        existing = [e.code for e in book.codes(group, limit=None)]
        after = data.draw(st.none() | (st.sampled_from(existing) if existing else st.none()))
        with temp_store() as store:
            copy_into(store, book)
            try:
                expected: object = book.codes(group, prefix, after, limit)
            except cc.CallcodesError as exc:
                expected = str(exc)
            try:
                got: object = store.codes(group, prefix, after, limit)
            except cc.CallcodesError as exc:
                got = str(exc)
            assert got == expected

    def test_code_length_conflict(self, store: PolicyStore) -> None:
        """Changing the length of a group that holds codes is refused as the book refuses it."""
        book = store.load()
        before = snapshot(store)
        wanted = attrs.evolve(AUTH, code_length=6)
        expected = outcome(lambda: book.set_group("acme", wanted))
        assert expected is not None
        assert outcome(lambda: store.set_group("acme", wanted, actor="t")) == expected
        assert snapshot(store) == before

    def test_unknown_group(self, store: PolicyStore) -> None:
        """Every method that names a group refuses an unknown one with UnknownGroupError."""
        calls = [
            lambda: store.group("nope"),
            lambda: store.add_codes("nope", ["1234"], actor="t"),
            lambda: store.delete_codes("nope", ["1234"], actor="t"),
            lambda: store.consume("nope", "1234"),
            lambda: store.unlock("nope", actor="t"),
            lambda: store.modify_group("nope", lambda s: s, actor="t"),
            lambda: store.load(["nope"]),
        ]
        for call in calls:
            with pytest.raises(cc.UnknownGroupError):
                call()

    def test_modify_codes(self, store: PolicyStore) -> None:
        """modify_codes changes many codes at once and reports unknown ones as a bulk edit does."""
        changed = store.modify_codes(
            "acme", ["1234", "0042"], lambda e: attrs.evolve(e, level=7), actor="t"
        )
        assert [e.level for e in changed] == [7, 7]
        assert store.get("acme", "0042") == cc.CodeEntry("0042", "Support", level=7, max_uses=2)
        with pytest.raises(cc.BatchError, match="9999"):
            store.modify_codes("acme", ["1234", "9999"], lambda e: e, actor="t")
        with pytest.raises(cc.InvalidValueError, match="change"):
            store.modify_codes("acme", ["1234"], lambda e: attrs.evolve(e, code="4321"), actor="t")

    def test_bad_actor_and_clock(self, path: Path) -> None:
        """A change needs an actor, and the clock must give aware times."""
        store = PolicyStore(path, clock=lambda: T0.replace(tzinfo=None))
        with pytest.raises(cc.InvalidValueError, match="actor"):
            store.set_group("acme", AUTH, actor=" ")
        with pytest.raises(cc.InvalidValueError, match="timezone-aware"):
            store.set_group("acme", AUTH, actor="ann")
        assert store.groups() == []


class TestPersistence:
    """What is written survives closing the file, and every write is one transaction."""

    def test_everything_round_trips(self, path: Path) -> None:
        """Settings, users, codes with every field, use counts and locks read back equal."""
        settings = cc.GroupSettings(
            mode=cc.Mode.AUTHORIZATION,
            code_length=6,
            allow_local_and_toll_free=True,
            mandatory_users=frozenset({"alice"}),
            optional_users=frozenset({"bob"}),
            max_attempts=3,
            coded_call_types={cc.CallType.INTERNATIONAL, cc.CallType.PREMIUM},
            min_levels={cc.CallType.INTERNATIONAL: 5},
            lockout=cc.Lockout(3, timedelta(seconds=61.5), 9, timedelta(hours=1), None),
            code_prefix="#99",
        )
        entry = cc.CodeEntry(
            "000042",
            "Ops",
            level=9,
            valid_from=T0,
            valid_until=T0 + timedelta(days=1, microseconds=5),
            max_uses=3,
        )
        lock = cc.Lock("acme", "alice", T0, T0 + timedelta(minutes=30))
        with PolicyStore(path) as store:
            store.set_group("acme", settings, actor="ann")
            store.add_codes("acme", [entry, "000001"], actor="ann")
            assert store.consume("acme", "000042")
            store.lock(lock, actor="ann")
            store.lock(cc.Lock("acme", None, T0), actor="ann")
        with PolicyStore(path) as store:
            book = store.load()
        assert book.group("acme") == settings
        assert book.codes("acme") == [cc.CodeEntry("000001"), entry]
        assert book.uses("acme", "000042") == 1
        assert book.locks("acme") == [cc.Lock("acme", None, T0), lock]
        book._check()

    @given(book=books(limits=True), uses=st.lists(st.integers(0, 6), max_size=30))
    def test_load_builds_the_same_book(self, book: cc.CodeBook, uses: list[int]) -> None:
        """load() (trusted bulk path) builds exactly the book the validating API builds."""
        for group in book.groups():
            for entry, count in zip(book.codes(group, limit=None), uses, strict=False):
                for _ in range(count):
                    book.consume(group, entry.code)
        book.lock(cc.Lock(book.groups()[0], "alice", T0))
        with temp_store() as store:
            copy_into(store, book)
            loaded = store.load()
        loaded._check()
        assert book_state(loaded) == book_state(book)

    @pytest.mark.parametrize("compact", [False, True])
    def test_bulk_install_matches_replace_group(self, compact: bool) -> None:
        """The trusted group loader gives the same group as CodeBook.replace_group."""
        entries = [cc.CodeEntry(f"{i:04d}", f"d{i % 3}" if i % 5 else None) for i in range(50)]
        entries[1] = cc.CodeEntry("0001", level=3, valid_from=T0, max_uses=2)
        lock = cc.Lock("g", "alice", T0)
        for mode in cc.Mode:
            settings = cc.GroupSettings(mode=mode)
            public = cc.CodeBook(compact=compact)
            public.replace_group("g", settings, entries, uses={"0001": 1}, locks=[lock])
            loader = GroupLoader(settings, compact=compact)
            pending = loader.add_rows((e.code, e.description, e.limited) for e in entries)
            assert pending == ["0001"]
            loader.add_full([("0001", None, 3, T0, None, 2, 1)])
            private = cc.CodeBook(compact=compact)
            with pytest.raises(cc.InvalidValueError, match="as compact"):
                loader.install(cc.CodeBook(compact=not compact), "g", [lock])
            loader.install(private, "g", [lock])
            private._check()
            assert book_state(private) == book_state(public)
            assert public._groups["g"].codes == private._groups["g"].codes

    def test_a_compact_book_loads_and_refreshes_like_a_plain_one(self, store: PolicyStore) -> None:
        """The same groups, entries, uses and locks, and the same decisions, through changes;
        and a compact book keeps no object for a plain code (nor its decision)."""
        store.set_group("g", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION), actor="t")
        store.add_codes("g", ["1111", cc.CodeEntry("2222", "Sales")], actor="t")
        store.add_codes("g", [cc.CodeEntry("3333", level=2)], actor="t")
        plain, compact = store.load(), store.load(compact=True)
        kept = compact._groups["g"].codes
        assert [type(kept[c]).__name__ for c in ("1111", "2222", "3333")] == [
            "_NoDescription",
            "str",
            "Decision",
        ]
        store.add_codes("g", ["4444"], actor="t")
        store.edit_codes("g", {"1111": "Support", "2222": None}, actor="t")
        store.update_codes("g", [cc.CodeEntry("3333")], actor="t")
        store.delete_codes("g", ["4444"], actor="t")
        store.lock(cc.Lock("g", "alice", T0), actor="t")
        assert store.refresh(plain)
        assert store.refresh(compact)
        compact._check()
        assert book_state(compact) == book_state(plain)
        call = cc.Call("g", "bob", "913125550123", cc.CallType.NATIONAL)
        for code in ("1111", "2222", "3333", "4444", "9999", "12"):
            assert cc.decide(compact, call, code, now=T0) == cc.decide(plain, call, code, now=T0)
            assert compact.get("g", code) == plain.get("g", code)

    def test_sqlite_store_offers_the_protocol(self, store: PolicyStore) -> None:
        """PolicyStore has every method of the Store protocol, with the same parameters."""
        members = [
            name
            for name in dir(Store)
            if not name.startswith("_") or name in ("__contains__", "__enter__", "__exit__")
        ]
        members = [name for name in members if name not in dir(typing.Protocol)]
        assert {"load", "refresh", "consume", "lock", "unlock", "audit"} <= set(members)
        for name in members:
            wanted, offered = getattr(Store, name), getattr(PolicyStore, name)
            if isinstance(wanted, property):
                assert isinstance(offered, property), name
                continue
            assert list(inspect.signature(offered).parameters.values()) == list(
                inspect.signature(wanted).parameters.values()
            ), name
        held: Store = store
        assert held.groups() == ["acme"]

    def test_refused_change_leaves_the_store_unchanged(self, store: PolicyStore) -> None:
        """A refused batch writes nothing: no code, no audit record, no journal entry."""
        before = snapshot(store)
        with pytest.raises(cc.BatchError):
            store.add_codes("acme", ["5555", "1234", "12"], actor="t")
        with pytest.raises(cc.BatchError):
            store.delete_codes("acme", ["1234", "9999"], actor="t")
        with pytest.raises(cc.InvalidValueError):
            store.modify_group("acme", lambda s: attrs.evolve(s, max_attempts=0), actor="t")
        assert snapshot(store) == before

    def test_remove_and_recreate(self, store: PolicyStore) -> None:
        """Removing a group deletes its users, codes and locks; a new group starts empty."""
        store.lock(cc.Lock("acme", "alice", T0), actor="t")
        store.remove_group("acme", actor="t")
        assert "acme" not in store
        store.set_group("acme", cc.GroupSettings(), actor="t")
        assert store.count("acme") == 0
        assert store.locks("acme") == []
        assert store.group("acme") == cc.GroupSettings()

    def test_replace_keeps_uses_and_locks(self, store: PolicyStore) -> None:
        """Replacing a group's policy keeps the use counts of codes that stay, and its locks."""
        assert store.consume("acme", "0042")
        lock = cc.Lock("acme", "alice", T0)
        store.lock(lock, actor="t")
        store.replace_group(
            "acme",
            attrs.evolve(AUTH, max_attempts=3),
            [cc.CodeEntry("0042", "Support", max_uses=2), "7777"],
            actor="t",
        )
        assert store.uses("acme", "0042") == 1
        assert [e.code for e in store.codes("acme")] == ["0042", "7777"]
        assert store.locks("acme") == [lock]
        store.replace_codes("acme", ["0042"], actor="t")
        assert store.uses("acme", "0042") == 1
        assert store.count("acme") == 1

    def test_timed_locks_filter_by_time(self, store: PolicyStore) -> None:
        """locks(now) leaves out locks that have run out; unlock says whether it lifted one."""
        store.lock(cc.Lock("acme", "alice", T0, T0 + timedelta(minutes=5)), actor="t")
        assert store.locks("acme", T0 + timedelta(minutes=1)) != []
        assert store.locks("acme", T0 + timedelta(minutes=5)) == []
        assert store.unlock("acme", "alice", actor="t")
        assert not store.unlock("acme", "alice", actor="t")
        with pytest.raises(cc.InvalidValueError):
            store.lock("alice", actor="t")  # type: ignore[arg-type]


class TestConsume:
    """Use counts: atomic across threads and processes, as CodeBook.consume semantics."""

    def test_counts_to_the_limit(self, store: PolicyStore) -> None:
        """A use-limited code succeeds max_uses times; others always; unknown codes never."""
        assert [store.consume("acme", "0042") for _ in range(3)] == [True, True, False]
        assert store.uses("acme", "0042") == 2
        assert store.consume("acme", "1234")
        assert store.uses("acme", "1234") == 0
        assert not store.consume("acme", "9999")

    def test_threads_never_overcount(self, path: Path) -> None:
        """Eight threads racing on one store win exactly max_uses times between them."""
        with PolicyStore(path) as store:
            store.set_group("acme", AUTH, actor="t")
            store.add_codes("acme", [cc.CodeEntry("1234", max_uses=25)], actor="t")
            wins: list[bool] = []
            barrier = threading.Barrier(8)

            def race() -> None:
                barrier.wait()
                wins.extend(store.consume("acme", "1234") for _ in range(10))

            threads = [threading.Thread(target=race) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert wins.count(True) == 25

    @pytest.mark.slow
    def test_processes_never_overcount(self, path: Path) -> None:
        """Two processes consuming one code through their own stores win max_uses in total."""
        with PolicyStore(path) as store:
            store.set_group("acme", AUTH, actor="t")
            store.add_codes("acme", [cc.CodeEntry("1234", max_uses=40)], actor="t")
        script = (
            "import sys\n"
            "from callcodes.store import PolicyStore\n"
            "store = PolicyStore(sys.argv[1])\n"
            "print(sum(store.consume('acme', '1234') for _ in range(30)))\n"
        )
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        totals = [int(worker.communicate(timeout=60)[0]) for worker in workers]
        assert sum(totals) == 40
        with PolicyStore(path) as store:
            assert store.uses("acme", "1234") == 40


_OPS = st.one_of(
    st.tuples(st.just("add"), codes_of(4), descriptions),
    st.tuples(st.just("edit"), codes_of(4), descriptions),
    st.tuples(st.just("limit"), codes_of(4), st.integers(1, 3)),
    st.tuples(st.just("delete"), codes_of(4)),
    st.tuples(st.just("consume"), codes_of(4)),
    st.tuples(st.just("mode"), st.sampled_from(cc.Mode)),
    st.tuples(st.just("lock"), st.sampled_from(USERS)),
    st.tuples(st.just("unlock"), st.sampled_from(USERS)),
    st.tuples(st.just("bulk"), st.lists(codes_of(4), min_size=4, max_size=6, unique=True)),
    st.tuples(st.just("new"), st.sampled_from(("acme", "globex"))),
    st.tuples(st.just("remove"), st.sampled_from(("acme", "globex"))),
)


def _apply(store: PolicyStore, op: tuple[object, ...]) -> None:
    kind, *args = op
    group = "acme"
    actions = {
        "add": lambda: store.add_codes(group, [cc.CodeEntry(args[0], args[1])], actor="t"),
        "edit": lambda: store.edit_codes(group, {args[0]: args[1]}, actor="t"),
        "limit": lambda: store.modify_codes(
            group, [args[0]], lambda e: attrs.evolve(e, max_uses=args[1]), actor="t"
        ),
        "delete": lambda: store.delete_codes(group, [args[0]], actor="t"),
        "consume": lambda: store.consume(group, args[0]),
        "mode": lambda: store.modify_group(
            group, lambda s: attrs.evolve(s, mode=args[0]), actor="t"
        ),
        "lock": lambda: store.lock(cc.Lock(group, args[0], T0), actor="t"),
        "unlock": lambda: store.unlock(group, args[0], actor="t"),
        "bulk": lambda: store.add_codes(group, args[0], actor="t"),
        "new": lambda: store.set_group(args[0], cc.GroupSettings(), actor="t"),
        "remove": lambda: store.remove_group(args[0], actor="t"),
    }
    with contextlib.suppress(cc.CallcodesError):  # an op that does not apply changes nothing
        actions[str(kind)]()


class TestRefresh:
    """A book loaded in one process catches up with changes written by another."""

    @given(
        before=st.lists(_OPS, max_size=6),
        after=st.lists(_OPS, min_size=1, max_size=10),
        keep=st.sampled_from((2, 5, JOURNAL_KEEP)),
    )
    def test_refresh_equals_a_fresh_load(
        self, before: list[tuple[object, ...]], after: list[tuple[object, ...]], keep: int
    ) -> None:
        """After any changes by another writer, refresh() gives exactly what load() gives."""
        with temp_store() as reader:
            reader.set_group("acme", AUTH, actor="t")
            writer = PolicyStore(reader.path, clock=Clock())
            for op in before:
                _apply(writer, op)
            book = reader.load()
            old, old_bulk = sync.JOURNAL_KEEP, sync.BULK_CODES
            sync.JOURNAL_KEEP = keep  # a short journal: full reloads
            sync.BULK_CODES = 3  # small batches count as bulk
            try:
                for op in after:
                    _apply(writer, op)
            finally:
                sync.JOURNAL_KEEP, sync.BULK_CODES = old, old_bulk
            reader.refresh(book)
            book._check()
            assert book_state(book) == book_state(reader.load())
            assert not reader.refresh(book)
            writer.close()

    def test_nothing_changed(self, store: PolicyStore) -> None:
        """refresh() answers False, cheaply, when no change was written since the load."""
        book = store.load()
        version = book.version
        assert not store.refresh(book)
        assert book.version == version

    def test_only_the_changed_code_is_read(
        self, store: PolicyStore, store_at: Callable[..., PolicyStore]
    ) -> None:
        """An edit of one code updates that code in place; the rest of the book is untouched."""
        book = store.load()
        untouched = book.get("acme", "0042")
        with store_at() as other:
            other.edit_codes("acme", {"1234": "Sales EMEA"}, actor="bob")
        assert store.refresh(book)
        assert book.get("acme", "1234") == cc.CodeEntry("1234", "Sales EMEA")
        assert book.get("acme", "0042") is untouched

    def test_partial_book(self, store: PolicyStore, store_at: Callable[..., PolicyStore]) -> None:
        """A book loaded with only some groups refreshes only those."""
        store.set_group("globex", cc.GroupSettings(), actor="t")
        book = store.load(["acme"])
        with store_at() as other:
            other.add_codes("globex", ["1111"], actor="t")
            other.add_codes("acme", ["2222"], actor="t")
        assert store.refresh(book)
        assert book.groups() == ["acme"]
        assert book.get("acme", "2222") == cc.CodeEntry("2222")

    def test_a_book_from_elsewhere_is_filled(self, store: PolicyStore) -> None:
        """refresh() on a book the store did not load replaces its groups with the stored ones."""
        book = cc.CodeBook()
        book.set_group("stale", cc.GroupSettings())
        assert store.refresh(book)
        assert book_state(book) == book_state(store.load())

    def test_version_counts_changes(
        self, store: PolicyStore, store_at: Callable[..., PolicyStore]
    ) -> None:
        """The store's version grows with each change, whoever wrote it."""
        version = store.version
        with store_at() as other:
            other.edit_codes("acme", {"1234": None}, actor="t")
        assert store.version > version


class TestSchema:
    """The file's schema: versioned in the shared table, upgraded forward, never downgraded."""

    def test_fresh_file(self, path: Path) -> None:
        """A new store records its schema version and uses WAL."""
        store = PolicyStore(path)
        conn = sqlite3.connect(path)
        rows = conn.execute("SELECT component, version FROM callcodes_schema").fetchall()
        assert rows == [("policy", SCHEMA_VERSION)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store.schema_version == SCHEMA_VERSION

    def test_shares_the_file(self, path: Path) -> None:
        """Another component's tables and schema row are left alone."""
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE callcodes_schema (component TEXT PRIMARY KEY, version INTEGER)")
        conn.execute("INSERT INTO callcodes_schema VALUES ('events', 3)")
        conn.execute("CREATE TABLE events (id INTEGER)")
        conn.commit()
        conn.close()
        PolicyStore(path).close()
        conn = sqlite3.connect(path)
        assert dict(conn.execute("SELECT * FROM callcodes_schema")) == {
            "events": 3,
            "policy": SCHEMA_VERSION,
        }

    def test_newer_schema_is_refused(self, path: Path) -> None:
        """A file written by a newer release is refused with a message to upgrade."""
        PolicyStore(path).close()
        conn = sqlite3.connect(path)
        conn.execute("UPDATE callcodes_schema SET version = 99 WHERE component = 'policy'")
        conn.commit()
        conn.close()
        with pytest.raises(cc.ConflictError, match="upgrade callcodes"):
            PolicyStore(path)

    def test_forward_migration_keeps_data(self, path: Path) -> None:
        """A version-1 file (no audit trail yet) is upgraded and keeps its groups."""
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE callcodes_schema (component TEXT PRIMARY KEY, version INTEGER)")
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO policy_groups VALUES "
            "(1, 'acme', 'account', 4, 0, 2, '[\"local\"]', '{}', 10, 180000000, 50, "
            "600000000, NULL, '*71')"
        )
        conn.execute("INSERT INTO callcodes_schema VALUES ('policy', 1)")
        conn.commit()
        conn.close()
        with PolicyStore(path) as store:
            assert store.schema_version == SCHEMA_VERSION
            assert store.group("acme").mode is cc.Mode.ACCOUNT
            assert store.group("acme").lockout.lock_for is None
            store.add_codes("acme", ["1234"], actor="t")
            assert [r.action for r in store.audit()] == [Action.CODES_ADD]

    def test_not_a_store(self, tmp_path: Path) -> None:
        """A file that is not SQLite, or a path that cannot be opened, is a clear error."""
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"this is not a database" * 100)
        with pytest.raises(cc.InvalidValueError, match="not a usable policy store"):
            PolicyStore(junk)
        with pytest.raises(
            cc.InvalidValueError, match=r"cannot open .*check that its directory exists"
        ):
            PolicyStore(tmp_path / "missing" / "folder" / "x.db")
