"""Field checks shared by forms and API serializers."""

from __future__ import annotations

import posixpath
import re
import uuid

from django.core.exceptions import ValidationError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TENANT_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def validate_dns_label(value: str) -> None:
    """Kubernetes names (DNS-1123 label): lower-case letters, digits and '-', at most 63."""
    if len(value) > 63 or not DNS_LABEL.match(value):
        raise ValidationError(
            f"{value!r} is not a valid name: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (DNS-1123 label).",
            code="dns_label",
        )


def validate_storage_account_name(value: str) -> None:
    """Azure's rule for storage account names, saying which part of it the name breaks."""
    rule = "A storage account name is 3 to 24 lower-case letters and digits, unique in Azure"
    odd = sorted(
        {char for char in value if not (char.islower() or char.isdigit()) or not char.isascii()}
    )
    if odd:
        shown = ", ".join(f"'{char}'" for char in odd)
        raise ValidationError(f"{rule}: '{value}' has {shown}.", code="account_name")
    if not 3 <= len(value) <= 24:
        raise ValidationError(
            f"{rule}: '{value}' has {len(value)} characters.", code="account_name"
        )


def validate_guid(value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ValidationError(
            f"{value!r} is not a GUID (e.g. 00000000-0000-0000-0000-000000000000).", code="guid"
        ) from exc


def validate_tenant(value: str) -> None:
    """A tenant is a directory GUID or a verified domain such as contoso.onmicrosoft.com."""
    try:
        uuid.UUID(value)
    except ValueError:
        if not TENANT_DOMAIN.match(value):
            raise ValidationError(
                f"{value!r} is neither a tenant GUID nor a domain name.", code="tenant"
            ) from None


def clean_host_path_exemptions(value) -> list[dict[str, str]]:
    """Named read-only hostPath exemptions: [{"name", "path", "reason"}], each path absolute and
    normalised, never "/" (that is the privileged level, which says so)."""
    from clusters.choices import MAX_POD_SECURITY_EXEMPTIONS

    if not isinstance(value, list) or len(value) > MAX_POD_SECURITY_EXEMPTIONS:
        raise ValidationError(
            f"A list of at most {MAX_POD_SECURITY_EXEMPTIONS} exemptions "
            '({"name", "path", "reason"}).'
        )
    cleaned, names = [], set()
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) - {"name", "path", "reason"}:
            raise ValidationError(f'Exemption {number}: an object with "name", "path", "reason".')
        name, path, reason = (item.get(key, "") for key in ("name", "path", "reason"))
        if not all(isinstance(part, str) for part in (name, path, reason)):
            raise ValidationError(f"Exemption {number}: name, path and reason are strings.")
        try:
            validate_dns_label(name)
        except ValidationError as exc:
            raise ValidationError(f"Exemption {number}: {exc.messages[0]}") from None
        if name in names:
            raise ValidationError(f"Exemption {number}: the name {name!r} is used twice.")
        names.add(name)
        parts = path.split("/")
        if (not path.startswith("/") or ".." in parts or "\x00" in path or len(path) > 300
                or posixpath.normpath(path) != path):  # fmt: skip
            raise ValidationError(
                f"Exemption {number}: {path!r} must be an absolute, normalised host path "
                "(no .., no trailing /)."
            )
        if path == "/":
            raise ValidationError(
                f"Exemption {number}: exempting / allows the whole node; set the privileged "
                "level instead if that is really meant."
            )
        if not reason.strip() or len(reason) > 300:
            raise ValidationError(f"Exemption {number}: say why (a reason of 1 to 300 characters).")
        cleaned.append({"name": name, "path": path, "reason": reason.strip()})
    return cleaned
