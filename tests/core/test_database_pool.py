"""DATABASE_POOL=1: the web process lends PostgreSQL connections from a pool. Under ASGI each
request runs in a thread of its own, so without it every request opens a connection and leaves
it idle behind (kept for CONN_MAX_AGE)."""

from __future__ import annotations

import urllib.request

import pytest
from django.db import connection

from core.services import SYSTEM, token_create
from tests.factories import UserFactory

pytestmark = [pytest.mark.live]
REQUESTS = 25
POOL_SIZE = 3


def backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def pooled(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.fail("the pool is PostgreSQL's: run under tests.tools.with_postgres (make test)")
    monkeypatch.setenv("DATABASE_POOL", "1")
    monkeypatch.setenv("DATABASE_POOL_SIZE", str(POOL_SIZE))


def test_the_web_process_serves_every_request_from_a_bounded_pool(pooled, daphne_server):
    _row, token = token_create(
        actor=SYSTEM, user=UserFactory(username="pool", role="admin"), name="pool"
    )
    before = backends()
    for _ in range(REQUESTS):
        request = urllib.request.Request(
            f"{daphne_server}/api/users/", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    # One connection per request without the pool (REQUESTS more backends); at most the pool's.
    assert backends() - before <= POOL_SIZE
