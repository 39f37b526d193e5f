"""`make run`'s first-start step and the API description."""

import re

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command

from clusters.models import Cluster

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_first_start_creates_admin_and_local_cluster_and_reuses_them(capsys, settings):
    call_command("bootstrap_demo")
    out = capsys.readouterr().out
    password = re.search(r"password: (\S+)", out).group(1)
    # Last, in a box, and in a file only the panel's user reads, whose path is printed.
    tail = out.strip().splitlines()
    assert tail[-1].startswith("+--") and f"password: {password}" in "\n".join(tail[-8:])
    secret_file = settings.DATA_DIR / "admin-password.txt"
    assert str(secret_file) in out
    assert secret_file.read_text().strip() == password
    assert secret_file.stat().st_mode & 0o777 == 0o600
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(password)
    assert password not in admin.password  # only the hash is kept
    local = Cluster.objects.get(kind="local")
    assert local.status == "healthy" and local.nodes[0]["cpu"] >= 1

    call_command("bootstrap_demo")
    again = capsys.readouterr().out
    assert "password" not in again
    assert Cluster.objects.filter(kind="local").count() == 1
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_the_openapi_schema_describes_the_api(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = schema["paths"]
    for path in (
        "/api/clusters/",
        "/api/clusters/{id}/",
        "/api/credentials/{id}/test/",
        "/api/tokens/",
        "/api/audit/",
        "/api/users/",
    ):
        assert path in paths, path
    cluster = schema["components"]["schemas"]["Cluster"]["properties"]
    assert {"status", "version", "nodes"} <= set(cluster)
    credential_request = schema["components"]["schemas"]["CredentialRequest"]["properties"]
    assert "client_secret" in credential_request
    assert "client_secret" not in schema["components"]["schemas"]["Credential"]["properties"]
    assert "Token" in str(schema["components"]["securitySchemes"])


def test_the_api_docs_page_needs_no_cdn(client):
    html = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg" not in html


@pytest.mark.smoke
def test_the_embedded_sqlite_database_runs_in_wal_mode(tmp_path):
    """Web, worker and beat write to one SQLite file at once: that needs WAL."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    from controlpanel.settings import sqlite_database

    config = {
        **sqlite_database(tmp_path / "db.sqlite3"),
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
    }
    wrapper = DatabaseWrapper(config)
    with wrapper.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    wrapper.close()
