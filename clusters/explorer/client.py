"""Requests to a cluster's API server for the explorer: raw JSON through the official client.

Lists are read as plain JSON (`_preload_content=False`): building the client's model objects
costs more than the request for a page of pods, and the explorer only needs a few fields of
each. Every error becomes an ExplorerError an operator can act on; a refusal (403) names what
the panel's identity may not do and where.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import urllib3
from django.conf import settings
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from clusters import kubeconfig
from clusters.explorer.kinds import Kind
from clusters.models import Cluster
from clusters.probe import ProbeError, classify

# A page of a list: enough to read at a glance, small enough to answer fast on a big cluster.
PAGE_DEFAULT = 100
PAGE_MAX = 500


class ExplorerError(Exception):
    """The API server could not answer; `message` says why without any secret."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message)
        self.message = message
        self.status = status


class Forbidden(ExplorerError):
    """The panel's identity may not do `verb` on `resource` there (RBAC said 403)."""

    def __init__(self, verb: str, resource: str, namespace: str | None):
        where = f"in namespace {namespace}" if namespace else "in all namespaces"
        if namespace is None and resource in ("nodes", "persistentvolumes", "namespaces"):
            where = "(cluster-scoped)"
        hint = "Bind it to the ClusterRole in docker/rbac/clusterrole-explorer.yaml for cluster-wide reads"
        if namespace:
            hint += ", or give it controlpanel-workloads in this namespace"
        super().__init__(
            f"The panel's service account cannot {verb} {resource} {where}. {hint}.", status=403
        )
        self.verb, self.resource, self.namespace = verb, resource, namespace


class NotFound(ExplorerError):
    def __init__(self, what: str):
        super().__init__(f"{what} does not exist (any more).", status=404)


@dataclass
class Page:
    """One page of a list: the raw items and the token for the next page ('' at the end)."""

    items: list[dict]
    next: str = ""
    remaining: int | None = None


def _timeout() -> tuple[int, int]:
    return (settings.KUBERNETES_CONNECT_TIMEOUT, settings.KUBERNETES_REQUEST_TIMEOUT)


@contextmanager
def connect(cluster: Cluster) -> Iterator[Session]:
    """A session with the cluster's API server: its stored kubeconfig, or for the cluster the
    panel runs in, its ServiceAccount."""
    from clusters.services import cluster_kubeconfig

    if cluster.is_local:
        raise ExplorerError(
            f"{cluster.name} is not a Kubernetes cluster the panel can reach.", status=400
        )
    try:
        parsed = cluster_kubeconfig(cluster)
        api = kubeconfig.api_client(parsed)
    except kubeconfig.KubeconfigError as exc:
        raise ExplorerError(str(exc)) from exc
    try:
        yield Session(api, parsed.server)
    finally:
        api.close()


class Session:
    """The explorer's requests on one API client."""

    def __init__(self, api: k8s.ApiClient, server: str = ""):
        self.api = api
        self.server = server

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str | int]] | None = None,
        body: dict | None = None,
        content_type: str = "application/json",
        verb: str = "",
        resource: str = "",
        namespace: str | None = None,
        stream: bool = False,
    ):
        """The decoded JSON answer (or the raw response with `stream`)."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            serialized = self.api.param_serialize(
                method,
                path,
                query_params=list(query or []),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            # No response types and no preloading: the raw response, non-2xx raised.
            response = self.api._call_with_legacy_options(  # noqa: SLF001
                serialized, {}, None, False, None if stream else _timeout(), True
            )
        except ApiException as exc:
            if exc.status == 403 and verb:
                raise Forbidden(verb, resource, namespace) from None
            if exc.status == 404:
                raise NotFound(resource or path) from None
            raise ExplorerError(
                _api_message(exc), status=400 if exc.status < 500 else 502
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            try:
                raise classify(exc, self.server) from exc
            except ProbeError as error:
                raise ExplorerError(error.message) from None
        if stream:
            return response
        return json.loads(response.data or b"{}")

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        labels: str = "",
        fields: str = "",
        limit: int = PAGE_DEFAULT,
        token: str = "",
    ) -> Page:
        """One page of the kind (in one namespace, or all), never the whole list at once."""
        query: list[tuple[str, str | int]] = [("limit", max(1, min(limit, PAGE_MAX)))]
        if labels:
            query.append(("labelSelector", labels))
        if fields:
            query.append(("fieldSelector", fields))
        if token:
            query.append(("continue", token))
        data = self.request(
            "GET", kind.path(namespace), query=query,
            verb="list", resource=kind.slug, namespace=namespace if kind.namespaced else None,
        )  # fmt: skip
        meta = data.get("metadata") or {}
        return Page(
            items=data.get("items") or [],
            next=meta.get("continue") or "",
            remaining=meta.get("remainingItemCount"),
        )

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict:
        try:
            return self.request(
                "GET", kind.path(namespace, name),
                verb="get", resource=kind.slug, namespace=namespace,
            )  # fmt: skip
        except NotFound:
            raise NotFound(f"{kind.kind} {name}") from None


def _api_message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message") or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return f"The API server answered {exc.status} {exc.reason}."
