"""Plain `pytest` runs the suite the way `make test` does: on a throwaway PostgreSQL server.

When no DATABASE_URL is given, a server is initdb'ed into a temp dir and started on a free port
for the session (tests/tools/with_postgres.py), and the suite's database settings point at it
before any connection is made. An explicit DATABASE_URL wins: `make test-postgres` gives its
own server, and `DATABASE_URL= pytest ...` (empty) is the explicit choice of SQLite, as
`make test-sqlite` makes it. Registered in tests/conftest.py.
"""

from __future__ import annotations

import os

import pytest

_SERVER_KEY = pytest.StashKey[object]()


def pytest_configure(config: pytest.Config) -> None:
    # Before pytest-django's own pytest_configure (trylast) sets Django up.
    if "DATABASE_URL" in os.environ or config.option.help or config.option.version:
        return
    from tests.tools.with_postgres import PostgresServer, missing_binaries

    problem = missing_binaries()
    if problem:
        raise pytest.UsageError(
            f"{problem}. The suite runs on PostgreSQL as `make test` does; install it (`make "
            "system-packages`), give DATABASE_URL, or choose SQLite with `DATABASE_URL= pytest`."
        )
    server = PostgresServer()
    server.start()
    config.add_cleanup(server.remove)
    server.run("createdb", "controlpanel")
    os.environ["DATABASE_URL"] = server.url()  # child processes (Daphne, the stack) read it
    config.stash[_SERVER_KEY] = server

    from django.conf import settings
    from django.db import connections

    from controlpanel.settings import url_database

    settings.DATABASES["default"] = url_database(server.url())
    connections.__dict__.pop("settings", None)  # in case anything read them already


def pytest_report_header(config: pytest.Config) -> str | None:
    server = config.stash.get(_SERVER_KEY, None)
    if server is not None:
        return (
            f"database: throwaway PostgreSQL on port {server.port} "
            "(give DATABASE_URL to use another, `DATABASE_URL=` for SQLite)"
        )
    url = os.environ.get("DATABASE_URL", "")
    return "database: PostgreSQL from DATABASE_URL" if url else "database: SQLite (DATABASE_URL=)"
