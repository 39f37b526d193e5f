"""Checks run before anything is created on Azure, each with pass/fail and the fix."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from clusters.azure import clients
from clusters.azure.checks import NETWORK_FIX, AzureUnreachable, check_service_principal
from clusters.azure.clients import ServicePrincipal
from clusters.azure.errors import AzureFailure, describe

REQUIRED_PROVIDERS = (
    "Microsoft.ContainerService",
    "Microsoft.Compute",
    "Microsoft.Network",
    "Microsoft.Storage",
)
# What creating an AKS cluster in a group needs the principal to be allowed to do.
NEEDED_ACTIONS = (
    "Microsoft.ContainerService/managedClusters/write",
    "Microsoft.Resources/subscriptions/resourceGroups/write",
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    action: str = ""  # e.g. "register:Microsoft.Compute" when the panel can fix it

    def as_dict(self) -> dict:
        return asdict(self)


def _allows(actions: list[str], not_actions: list[str], wanted: str) -> bool:
    def match(pattern: str) -> bool:
        pattern, wanted_l = pattern.lower(), wanted.lower()
        if pattern == "*":
            return True
        if pattern.endswith("/*"):
            return wanted_l.startswith(pattern[:-1])
        if pattern.startswith("*/"):
            return wanted_l.endswith(pattern[1:])
        return pattern == wanted_l

    return any(match(a) for a in actions) and not any(match(n) for n in not_actions)


def provider_states(sp: ServicePrincipal, namespaces=REQUIRED_PROVIDERS) -> dict[str, str]:
    client = clients.resources(sp)
    return {ns: client.providers.get(ns).registration_state or "Unknown" for ns in namespaces}


def run_preflight(sp: ServicePrincipal, resource_group: str) -> list[Check]:
    """All checks; later checks are skipped (failed with the reason) when sign-in fails."""
    try:
        detail = check_service_principal(sp)
    except AzureUnreachable as exc:
        return [Check("Azure reachable", False, str(exc).removesuffix(NETWORK_FIX).strip(), NETWORK_FIX)]  # fmt: skip
    except ValueError as exc:
        return [Check("Credentials valid", False, str(exc), "Fix the credential, then test it.")]
    checks = [Check("Credentials valid", True, detail)]
    try:
        states = provider_states(sp)
    except HttpResponseError as exc:
        failure = describe(exc)
        return checks + [Check("Resource providers registered", False, failure.message, failure.remedy)]  # fmt: skip
    for ns, state in states.items():
        ok = state == "Registered"
        checks.append(
            Check(
                f"Provider {ns} registered",
                ok,
                state,
                "" if ok else f"Register {ns} (the panel can do it and wait).",
                "" if ok else f"register:{ns}",
            )
        )
    checks.append(_group_permission(sp, resource_group))
    return checks


def _group_permission(sp: ServicePrincipal, group: str) -> Check:
    name = f"Allowed to act on resource group {group}"
    client = clients.authorization(sp)
    try:
        permissions = list(client.permissions.list_for_resource_group(group))
    except ResourceNotFoundError:
        return Check(
            name, True, f"{group} does not exist yet; it will be created in the subscription."
        )
    except HttpResponseError as exc:
        failure = describe(exc)
        return Check(name, False, failure.message, failure.remedy)
    actions = [a for p in permissions for a in (p.actions or [])]
    not_actions = [a for p in permissions for a in (p.not_actions or [])]
    missing = [w for w in NEEDED_ACTIONS if not _allows(actions, not_actions, w)]
    if missing:
        scope = f"/subscriptions/{sp.subscription_id}/resourceGroups/{group}"
        return Check(
            name,
            False,
            "Missing permission: " + ", ".join(missing),
            f"Assign the service principal the Contributor role (or one granting "
            f"{', '.join(missing)}) on scope {scope}.",
        )
    return Check(name, True, "The service principal may create AKS clusters in this group.")


def register_providers(sp: ServicePrincipal, namespaces: list[str], on_progress, timeout: float):
    """Register providers and wait until Azure says Registered (registration takes minutes)."""
    client = clients.resources(sp)
    for ns in namespaces:
        client.providers.register(ns)
    deadline = time.monotonic() + timeout
    while True:
        states = {ns: client.providers.get(ns).registration_state for ns in namespaces}
        done = [ns for ns, state in states.items() if state == "Registered"]
        on_progress(len(done) * 100 // max(len(namespaces), 1), f"Registered: {len(done)}/{len(namespaces)}")  # fmt: skip
        if len(done) == len(namespaces):
            return states
        if time.monotonic() > deadline:
            waiting = ", ".join(ns for ns in namespaces if ns not in done)
            raise AzureFailure(
                "RegistrationTimeout",
                f"Still registering after {timeout:.0f} s: {waiting}.",
                "Registration can take several minutes; run the preflight again later.",
            )
        time.sleep(clients.poll_interval())
