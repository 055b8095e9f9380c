"""The code index: all-or-nothing batches, ordered listing, and readers that never see half."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

import callcodes as cc
from helpers import NOW, book_state
from strategies import books, calls, codes_of, descriptions


@pytest.fixture
def book() -> cc.CodeBook:
    book = cc.CodeBook()
    book.set_group("acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION))
    book.add_codes("acme", ["1234", cc.CodeEntry("0042", "Support"), "5678"])
    return book


def rows(error: pytest.ExceptionInfo[cc.BatchError]) -> list[tuple[int, str]]:
    return [(row.row, row.code) for row in error.value.rows]


class TestGroups:
    """Creating, changing and removing groups."""

    def test_unknown_group_raises_a_key_error(self) -> None:
        """Asking for a group that does not exist is a KeyError that names it."""
        with pytest.raises(KeyError, match="unknown group 'nope'"):
            cc.CodeBook().group("nope")

    def test_changing_code_length_with_codes_in_the_way_is_refused(self, book: cc.CodeBook) -> None:
        """The error says how many codes are in the way, and the settings stay."""
        with pytest.raises(cc.ConflictError, match="holds 3 code"):
            book.set_group("acme", cc.GroupSettings(code_length=6))
        assert book.group("acme").code_length == 4

    def test_changing_mode_keeps_the_codes(self, book: cc.CodeBook) -> None:
        """Switching between account and authorization codes keeps the list."""
        book.set_group("acme", cc.GroupSettings(mode=cc.Mode.ACCOUNT))
        assert book.count("acme") == 3
        call = cc.Call("acme", "alice", "1", cc.CallType.NATIONAL)
        book.set_group("acme", cc.GroupSettings(mode=cc.Mode.ACCOUNT, mandatory_users={"alice"}))
        assert cc.decide(book, call, "1234").verdict is cc.Verdict.LOG_ONLY
        book.set_group("acme", cc.GroupSettings(mode="authorization", mandatory_users={"alice"}))  # type: ignore[arg-type]
        assert cc.decide(book, call, "1234").verdict is cc.Verdict.ALLOW

    def test_the_same_code_may_live_in_several_groups(self, book: cc.CodeBook) -> None:
        """Codes are unique within a group only."""
        book.set_group("globex", cc.GroupSettings())
        book.add_codes("globex", ["1234"])
        assert book.get("globex", "1234") == book.get("acme", "1234")

    def test_remove_group(self, book: cc.CodeBook) -> None:
        """A removed group is unknown afterwards."""
        book.remove_group("acme")
        assert "acme" not in book
        with pytest.raises(cc.UnknownGroupError):
            book.remove_group("acme")

    def test_settings_for_a_call_default_for_an_unknown_group(self, book: cc.CodeBook) -> None:
        """settings_for gives a group's own settings, and the defaults for a group not held."""
        own = cc.GroupSettings(mode=cc.Mode.ACCOUNT, code_prefix="*88")
        book.set_group("acme", own)
        assert book.settings_for("acme") == own
        assert book.settings_for("nowhere") == cc.GroupSettings()
        assert "nowhere" not in book  # asking creates nothing

    def test_replace_group_is_all_or_nothing(self, book: cc.CodeBook) -> None:
        """replace_group with a bad code changes nothing and reports the row."""
        with pytest.raises(cc.BatchError) as caught:
            book.replace_group("acme", cc.GroupSettings(), ["1111", "22"])
        assert rows(caught) == [(2, "22")]
        assert book.count("acme") == 3


