"""Azure clients built per call from a stored service principal.

The endpoints are settings so that a private cloud (or the test suite's fake Resource Manager)
can stand in for the public one.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.identity import ClientSecretCredential
from django.conf import settings


@dataclass(frozen=True)
class ServicePrincipal:
    tenant_id: str
    client_id: str
    client_secret: str
    subscription_id: str

    def __repr__(self) -> str:  # never print the secret
        return f"ServicePrincipal(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"


def arm_url() -> str:
    return settings.AZURE_RESOURCE_MANAGER_URL.rstrip("/")


def token_credential(sp: ServicePrincipal) -> ClientSecretCredential:
    return ClientSecretCredential(
        sp.tenant_id,
        sp.client_id,
        sp.client_secret,
        authority=settings.AZURE_AUTHORITY_HOST,
        disable_instance_discovery=settings.AZURE_DISABLE_INSTANCE_DISCOVERY,
        connection_verify=settings.AZURE_CA_BUNDLE or True,
    )


def management_kwargs(sp: ServicePrincipal) -> dict:
    """Keyword arguments every azure-mgmt-* client takes."""
    kwargs = {
        "credential": token_credential(sp),
        "subscription_id": sp.subscription_id,
        "base_url": arm_url(),
        "credential_scopes": [f"{settings.AZURE_TOKEN_AUDIENCE.rstrip('/')}/.default"],
    }
    if settings.AZURE_CA_BUNDLE:
        kwargs["connection_verify"] = settings.AZURE_CA_BUNDLE
    return kwargs
