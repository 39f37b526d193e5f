"""`manage.py backup` and `manage.py restore`, end to end: a panel's data written to one archive
and brought back by a fresh process into an empty data directory and database."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import tarfile
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.factories import LocalClusterFactory

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: restore-me}}]\n"
IMAGE = b"\xff\xd8\xff\xe0 a face image \xff\xd9"
KNOWN = b"\xff\xd8\xff\xe0 a known face \xff\xd9"

CHECK = """
import hashlib, json
from django.conf import settings
from clusters.models import Credential
from workloads.models import Run
from faces.models import FaceImage, KnownFace
run = Run.objects.get()
print(json.dumps({
    "secret": Credential.objects.get(name="prod").secrets()["kubeconfig"],
    "run": [run.state, run.template.slug, run.log_cursor],
    "lines": list(run.log_lines.order_by("cursor").values_list("text", flat=True)),
    "results": list(run.face_results.values_list("person", "status")),
    "image": hashlib.sha256(FaceImage.objects.get().file.read()).hexdigest(),
    "known": hashlib.sha256(KnownFace.objects.get().file.read()).hexdigest(),
}))
"""


def _panel_data(settings, tmp_path):
    """A panel with a credential, a run with its log and face results, and uploaded images."""
    from clusters.models import Credential
    from core.crypto import _multifernet, encrypt
    from faces.models import FaceImage, KnownFace, Person
    from workloads.models import FaceResult, Run, RunLogLine, WorkloadTemplate

    Credential.objects.create(
        name="prod", kind="kubeconfig", secret_data=encrypt(json.dumps({"kubeconfig": KUBECONFIG}))
    )
    template = WorkloadTemplate.objects.create(slug="faces-batch", name="Faces", kind="face_batch")
    run = Run.objects.create(template=template, cluster=LocalClusterFactory(), state="succeeded",
                             log_cursor=3, finished_at=timezone.now())  # fmt: skip
    RunLogLine.objects.bulk_create(
        RunLogLine(run=run, cursor=n, text=f"line {n}", time=timezone.now()) for n in (1, 2, 3)
    )
    FaceResult.objects.create(run=run, image="a.jpg", person="Ada", status="identified")
    image = FaceImage(source="upload", status="processed")
    image.file.save("a.jpg", ContentFile(IMAGE))
    person = Person.objects.create(name="Ada")
    known = KnownFace(person=person, source="upload", encoding=b"\0" * 8)
    known.file.save("ada.jpg", ContentFile(KNOWN))
    _multifernet.cache_clear()


def _panel_env(data_dir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENCRYPTION_KEYS", "SECRET_KEY", "DATABASE_URL")}  # fmt: skip
    return env | {"CONTROLPANEL_DATA_DIR": str(data_dir), "DATABASE_URL": database_url,
                  "REDIS_URL": redis_url}  # fmt: skip


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)  # fmt: skip


@pytest.fixture
def empty_database(transactional_db):
    """A new, empty database of the same kind as the tests' (its URL; "" is SQLite)."""
    if connection.vendor == "sqlite":
        yield ""
        return
    db = connection.settings_dict
    name = f"restore_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{name}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.mark.smoke
@pytest.mark.slow
def test_a_restored_panel_has_every_credential_run_log_and_face_result(
    settings, tmp_path, empty_database, redis_url
):
    """Back up a panel whose keys are in the key file, restore it with a fresh process into an
    empty data directory: credentials decrypt, runs, logs, results and images are there."""
    from core.crypto import _multifernet

    key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = []
    settings.ENCRYPTION_KEY_FILE = tmp_path / "source" / "encryption.keys"
    settings.ENCRYPTION_KEY_FILE.parent.mkdir()
    settings.ENCRYPTION_KEY_FILE.write_text(key + "\n")
    settings.MEDIA_ROOT = tmp_path / "source" / "media"
    _multifernet.cache_clear()
    try:
        _panel_data(settings, tmp_path)
        archive = tmp_path / "backups" / "panel.tar.gz"
        out, err = StringIO(), StringIO()
        call_command("backup", str(archive), stdout=out, stderr=err)
    finally:
        _multifernet.cache_clear()
    assert err.getvalue() == ""  # keys from the file: no warning
    assert "the encryption keys, 2 uploaded files" in out.getvalue()
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "encryption.keys"} <= names
    assert ("database.sqlite3" if connection.vendor == "sqlite" else "database.pgdump") in names

    restored = tmp_path / "restored"
    env = _panel_env(restored, empty_database, redis_url)
    result = _manage(env, "restore", str(archive))
    assert result.returncode == 0, result.stderr
    assert "2 uploaded files; 1 stored secrets decrypt" in result.stdout
    assert (restored / "encryption.keys").read_text().strip() == key
    assert oct((restored / "encryption.keys").stat().st_mode & 0o777) == "0o600"

    checked = _manage(env, "shell", "-c", CHECK)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout.splitlines()[-1]) == {
        "secret": KUBECONFIG,
        "run": ["succeeded", "faces-batch", 3],
        "lines": ["line 1", "line 2", "line 3"],
        "results": [["Ada", "identified"]],
        "image": hashlib.sha256(IMAGE).hexdigest(),
        "known": hashlib.sha256(KNOWN).hexdigest(),
    }
    assert _manage(env, "check_encryption").returncode == 0

    # A second restore over the restored panel is refused and changes nothing.
    again = _manage(env, "restore", str(archive))
    assert again.returncode != 0
    assert "not empty" in again.stderr or "already holds files" in again.stderr
    assert _manage(env, "shell", "-c", CHECK).stdout == checked.stdout


@pytest.mark.smoke
def test_a_backup_warns_when_the_keys_come_from_the_environment(
    settings, tmp_path, transactional_db
):
    settings.MEDIA_ROOT = tmp_path / "media"  # the conftest's keys are ENCRYPTION_KEYS
    out, err = StringIO(), StringIO()
    call_command("backup", str(tmp_path / "b.tar.gz"), stdout=out, stderr=err)
    assert "come from ENCRYPTION_KEYS" in err.getvalue() and "keep them" in err.getvalue()
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        assert "encryption.keys" not in tar.getnames()
        assert json.load(tar.extractfile("manifest.json"))["keys"] is False
    assert settings.ENCRYPTION_KEYS[0] not in (tmp_path / "b.tar.gz").read_bytes().decode("latin-1")
