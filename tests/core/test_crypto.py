"""Secrets at rest: encryption, key checks at start-up, rotation."""

import os
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from clusters.choices import CredentialKind
from clusters.services import credential_create
from core import crypto
from core.services import SYSTEM

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Value-that-must-never-leak"


@pytest.fixture
def fresh_keys(settings, tmp_path):
    """No key in the environment; a key file in a temp folder."""
    settings.ENCRYPTION_KEYS = []
    settings.ENCRYPTION_KEY_FILE = tmp_path / "encryption.keys"
    crypto._multifernet.cache_clear()
    yield settings
    crypto._multifernet.cache_clear()


def _azure(name="sp"):
    return credential_create(
        actor=SYSTEM,
        name=name,
        kind=CredentialKind.AZURE,
        tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47",
        client_id="11111111-2222-3333-4444-555555555555",
        subscription_id="00000000-0000-0000-0000-000000000001",
        client_secret=SECRET,
    )


@pytest.mark.smoke
def test_the_raw_database_column_holds_ciphertext_only():
    """The stored column is Fernet ciphertext that decrypts back to the secret."""
    credential = _azure()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_data FROM clusters_credential WHERE id = %s", [credential.pk])
        raw = cursor.fetchone()[0]
    assert SECRET not in raw
    assert raw.startswith("gAAAA")  # Fernet token version byte, base64
    assert credential.secrets()["client_secret"] == SECRET


def test_a_fresh_install_gets_a_private_key_file(fresh_keys):
    """The first start generates one key, readable by the owner only."""
    assert crypto.ensure_key_file() is True
    mode = stat.S_IMODE(os.stat(fresh_keys.ENCRYPTION_KEY_FILE).st_mode)
    assert mode == 0o600
    assert crypto.ensure_key_file() is False  # reused, not replaced


def test_a_missing_key_over_existing_data_stops_with_a_fix(fresh_keys):
    """A key is never silently regenerated over encrypted data."""
    crypto.ensure_key_file()
    _azure()
    fresh_keys.ENCRYPTION_KEY_FILE.unlink()
    crypto._multifernet.cache_clear()
    with pytest.raises(crypto.EncryptionKeyError, match="ENCRYPTION_KEYS"):
        crypto.ensure_key_file()
    with pytest.raises(crypto.EncryptionKeyError, match="restore the key file"):
        crypto.verify_keys()
    assert not fresh_keys.ENCRYPTION_KEY_FILE.exists()


def test_a_wrong_key_is_refused_at_start_up(settings):
    """check_encryption (run by make run) fails when the key cannot read the secrets."""
    _azure()
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    crypto._multifernet.cache_clear()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("check_encryption")


def test_a_malformed_key_is_explained(settings):
    settings.ENCRYPTION_KEYS = ["not-a-key"]
    crypto._multifernet.cache_clear()
    with pytest.raises(crypto.EncryptionKeyError, match="malformed"):
        crypto.encrypt("x")


def test_rotation_re_encrypts_with_the_new_key(fresh_keys):
    """After rotation the secrets decrypt with the new key alone."""
    crypto.ensure_key_file()
    credential = _azure()
    before = credential.secret_data
    call_command("rotate_encryption_keys")
    credential.refresh_from_db()
    assert credential.secret_data != before
    keys = fresh_keys.ENCRYPTION_KEY_FILE.read_text().split()
    assert len(keys) == 2
    newest_only = Fernet(keys[0].encode())
    assert SECRET in newest_only.decrypt(credential.secret_data.encode()).decode()
