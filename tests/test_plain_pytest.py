"""`pytest` as a newcomer types it (no DATABASE_URL) runs the way `make test` does."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTEST = str(Path(sys.executable).with_name("pytest"))
PROBE = (
    "tests/core/test_bootstrap.py::test_first_start_creates_admin_and_local_cluster_and_reuses_them"
)

pytestmark = [pytest.mark.slow]


def _pytest(env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTEST, PROBE, "-p", "no:cacheprovider", *extra], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_plain_pytest_runs_on_a_throwaway_postgresql_and_sqlite_only_when_chosen():
    """No DATABASE_URL: a PostgreSQL server of the session's own, removed afterwards; an empty
    DATABASE_URL is the explicit choice of SQLite."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    plain = _pytest(env)
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert "database: throwaway PostgreSQL on port" in plain.stdout
    assert "1 passed" in plain.stdout
    port = int(re.search(r"throwaway PostgreSQL on port (\d+)", plain.stdout).group(1))
    with pytest.raises(OSError):  # its server stopped with the session
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

    sqlite = _pytest({**env, "DATABASE_URL": ""}, "--collect-only")
    assert sqlite.returncode == 0, sqlite.stdout[-3000:]
    assert "database: SQLite (DATABASE_URL=)" in sqlite.stdout