class TestBatches:
    """Add, bulk edit and delete: every bad row is reported and nothing changes."""

    def test_add_reports_every_bad_row(self, book: cc.CodeBook) -> None:
        """Wrong length, non-ASCII digits, duplicates in the batch and of stored codes."""
        before = book.codes("acme", limit=None)
        with pytest.raises(cc.BatchError) as caught:
            book.add_codes("acme", ["9999", "12345", "\u0661\u0662\u0663\u0664", "9999", "1234"])
        assert rows(caught) == [
            (2, "12345"),
            (3, "\u0661\u0662\u0663\u0664"),
            (4, "9999"),
            (5, "1234"),
        ]
        message = str(caught.value)
        assert "4 bad row(s), nothing was changed" in message
        assert "has 5 digits; the group uses 4" in message
        assert "ASCII digits 0-9 only" in message
        assert "appears twice in this batch" in message
        assert "already on the group's list" in message
        assert book.codes("acme", limit=None) == before

    def test_bulk_edit_sets_and_clears_descriptions(self, book: cc.CodeBook) -> None:
        """edit_codes changes many descriptions at once; None clears one."""
        book.edit_codes("acme", {"1234": "Sales EMEA", "0042": None})
        assert book.get("acme", "1234") == cc.CodeEntry("1234", "Sales EMEA")
        assert book.get("acme", "0042") == cc.CodeEntry("0042")

    def test_bulk_edit_reports_every_bad_row(self, book: cc.CodeBook) -> None:
        """Unknown codes and bad descriptions are all reported; nothing changes."""
        with pytest.raises(cc.BatchError) as caught:
            book.edit_codes("acme", {"1234": "ok", "9999": "x", "5678": "x" * 81, "0042": 7})  # type: ignore[dict-item]
        assert rows(caught) == [(2, "9999"), (3, "5678"), (4, "0042")]
        assert book.get("acme", "1234") == cc.CodeEntry("1234")

    def test_update_replaces_whole_entries(self, book: cc.CodeBook) -> None:
        """update_codes sets levels and limits of existing codes, refusing unknown ones."""
        book.update_codes("acme", [cc.CodeEntry("1234", "VIP", level=9, max_uses=3)])
        assert book.get("acme", "1234") == cc.CodeEntry("1234", "VIP", level=9, max_uses=3)
        with pytest.raises(cc.BatchError) as caught:
            book.update_codes("acme", [cc.CodeEntry("0042", level=1), cc.CodeEntry("7777")])
        assert rows(caught) == [(2, "7777")]
        assert book.get("acme", "0042") == cc.CodeEntry("0042", "Support")

    def test_update_keeps_use_counts_only_while_the_code_is_limited(
        self, book: cc.CodeBook
    ) -> None:
        """Lowering a limit keeps the count (the code may be used up); removing it drops it."""
        book.update_codes("acme", [cc.CodeEntry("1234", max_uses=3)])
        assert book.consume("acme", "1234")
        assert book.consume("acme", "1234")
        book.update_codes("acme", [cc.CodeEntry("1234", max_uses=1)])
        assert (book.uses("acme", "1234"), book.consume("acme", "1234")) == (2, False)
        book.update_codes("acme", [cc.CodeEntry("1234")])
        assert book.uses("acme", "1234") == 0
        book._check()

    def test_delete_reports_unknown_codes_and_deletes_nothing(self, book: cc.CodeBook) -> None:
        """Deleting a selection with an unknown code deletes none of it."""
        with pytest.raises(cc.BatchError) as caught:
            book.delete_codes("acme", ["1234", "7777", "8888"])
        assert rows(caught) == [(2, "7777"), (3, "8888")]
        assert book.count("acme") == 3
        book.delete_codes("acme", ["1234", "5678", "1234"])
        assert [e.code for e in book.codes("acme")] == ["0042"]


