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


def setting(name: str, default: float) -> float:
    """Tunables with defaults for production; tests shorten them (no setting needed in prod)."""
    return float(getattr(settings, name, default))


def poll_interval() -> float:
    return setting("AZURE_POLL_INTERVAL", 15.0)


def _retry_kwargs() -> dict:
    # azure-core's RetryPolicy retries 408/429/500/502/503/504 and connection errors with
    # exponential backoff, and waits what a Retry-After header asks for.
    return {
        "retry_total": int(setting("AZURE_RETRY_ATTEMPTS", 6)),
        "retry_backoff_factor": setting("AZURE_RETRY_BASE_DELAY", 1.0),
        "retry_backoff_max": setting("AZURE_RETRY_MAX_DELAY", 60.0),
    }


def _without_auto_registration(client):
    """azure-mgmt clients register a missing resource provider on their own, sleeping 10 s per
    poll, which hides MissingSubscriptionRegistration. The panel asks first (preflight) and
    registers explicitly, so that policy is made a pass-through."""
    from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy

    for policy in client._client._pipeline._impl_policies:
        if isinstance(policy, ARMAutoResourceProviderRegistrationPolicy):
            policy.send = policy.next.send
    return client


def arm_client(client_class, sp: ServicePrincipal):
    """An azure-mgmt-* client for the service principal, with the panel's retry settings."""
    return _without_auto_registration(client_class(**management_kwargs(sp), **_retry_kwargs()))


def resources(sp: ServicePrincipal):
    from azure.mgmt.resource.resources import ResourceManagementClient

    return arm_client(ResourceManagementClient, sp)


def containerservice(sp: ServicePrincipal):
    from azure.mgmt.containerservice import ContainerServiceClient

    return arm_client(ContainerServiceClient, sp)


def storage(sp: ServicePrincipal):
    from azure.mgmt.storage import StorageManagementClient

    return arm_client(StorageManagementClient, sp)


def registry(sp: ServicePrincipal):
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient

    return arm_client(ContainerRegistryManagementClient, sp)


def authorization(sp: ServicePrincipal):
    from azure.mgmt.authorization import AuthorizationManagementClient

    return arm_client(AuthorizationManagementClient, sp)
