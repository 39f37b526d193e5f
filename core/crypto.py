"""Encryption of secrets at rest with Fernet keys (MultiFernet: newest key first).

Keys come from ``ENCRYPTION_KEYS`` (comma-separated) or the key file (one key per line, mode
0600). The key file is generated only on a fresh install, never over existing encrypted data.
Fields holding ciphertext are ``EncryptedTextField`` columns; code encrypts and decrypts
explicitly through this module, so a wrong key can never silently turn into plaintext or loss.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

HOW_TO_FIX = (
    "Set ENCRYPTION_KEYS to the Fernet key(s) the panel was using (comma-separated, newest first) "
    "or restore the key file {path}. Never generate a new key over existing data: secrets "
    "encrypted with the old key would become unreadable."
)


class EncryptionKeyError(ImproperlyConfigured):
    """The configured keys are missing, malformed or do not decrypt the stored secrets."""


class EncryptedTextField(models.TextField):
    """A text column that holds Fernet ciphertext (encrypt with ``encrypt``; never plaintext)."""


def _key_lines() -> list[str]:
    if settings.ENCRYPTION_KEYS:
        return list(settings.ENCRYPTION_KEYS)
    path = settings.ENCRYPTION_KEY_FILE
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@lru_cache(maxsize=1)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise EncryptionKeyError(
            "An encryption key is malformed (a Fernet key is 32 url-safe base64-encoded bytes). "
            + HOW_TO_FIX.format(path=settings.ENCRYPTION_KEY_FILE)
        ) from exc


def get_fernet() -> MultiFernet:
    keys = tuple(_key_lines())
    if not keys:
        raise EncryptionKeyError(
            "No encryption key is configured. "
            + HOW_TO_FIX.format(path=settings.ENCRYPTION_KEY_FILE)
            + " On a fresh install, `manage.py bootstrap_demo` (run by `make run`) creates one."
        )
    return _multifernet(keys)


def encrypt(plaintext: str) -> str:
    return get_fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return get_fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise EncryptionKeyError(
            "A stored secret cannot be decrypted with the configured keys. "
            + HOW_TO_FIX.format(path=settings.ENCRYPTION_KEY_FILE)
        ) from exc


def encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedTextField):
                yield model, field.name


def _stored_ciphertexts(limit: int | None = None) -> Iterator[str]:
    for model, name in encrypted_fields():
        qs = model.objects.exclude(**{name: ""}).values_list(name, flat=True)
        yield from qs[:limit] if limit else qs


def has_encrypted_data() -> bool:
    return any(True for _ in _stored_ciphertexts(limit=1))


def ensure_key_file() -> bool:
    """Create the key file on a fresh install. Returns True when a key was generated."""
    if _key_lines():
        return False
    if has_encrypted_data():
        raise EncryptionKeyError(
            "Encrypted secrets exist but no key is configured. "
            + HOW_TO_FIX.format(path=settings.ENCRYPTION_KEY_FILE)
        )
    path = settings.ENCRYPTION_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(Fernet.generate_key().decode() + "\n")
    _multifernet.cache_clear()
    return True


def verify_keys() -> None:
    """Fail with a message saying how to fix it when the keys cannot read the stored secrets."""
    get_fernet()
    for ciphertext in _stored_ciphertexts(limit=1):
        decrypt(ciphertext)


def rotate_keys(*, new_key: str | None = None) -> tuple[str, int]:
    """Put a new key first, re-encrypt every stored secret with it. Returns (key, rows)."""
    from django.db import transaction

    new_key = new_key or Fernet.generate_key().decode()
    Fernet(new_key.encode())  # validates the format before anything is touched
    old = _key_lines()
    keys = (new_key, *old)
    if not settings.ENCRYPTION_KEYS:
        # The file gains the new key before any row changes, so every row stays readable
        # whatever happens next.
        path = settings.ENCRYPTION_KEY_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(keys) + "\n")
        os.replace(tmp, path)
    fernet = _multifernet(keys)
    count = 0
    with transaction.atomic():
        for model, name in encrypted_fields():
            for pk, value in model.objects.exclude(**{name: ""}).values_list("pk", name):
                model.objects.filter(pk=pk).update(**{name: fernet.rotate(value.encode()).decode()})
                count += 1
    _multifernet.cache_clear()
    return new_key, count
