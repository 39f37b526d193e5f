"""An installation from before the one-folder-per-capability layout upgrades in place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _postgres_database():
    """A new, empty database on the suite's PostgreSQL server; dropped afterwards."""
    import psycopg

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL, which plain `pytest` starts (this run chose SQLite)")
    server = {
        "host": db["HOST"],
        "port": db["PORT"],
        "user": db["USER"],
        "password": db["PASSWORD"],
    }
    name = f"layout_upgrade_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{name}"

    def drop():
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def _step(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("engine", [pytest.param("sqlite", marks=pytest.mark.smoke), "postgresql"])
def test_an_installation_from_before_the_layout_keeps_every_row(engine, tmp_path):
    """Rows of the tables that changed app are all there after `migrate`, the API token still
    authenticates and the stored secret still decrypts."""
    drop = None
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        url, drop = _postgres_database()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CONTROLPANEL_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "controlpanel.settings",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    try:
        built = json.loads(_step(env, "-m", "tests.core.layout_upgrade", "build"))
        migrated = _step(env, "manage.py", "migrate", "--noinput")
        assert "Applying core.0001_initial... OK" in migrated
        found = json.loads(_step(env, "-m", "tests.core.layout_upgrade", "check"))
    finally:
        if drop:
            drop()

    assert found["me"]["status"] == 200 and found["me"]["username"] == "ops"
    assert found["role"] == "operator"
    assert found["tokens"] == 1
    assert found["secret"]["kubeconfig"].endswith("# the upgrade keeps this readable\n")
    assert found["cluster"] == "edge"
    assert found["log"] == ["line 1", "line 2", "line 3"]
    assert found["camera"] == {"name": "gate", "run": built["run"], "processing": "lanes"}
    assert found["audit"] == ["create", "login_failed"]
    # The tables were renamed to their apps' names, not copied beside the old ones.
    # (cameras_camera_viewer_*: the per-camera viewers a later migration adds.)
    assert found["tables"] == [
        "cameras_camera", "cameras_camera_viewer_groups", "cameras_camera_viewer_users",
        "core_apitoken", "core_auditevent", "core_profile",
    ]  # fmt: skip
    assert found["content_types"] == [
        "cameras.camera", "core.apitoken", "core.auditevent", "core.profile",
    ]  # fmt: skip
    assert found["legacy_migrations"] == 0