class TestListing:
    """Listing in code order, by page and by prefix."""

    def test_pages_follow_code_order(self) -> None:
        """Pages of 2 walk the codes in order, each starting after the last of the previous."""
        book = cc.CodeBook()
        book.set_group("acme", cc.GroupSettings())
        book.add_codes("acme", ["5000", "0001", "1200", "1299", "1300", "9999"])
        pages, after = [], None
        while page := book.codes("acme", after=after, limit=2):
            pages.append([e.code for e in page])
            after = page[-1].code
        assert pages == [["0001", "1200"], ["1299", "1300"], ["5000", "9999"]]

    @pytest.mark.parametrize(
        ("prefix", "expected"),
        [
            ("12", ["1200", "1299"]),
            ("1", ["1200", "1299", "1300"]),
            ("9", ["9999"]),
            ("99", ["9999"]),
            ("0", ["0001"]),
            ("7", []),
            ("", ["0001", "1200", "1299", "1300", "5000", "9999"]),
        ],
    )
    def test_prefix_search(self, prefix: str, expected: list[str]) -> None:
        """Only codes starting with the prefix are listed, including prefixes of nines."""
        book = cc.CodeBook()
        book.set_group("acme", cc.GroupSettings())
        book.add_codes("acme", ["5000", "0001", "1200", "1299", "1300", "9999"])
        assert [e.code for e in book.codes("acme", prefix=prefix, limit=None)] == expected

    def test_prefix_and_after_combine(self, book: cc.CodeBook) -> None:
        """A later page of a prefix search starts after the given code."""
        book.add_codes("acme", ["1235", "1236"])
        page = book.codes("acme", prefix="123", after="1234", limit=1)
        assert [e.code for e in page] == ["1235"]

    @pytest.mark.parametrize(("prefix", "limit"), [("1a", 5), ("\uff11", 5), ("12", 0)])
    def test_bad_listing_arguments(self, book: cc.CodeBook, prefix: str, limit: int) -> None:
        """A non-digit prefix or an empty page is refused."""
        with pytest.raises(cc.InvalidValueError):
            book.codes("acme", prefix=prefix, limit=limit)

    @given(books(), st.integers(1, 7), st.data())
    def test_paging_with_prefix_equals_filtering_a_sorted_list(
        self, book: cc.CodeBook, limit: int, data: st.DataObject
    ) -> None:
        """Concatenated pages equal the sorted codes that start with the prefix."""
        for group in book.groups():
            every = [e.code for e in book.codes(group, limit=None)]
            assert every == sorted(set(every))
            assert len(every) == book.count(group)
            prefixes = st.text(alphabet="0123456789", max_size=3)
            if every:  # half the time the start of a listed code, so that pages hold something
                prefixes |= st.sampled_from(every).flatmap(
                    lambda c: st.integers(0, len(c)).map(lambda n: c[:n])
                )
            prefix = data.draw(prefixes)
            listed, after = [], None
            while page := book.codes(group, prefix=prefix, after=after, limit=limit):
                listed += [e.code for e in page]
                after = page[-1].code
            assert listed == [c for c in every if c.startswith(prefix)]


class TestProperties:
    """Batch rules over generated books."""

    @given(books(), st.data())
    def test_add_then_delete_restores_the_book(
        self, book: cc.CodeBook, data: st.DataObject
    ) -> None:
        """Adding new codes and deleting them again leaves the book as it was."""
        group = data.draw(st.sampled_from(book.groups()))
        length = book.group(group).code_length
        before = book.codes(group, limit=None)
        fresh = codes_of(length).filter(lambda c: book.get(group, c) is None)
        new = data.draw(st.lists(fresh, min_size=1, max_size=20, unique=True))
        book.add_codes(group, new)
        assert book.count(group) == len(before) + len(new)
        book.delete_codes(group, new)
        assert book.codes(group, limit=None) == before
        book._check()

    @given(books(), st.data())
    def test_a_batch_with_one_bad_row_changes_nothing(
        self, book: cc.CodeBook, data: st.DataObject
    ) -> None:
        """Any batch holding a bad row leaves the book exactly as it was."""
        group = data.draw(st.sampled_from(book.groups()))
        length = book.group(group).code_length
        good = data.draw(st.lists(codes_of(length), max_size=5, unique=True))
        good = [c for c in good if book.get(group, c) is None]
        bad = data.draw(st.sampled_from(["x" * length, "1" * (length + 1), "\uff10" * length]))
        at = data.draw(st.integers(0, len(good)))
        before = (book.codes(group, limit=None), book.version)
        with pytest.raises(cc.BatchError) as caught:
            book.add_codes(group, [*good[:at], bad, *good[at:]])
        assert [row.row for row in caught.value.rows] == [at + 1]  # rows count from 1
        assert (book.codes(group, limit=None), book.version) == before


