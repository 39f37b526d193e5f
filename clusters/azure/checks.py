"""'Test connection' for an Azure service principal, with the precise reason on failure."""

from __future__ import annotations

import re

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)
from azure.mgmt.resource.resources import ResourceManagementClient

from clusters.azure.clients import ServicePrincipal, management_kwargs

# Microsoft Entra error codes (AADSTS) that name the wrong field.
AADSTS_REASONS = {
    "90002": "the tenant id was not found: check the tenant (directory) id",
    "900023": "the tenant id is not a valid tenant: check the tenant (directory) id",
    "700016": "the client (application) id was not found in this tenant",
    "7000215": "the client secret is wrong: create a new secret for the application",
    "7000222": "the client secret has expired: create a new secret for the application",
}


def describe_auth_error(exc: ClientAuthenticationError) -> str:
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
    except ClientAuthenticationError as exc:
        raise ValueError(describe_auth_error(exc)) from exc
    except ServiceRequestError as exc:
        raise ValueError(f"Azure Resource Manager is unreachable: {exc.message}") from exc
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
