"""Shared test settings: hypothesis profiles (fast by default, thorough on CI); PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from pgserver import PostgresServer

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# PostgreSQL for the tests that need it: one server per test session, a database per test.
# Imported here rather than at the top so that a test run without the postgres extra still
# collects every other test.
@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server (installed from Debian when missing), stopped by pid."""
    from pgserver import running_server

    with running_server(tmp_path_factory.mktemp("apt") / "apt.log") as server:
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a new empty database on the test server, one per test."""
    return postgres.create_database(f"t{next(_databases)}")


_databases = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Open this test's policy store (the same database at each call), on each backend:
    an SQLite file, and a PostgreSQL database of the test server."""
    if request.param == "sqlite":
        from callcodes.store import PolicyStore

        where = tmp_path / "policy.db"
        return lambda **options: PolicyStore(where, **options)
    from callcodes.store.postgres import PostgresPolicyStore

    url = request.getfixturevalue("pg_url")
    return lambda **options: PostgresPolicyStore(url, **options)
