"""'Test connection' for an Azure service principal, with the precise reason on failure."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.resource.resources import ResourceManagementClient
from django.conf import settings

from clusters.azure.clients import ServicePrincipal, management_kwargs

# Microsoft Entra error codes (AADSTS) that name the wrong field.
AADSTS_REASONS = {
    "90002": "the tenant id was not found: check the tenant (directory) id",
    "900023": "the tenant id is not a valid tenant: check the tenant (directory) id",
    "700016": "the client (application) id was not found in this tenant",
    "7000215": "the client secret is wrong: create a new secret for the application",
    "7000222": "the client secret has expired: create a new secret for the application",
}


# What the HTTP stack says when a host cannot be reached, in words (first match wins).
NETWORK_REASONS = (
    (r"Failed to resolve|Name or service not known|getaddrinfo failed|name resolution",
     "its name does not resolve (DNS)"),
    (r"Connection refused", "the connection was refused"),
    (r"timed out|Timeout", "the connection timed out"),
    (r"CERTIFICATE_VERIFY_FAILED|SSLError|certificate", "its TLS certificate is not trusted"),
    (r"Network is unreachable|No route to host", "there is no network route to it"),
    (r"Connection reset|RemoteDisconnected|aborted", "the connection was dropped"),
)  # fmt: skip


class AzureUnreachable(ValueError):
    """Azure was not reached at all: a network problem, not a refusal of the credentials."""


def _service_of(host: str) -> str:
    names = {
        urlsplit(settings.AZURE_AUTHORITY_HOST).netloc: "Microsoft Entra",
        urlsplit(settings.AZURE_RESOURCE_MANAGER_URL).netloc: "Azure Resource Manager",
    }
    bare = {key.rsplit(":", 1)[0]: value for key, value in names.items()}
    return names.get(host) or bare.get(host) or ("Azure Storage" if ".core." in host else "Azure")


def unreachable(exc: BaseException) -> str | None:
    """'Microsoft Entra (login.example) could not be reached: its name does not resolve (DNS)'
    when `exc`, or an exception it came from, is a failure to reach a host; None otherwise.
    azure-identity wraps a DNS failure in ClientAuthenticationError, which must not be read as
    a refusal of the service principal."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(getattr(seen, "message", None) or seen)
        host = re.search(r"host='([^']+)', port=(\d+)", text)
        network = isinstance(seen, ServiceRequestError | ServiceResponseError)
        if network or (host and "HTTPSConnection" in text):
            where = ""
            if host:
                where = host.group(1) + ("" if host.group(2) == "443" else f":{host.group(2)}")
            reason = next(
                (words for pattern, words in NETWORK_REASONS if re.search(pattern, text)),
                text.strip()[:200],
            )
            service = _service_of(where) if where else "Azure"
            return f"{service} ({where or 'unknown host'}) could not be reached: {reason}."
        seen = seen.__cause__ or seen.__context__
    return None


NETWORK_FIX = "Check this machine's network path to Azure (DNS, proxy, firewall), then retry."


def describe_auth_error(exc: ClientAuthenticationError) -> str:
    network = unreachable(exc)
    if network:
        return network
    text = str(exc.message or exc)
    # MSAL fetches the tenant's OpenID configuration first; an unknown tenant fails there,
    # before any AADSTS code reaches us.
    if "Unable to get authority configuration" in text:
        return (
            "Authentication failed: Microsoft Entra does not know this tenant: check the "
            "tenant (directory) id (AADSTS90002)."
        )
    for code, reason in AADSTS_REASONS.items():
        if re.search(rf"AADSTS{code}\b", text):
            return f"Authentication failed: {reason} (AADSTS{code})."
    return "Authentication failed: Microsoft Entra refused the service principal."


def check_service_principal(sp: ServicePrincipal) -> str:
    """List one resource group; return a success message or raise ValueError with the reason."""
    client = ResourceManagementClient(**management_kwargs(sp))
    try:
        groups = list(client.resource_groups.list(top=1))
    except (ClientAuthenticationError, ServiceRequestError, ServiceResponseError) as exc:
        network = unreachable(exc)
        if network:
            raise AzureUnreachable(f"{network} {NETWORK_FIX}") from exc
        raise ValueError(describe_auth_error(exc)) from exc
    except HttpResponseError as exc:
        code = exc.error.code if exc.error else exc.status_code
        if exc.status_code == 403 or code == "AuthorizationFailed":
            raise ValueError(
                "Forbidden: the service principal has no role on subscription "
                f"{sp.subscription_id}; assign it Contributor (or a custom role) there."
            ) from exc
        if code == "SubscriptionNotFound" or exc.status_code == 404:
            raise ValueError(f"Subscription {sp.subscription_id} was not found.") from exc
        raise ValueError(f"Azure answered {exc.status_code} {code}.") from exc
    return (
        f"Connected to subscription {sp.subscription_id} ({len(groups)} resource group(s) visible)."
    )
