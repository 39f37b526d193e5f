"""Field checks shared by forms and API serializers."""

from __future__ import annotations

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