class TestCompactBooks:
    """A compact book (no object per plain code) answers exactly as a plain one."""

    @given(book=books(limits=True), placed=st.lists(calls, max_size=10), data=st.data())
    def test_same_answers(
        self, book: cc.CodeBook, placed: list[cc.Call], data: st.DataObject
    ) -> None:
        compact = cc.CodeBook(compact=True)
        for group in book.groups():
            compact.replace_group(group, book.group(group), book.codes(group, limit=None))
        compact._check()
        assert book_state(compact) == book_state(book)
        for call in placed:
            group = call.group if call.group in book else None
            known = [e.code for e in book.codes(group, limit=None)] if group else []
            code = data.draw(st.sampled_from(known) if known else st.just(None))
            for entry in (code, data.draw(st.none() | codes_of(4))):
                expected = cc.decide(book, call, entry, now=NOW)
                assert cc.decide(compact, call, entry, now=NOW) == expected


class BookMachine(RuleBasedStateMachine):
    """Drive a CodeBook with random operations against a plain dict-and-list model."""

    GROUP = "acme"

    compact = False

    def __init__(self) -> None:
        super().__init__()
        self.book = cc.CodeBook(compact=self.compact)
        self.book.set_group(self.GROUP, cc.GroupSettings(code_length=3))
        self.model: dict[str, cc.CodeEntry] = {}

    # Codes on the list: added by `add`, taken out by `delete`, so each is in the model.
    stored = Bundle("stored")

    @rule(target=stored, new=st.lists(codes_of(3), min_size=1, max_size=8, unique=True))
    def add(self, new: list[str]) -> object:
        if any(code in self.model for code in new):
            before = self.book.version
            with pytest.raises(cc.BatchError):
                self.book.add_codes(self.GROUP, new)
            assert self.book.version == before
            return multiple()
        self.book.add_codes(self.GROUP, new)
        self.model.update((code, cc.CodeEntry(code)) for code in new)
        return multiple(*new)

    @rule(code=consumes(stored))
    def delete(self, code: str) -> None:
        self.book.delete_codes(self.GROUP, [code])
        del self.model[code]

    @rule(code=codes_of(3))
    def delete_absent(self, code: str) -> None:
        assume(code not in self.model)
        before = self.book.version
        with pytest.raises(cc.BatchError):
            self.book.delete_codes(self.GROUP, [code])
        assert self.book.version == before

    @rule(code=stored, description=descriptions)
    def edit(self, code: str, description: str | None) -> None:
        self.book.edit_codes(self.GROUP, {code: description})
        self.model[code] = cc.CodeEntry(code, description)

    @rule(code=stored)
    def get_stored(self, code: str) -> None:
        assert self.book.get(self.GROUP, code) == self.model[code]

    @rule(code=codes_of(3))
    def get(self, code: str) -> None:
        assert self.book.get(self.GROUP, code) == self.model.get(code)

    @rule(prefix=st.text(alphabet="0123456789", max_size=2), limit=st.integers(1, 5))
    def list_page(self, prefix: str, limit: int) -> None:
        expected = [self.model[c] for c in sorted(self.model) if c.startswith(prefix)][:limit]
        assert self.book.codes(self.GROUP, prefix=prefix, limit=limit) == expected

    @precondition(lambda self: not self.model)
    @rule(length=st.integers(2, 6))
    def change_length(self, length: int) -> None:
        self.book.set_group(self.GROUP, cc.GroupSettings(code_length=length))
        self.book.set_group(self.GROUP, cc.GroupSettings(code_length=3))

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.book._check()
        assert self.book.count(self.GROUP) == len(self.model)


TestBookMachine = BookMachine.TestCase


class CompactBookMachine(BookMachine):
    """The same operations on a compact book."""

    compact = True


TestCompactBookMachine = CompactBookMachine.TestCase


