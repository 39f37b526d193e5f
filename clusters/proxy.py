"""Reaching an HTTP Service that a run created in a cluster, from wherever the panel runs.

- The panel outside the cluster: through the API server's service proxy
  (`/api/v1/namespaces/<ns>/services/<svc>:<port name>/proxy<path>`) with the cluster's stored
  credential. Needs `services/proxy` in the namespace: `get` to read (a camera's MJPEG), `create`
  to POST (the face back-end's /detect); docker/rbac/clusterrole-workloads.yaml grants both.
- A Service of the cluster the panel runs in ("this cluster", reached through its
  ServiceAccount): straight to the Service's cluster DNS name, no API server in the way. Only
  that cluster: an imported cluster's `*.svc` names mean nothing (or something else) here, even
  when the panel runs in a pod.

Callers get an `HttpTarget` (URL, headers, SSL context) to hand to any HTTP client; the bearer
token is in `headers` only, never in the URL, so logging a target's URL leaks nothing.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from urllib.parse import quote


@dataclass
class HttpTarget:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    # An SSLContext for https (the cluster's CA, maybe a client certificate); True: defaults.
    ssl: ssl.SSLContext | bool = True

    def __repr__(self) -> str:  # the Authorization header is a credential
        return f"HttpTarget(url={self.url!r})"


def _path(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


def in_cluster_target(namespace: str, service: str, port: int, path: str = "/") -> HttpTarget:
    """The Service by its cluster DNS name, for a panel running in that cluster."""
    return HttpTarget(f"http://{service}.{namespace}.svc:{port}{_path(path)}")


def service_proxy_target(
    cluster, namespace: str, service: str, *, port_name: str = "http", path: str = "/"
) -> HttpTarget | None:
    """The Service's `path` through the API server, authenticated as the cluster's stored
    credential; None for a cluster without one (the local cluster)."""
    from clusters import kubeconfig as kubeconfig_mod
    from clusters.services import cluster_kubeconfig

    if cluster.credential is None and not cluster.is_in_cluster:
        return None
    client = kubeconfig_mod.api_client(cluster_kubeconfig(cluster))
    try:
        config = client.configuration
        headers = {}
        token = config.api_key.get("authorization") or config.api_key.get("BearerToken")
        if token:
            bearer = token if token.lower().startswith("bearer ") else f"Bearer {token}"
            headers["Authorization"] = bearer
        context: ssl.SSLContext | bool = True
        if config.host.startswith("https"):
            if config.verify_ssl:
                context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
            else:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if config.cert_file:
                context.load_cert_chain(config.cert_file, config.key_file)
        host = config.host.rstrip("/")
    finally:
        client.close()
    name = f"{quote(service, safe='')}:{quote(port_name, safe='')}"
    url = f"{host}/api/v1/namespaces/{quote(namespace, safe='')}/services/{name}/proxy{_path(path)}"
    return HttpTarget(url, headers, context)


def service_target(
    cluster, namespace: str, service: str, *, port: int, port_name: str = "http", path: str = "/"
) -> HttpTarget | None:
    """Where the panel reaches a run's Service from here: by DNS in the cluster the panel runs
    in, else through that cluster's API server."""
    if cluster.is_in_cluster:
        return in_cluster_target(namespace, service, port, path)
    return service_proxy_target(cluster, namespace, service, port_name=port_name, path=path)
