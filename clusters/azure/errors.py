"""Azure refusals turned into what a person can act on: code, message and a remedy."""

from __future__ import annotations

import re
from dataclasses import dataclass

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
)

from clusters.azure.checks import NETWORK_FIX, describe_auth_error, unreachable


@dataclass
class AzureFailure(Exception):
    code: str
    message: str
    remedy: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" Fix: {self.remedy}" if self.remedy else "")


def _namespace_of(message: str, details: list) -> str:
    for detail in details:
        target = getattr(detail, "target", None)
        if target:
            return target
    match = re.search(r"namespace '([^']+)'", message)
    return match.group(1) if match else "the resource provider"


def remedy_for(code: str, message: str, details: list | None = None) -> str:
    if code == "MissingSubscriptionRegistration":
        namespace = _namespace_of(message, details or [])
        return (
            f"Register the resource provider {namespace} on the subscription (the preflight's "
            f"'Register' button, or `az provider register --namespace {namespace}`), then retry."
        )
    if code in ("AuthorizationFailed", "LinkedAuthorizationFailed"):
        action = re.search(r"perform action '([^']+)'", message)
        scope = re.search(r"over scope '([^']+)'", message)
        return (
            "Give the service principal a role allowing "
            f"'{action.group(1) if action else 'this action'}' (for example Contributor) on "
            f"scope '{scope.group(1) if scope else 'the resource group'}'."
        )
    if code == "ResourceGroupNotFound":
        return "Create the resource group first, or let the panel create it (provisioning does)."
    if code in ("QuotaExceeded", "OperationNotAllowed") and "quota" in message.lower():
        return "Request more vCPU quota for this VM family and region, or choose a smaller size."
    if code in ("TooManyRequests", "Throttled", "429"):
        return "Azure is throttling this subscription; wait a few minutes and retry."
    if code == "InvalidAuthenticationToken":
        return "Test the credential: the service principal could not sign in."
    return ""


def describe(exc: Exception) -> AzureFailure:
    """The AzureFailure for an exception raised by an azure-* client."""
    if isinstance(exc, AzureFailure):
        return exc
    network = unreachable(exc)
    if network:
        return AzureFailure("Unreachable", network, NETWORK_FIX)
    if isinstance(exc, ClientAuthenticationError):
        return AzureFailure(
            "AuthenticationFailed",
            describe_auth_error(exc),
            "Check the credential's tenant, client id and secret.",
        )
    if isinstance(exc, HttpResponseError):
        error = exc.error
        code = (error.code if error else None) or str(exc.status_code or "HttpError")
        message = (error.message if error else None) or str(exc.reason or exc.message)
        details = list(getattr(error, "details", None) or [])
        return AzureFailure(code, message, remedy_for(code, message, details))
    if isinstance(exc, AzureError):
        return AzureFailure(type(exc).__name__, str(exc.message or exc))
    raise exc  # not an Azure error: a bug, let it surface


def describe_operation_error(error: dict) -> AzureFailure:
    """The `error` of a Failed OperationStatusResult."""
    code = error.get("code", "OperationFailed")
    message = error.get("message", "The Azure operation failed.")
    return AzureFailure(code, message, remedy_for(code, message))
