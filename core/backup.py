"""One archive with everything a panel needs to come back: the database, the encryption keys
and the uploaded files (`manage.py backup PATH`, `manage.py restore PATH`).

The archive is a gzip'd tar:

    manifest.json        format, time, database vendor, what is inside, warnings
    database.sqlite3     SQLite: a consistent copy made with SQLite's online backup API
    database.pgdump      PostgreSQL: `pg_dump --format=custom` (one consistent snapshot)
    encryption.keys      the key file, when the keys come from it (not when from ENCRYPTION_KEYS)
    secret_key           the generated SECRET_KEY file, when there is one (sessions survive)
    media/...            uploaded files: face images, known faces, thumbnails

Both commands run while the panel runs (the database is read in one snapshot; files are copied
after it, so every file a row names is there). A restore goes only into an empty database and
data directory, and checks at the end that every stored secret decrypts.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from core.crypto import _key_lines, _multifernet, _stored_ciphertexts, decrypt

logger = logging.getLogger(__name__)

FORMAT = 1
SQLITE_NAME = "database.sqlite3"
PG_NAME = "database.pgdump"
KEYS_NAME = "encryption.keys"
SECRET_KEY_NAME = "secret_key"
MEDIA_DIR = "media"
KEYS_FROM_ENV = (
    "The encryption keys come from ENCRYPTION_KEYS (the environment), so the archive does not "
    "hold them: keep them with it. Without them no stored credential can be decrypted."
)


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what to do."""


@dataclass
class Report:
    path: Path
    database: str
    files: int = 0
    keys: bool = False
    warnings: list[str] = field(default_factory=list)
    secrets_checked: int = 0


def _pg_tool(name: str) -> str:
    """pg_dump/pg_restore: on PATH, else the newest of Debian's server installs."""
    found = shutil.which(name) or next(
        iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise BackupError(
            f"{name} is not installed: install PostgreSQL's client (postgresql-client)."
        )
    return found


def _pg_args(db: dict) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for the PostgreSQL tools; the password travels in the environment,
    never on a command line others can read."""
    args = ["--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", db["HOST"]]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    sslmode = db.get("OPTIONS", {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = sslmode
    return args, env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip()[-500:]}")


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(timezone.now().timestamp())
    archive.addfile(info, io.BytesIO(data))


def backup_write(*, path: Path) -> Report:
    """Write the archive to `path` (through a temporary file: a failed backup leaves nothing)."""
    connection = connections[DEFAULT_DB_ALIAS]
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"backing up a {vendor} database is not supported")
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    report = Report(path=path, database=vendor)
    with tempfile.TemporaryDirectory(prefix="controlpanel-backup-", dir=path.parent) as tmp:
        work = Path(tmp)
        if vendor == "sqlite":
            dump = work / SQLITE_NAME
            connection.ensure_connection()
            target = sqlite3.connect(dump)
            try:
                connection.connection.backup(target)  # a consistent copy while others write
            finally:
                target.close()
        else:
            dump = work / PG_NAME
            args, env = _pg_args(connection.settings_dict)
            _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  "--file", str(dump), *args], env, "pg_dump")  # fmt: skip
        partial = work / "archive.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(dump, arcname=dump.name)
            if settings.ENCRYPTION_KEYS:
                report.warnings.append(KEYS_FROM_ENV)
            elif _key_lines():
                _add_bytes(archive, KEYS_NAME, ("\n".join(_key_lines()) + "\n").encode())
                report.keys = True
            secret_key = settings.DATA_DIR / "secret_key"
            if not os.environ.get("SECRET_KEY") and secret_key.is_file():
                _add_bytes(archive, SECRET_KEY_NAME, secret_key.read_bytes())
            media = Path(settings.MEDIA_ROOT)
            if media.is_dir():
                for file in sorted(media.rglob("*")):
                    if file.is_file() and not file.is_symlink():
                        archive.add(file, arcname=f"{MEDIA_DIR}/{file.relative_to(media)}")
                        report.files += 1
            manifest = {
                "format": FORMAT, "created_at": timezone.now().isoformat(), "database": vendor,
                "database_file": dump.name, "keys": report.keys, "files": report.files,
                "warnings": report.warnings,
            }  # fmt: skip
            _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode(), 0o644)
        os.chmod(partial, 0o600)  # it holds the keys and every secret's ciphertext
        os.replace(partial, path)
    return report


def _database_is_empty(connection) -> bool:
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    return not tables


def _read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        manifest = json.load(archive.extractfile("manifest.json"))
    except (KeyError, ValueError) as exc:
        raise BackupError("not a panel backup: manifest.json is missing or unreadable") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not {FORMAT}")
    return manifest


def backup_restore(*, path: Path) -> Report:
    """Restore the archive at `path` into this panel's (empty) database and data directory."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        archive = tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{path} cannot be read as a backup: {exc}") from exc
    with archive, tempfile.TemporaryDirectory(prefix="controlpanel-restore-") as tmp:
        manifest = _read_manifest(archive)
        if manifest["database"] != connection.vendor:
            raise BackupError(
                f"the backup is of a {manifest['database']} database; this panel uses "
                f"{connection.vendor} (set DATABASE_URL to match)"
            )
        if not _database_is_empty(connection):
            raise BackupError(
                "the database is not empty: restore only into a new one (a fresh DATABASE_URL "
                "database, or a data directory without db.sqlite3)"
            )
        media = Path(settings.MEDIA_ROOT)
        if media.is_dir() and any(media.iterdir()):
            raise BackupError(f"{media} already holds files: restore into an empty data directory")
        has_keys = KEYS_NAME in archive.getnames()
        if has_keys and settings.ENCRYPTION_KEYS:
            raise BackupError("the backup holds its keys: unset ENCRYPTION_KEYS to restore them")
        if has_keys and settings.ENCRYPTION_KEY_FILE.exists():
            raise BackupError(
                f"{settings.ENCRYPTION_KEY_FILE} exists: restore into an empty data directory"
            )
        # The `data` filter refuses absolute paths, links out of the tree and device files.
        archive.extractall(tmp, filter="data")
        work = Path(tmp)
        report = Report(path=path, database=connection.vendor, keys=has_keys,
                        warnings=list(manifest.get("warnings", [])))  # fmt: skip

        dump = work / manifest["database_file"]
        if connection.vendor == "sqlite":
            connection.ensure_connection()
            source = sqlite3.connect(dump)
            try:
                source.backup(connection.connection)
            finally:
                source.close()
        else:
            connection.close()
            args, env = _pg_args(connection.settings_dict)
            _run([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                  *args, str(dump)], env, "pg_restore")  # fmt: skip
        connection.close()

        if has_keys:
            key_file = settings.ENCRYPTION_KEY_FILE
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write((work / KEYS_NAME).read_bytes())
            _multifernet.cache_clear()
        secret_key = work / SECRET_KEY_NAME
        if secret_key.exists() and not os.environ.get("SECRET_KEY"):
            target = settings.DATA_DIR / "secret_key"
            target.write_bytes(secret_key.read_bytes())
            target.chmod(0o600)
        if (work / MEDIA_DIR).is_dir():
            media.mkdir(parents=True, exist_ok=True)
            for file in sorted((work / MEDIA_DIR).rglob("*")):
                if file.is_file():
                    destination = media / file.relative_to(work / MEDIA_DIR)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(file, destination)
                    report.files += 1
    # Every stored secret must decrypt with the keys this panel now has.
    for ciphertext in _stored_ciphertexts():
        decrypt(ciphertext)
        report.secrets_checked += 1
    return report
