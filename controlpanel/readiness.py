"""What `/readyz` checks: the stores every request may need, and the schema."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from kombu import Connection

logger = logging.getLogger(__name__)

# Once every migration is applied it stays so for this process's life (a newer schema comes
# with a newer image): after the first success the migration graph is not loaded again.
_migrated = False


def _database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


def _migrations() -> None:
    global _migrated
    if _migrated:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise LookupError(f"{len(plan)} migrations not applied (run manage.py migrate)")
    _migrated = True


CHECKS = {"database": _database, "redis": _redis, "broker": _broker, "migrations": _migrations}


def readiness_checks() -> dict[str, str]:
    """{check: "ok" or why not}. The reasons name the failure's kind, never a URL (URLs may
    carry passwords)."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except LookupError as exc:
            results[name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready, and says which
            logger.warning("readyz: %s failed: %s", name, type(exc).__name__)
            results[name] = f"unavailable ({type(exc).__name__})"
        else:
            results[name] = "ok"
        if name == "database" and results[name] != "ok":
            results["migrations"] = "unknown (no database)"
            break
    return results
