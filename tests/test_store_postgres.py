"""The PostgreSQL store between nodes: a change made on one reaches the others' books.

Each "node" is a store opened on the same database of the test server. A write notifies the
channel when it commits; a node's ChangeListener wakes, and ``refresh`` reads the journal.
"""

from __future__ import annotations

import threading

import pytest

import callcodes as cc
from callcodes.store.postgres import ChangeListener, PostgresPolicyStore
from pgserver import PostgresServer

AUTH = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, code_length=4)
#: Long enough for any real delivery; the tests fail, never hang, past it.
WAIT = 30.0


@pytest.fixture
def nodes(pg_url: str) -> tuple[PostgresPolicyStore, PostgresPolicyStore]:
    admin, node = PostgresPolicyStore(pg_url), PostgresPolicyStore(pg_url)
    admin.set_group("acme", AUTH, actor="ann")
    yield admin, node
    admin.close()
    node.close()


def test_a_change_on_one_node_reaches_the_book_of_another(
    pg_url: str, nodes: tuple[PostgresPolicyStore, PostgresPolicyStore]
) -> None:
    admin, node = nodes
    book = node.load()
    listener = ChangeListener(pg_url)
    try:
        assert not listener.wait(0.05)  # nothing changed since it started listening
        admin.add_codes("acme", ["1234"], actor="ann")
        assert listener.wait(WAIT)
        assert node.refresh(book)
        assert book.get("acme", "1234") == cc.CodeEntry("1234")
    finally:
        listener.close()


def test_a_refused_change_signals_nothing(
    pg_url: str, nodes: tuple[PostgresPolicyStore, PostgresPolicyStore]
) -> None:
    admin, _node = nodes
    listener = ChangeListener(pg_url)
    try:
        with pytest.raises(cc.BatchError):
            admin.add_codes("acme", ["1234", "12x4"], actor="ann")
        assert not listener.wait(0.2)
        admin.add_codes("acme", ["1234"], actor="ann")
        assert listener.wait(WAIT)
    finally:
        listener.close()


def test_a_listener_that_lost_its_connection_says_to_look(
    postgres: PostgresServer, pg_url: str, nodes: tuple[PostgresPolicyStore, PostgresPolicyStore]
) -> None:
    """Notifications sent while it was cut off are lost: it reports a change so that the node
    catches up from the journal, which holds every change."""
    admin, node = nodes
    book = node.load()
    listener = ChangeListener(pg_url)
    try:
        postgres.kill()
        postgres.start()
        assert listener.wait(WAIT)  # the broken connection: look
        admin.add_codes("acme", ["0042"], actor="ann")  # the admin's store reconnects itself
        assert listener.wait(WAIT)  # connected again, or notified
        node_changed = node.refresh(book)
        assert node_changed
        assert book.get("acme", "0042") == cc.CodeEntry("0042")
    finally:
        listener.close()


def test_writers_on_many_nodes_queue_and_lose_nothing(pg_url: str) -> None:
    """Four nodes add 25 codes each at once: every code and every audit record is there once."""
    PostgresPolicyStore(pg_url).set_group("acme", AUTH, actor="ann")

    def node(n: int) -> None:
        with PostgresPolicyStore(pg_url) as store:
            for i in range(25):
                store.add_codes("acme", [f"{n}{i:03d}"], actor=f"node{n}")

    threads = [threading.Thread(target=node, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with PostgresPolicyStore(pg_url) as store:
        assert store.count("acme") == 100
        records = store.audit("acme", action="codes.add")
        assert len(records) == 100
        assert store.version >= 101