class TestConcurrency:
    """Readers deciding calls on other threads never see half a batch."""

    def test_decisions_see_a_group_replacement_whole_or_not_at_all(self) -> None:
        """A reader sees state A or state B of a group, never a mix of the two."""
        book = cc.CodeBook()
        users = frozenset({"alice"})
        codes = [f"{i:05d}" for i in range(5_000)]
        auth = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, code_length=5, mandatory_users=users)
        account = cc.GroupSettings(mode=cc.Mode.ACCOUNT, code_length=5, mandatory_users=users)
        state_a, state_b = (auth, codes), (account, [])
        book.replace_group("acme", *state_a)
        call = cc.Call("acme", "alice", "1", cc.CallType.NATIONAL)
        seen: set[tuple[cc.Verdict, cc.Reason, bool]] = set()
        readers = 3
        decided = [0] * readers  # decisions each reader has finished
        done = threading.Event()
        rounds = 20

        def writer() -> None:
            for round_number in range(rounds):
                book.replace_group("acme", *state_b)
                if round_number == 0:
                    # Keep state B until a decision has begun since it was put in place, so that
                    # it is seen: each reader has at most one decision under way, so that is
                    # certain once one more than that many have finished.
                    wanted = sum(decided) + readers + 1
                    deadline = time.monotonic() + 60
                    while sum(decided) < wanted and time.monotonic() < deadline:
                        if not any(thread.is_alive() for thread in threads[:readers]):
                            break  # every reader failed: the assertion below says so
                        time.sleep(0.001)
                book.replace_group("acme", *state_a)
            done.set()

        def reader(slot: int) -> None:
            while True:
                last = done.is_set()  # then this decision sees the final state A
                decision = cc.decide(book, call, "04999")
                seen.add((decision.verdict, decision.reason, decision.entry is not None))
                decided[slot] += 1
                if last:
                    return

        threads = [threading.Thread(target=reader, args=(slot,)) for slot in range(readers)]
        threads.append(threading.Thread(target=writer))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert seen == {
            (cc.Verdict.ALLOW, cc.Reason.AUTHORIZED, True),  # state A
            (cc.Verdict.LOG_ONLY, cc.Reason.ACCOUNT_CODE, False),  # state B
        }
        book._check()

    def test_a_decider_arriving_mid_change_sees_old_or_new_settings_whole(self) -> None:
        """A decision taken while set_group is being applied sees the old or the new policy."""
        users = frozenset({"alice"})
        book = cc.CodeBook()
        book.set_group("acme", cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users=users))
        book.add_codes("acme", ["1234"])
        call = cc.Call("acme", "alice", "1", cc.CallType.NATIONAL)
        seen: list[cc.Reason] = []
        reader = threading.Thread(target=lambda: seen.append(cc.decide(book, call, "1234").reason))

        class ReaderInTheMiddle(cc.GroupSettings):
            """Settings that let a reader decide the first time they are asked what needs a code.

            set_group asks the new settings, through the public needs_code, which call types need
            a code while it builds the group's new state and before it puts that state in place:
            the reader arrives at that moment, as one could on a busy server.
            """

            def needs_code(self, call_type: cc.CallType) -> bool:
                if reader.ident is None:  # not started yet: this is the first question
                    reader.start()
                    reader.join(timeout=0.2)
                return super().needs_code(call_type)

        after = ReaderInTheMiddle(
            mode=cc.Mode.ACCOUNT, mandatory_users=users, coded_call_types={"international"}
        )
        book.set_group("acme", after)
        assert reader.ident is not None, "set_group never asked the new settings"
        reader.join()
        # Before the change: AUTHORIZED; after it: EXEMPT_CALL_TYPE. A torn read (the new
        # account mode with the old coded types) would log an ACCOUNT_CODE.
        assert seen in ([cc.Reason.AUTHORIZED], [cc.Reason.EXEMPT_CALL_TYPE])
        assert cc.decide(book, call, "1234").reason is cc.Reason.EXEMPT_CALL_TYPE
        book._check()
