"""Reading and checking kubeconfig files, and building API clients from them.

A stored kubeconfig must be self-contained: certificates and keys embedded (``*-data``), no
paths to files on someone's laptop and no exec plugins, because the panel's worker has neither.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from kubernetes import client as k8s
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import new_client_from_config_dict

from core.networks import address_in, networks

FILE_REFERENCES = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Kubeconfig:
    data: dict
    context: str

    @property
    def server(self) -> str:
        cluster_name = _named(self.data, "contexts", self.context)["context"].get("cluster")
        cluster = _named(self.data, "clusters", cluster_name) if cluster_name else None
        return (cluster or {}).get("cluster", {}).get("server", "")


def _named(data: dict, section: str, name: str) -> dict | None:
    for entry in data.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def load(text: str) -> dict:
    """Parse kubeconfig text; refuse what is not a kubeconfig with a precise reason."""
    if not text or not text.strip():
        raise KubeconfigError("The kubeconfig is empty.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise KubeconfigError(f"The kubeconfig is not valid YAML{line}.") from exc
    if not isinstance(data, dict) or not any(
        key in data for key in ("clusters", "contexts", "users")
    ):
        raise KubeconfigError("This YAML is not a kubeconfig: it has no clusters or contexts.")
    if not data.get("contexts"):
        raise KubeconfigError("The kubeconfig has no contexts.")
    return data


def context_names(data: dict) -> list[str]:
    return [entry["name"] for entry in data.get("contexts") or [] if isinstance(entry, dict)]


def parse(text: str, context: str | None = None) -> Kubeconfig:
    """Parse and check a kubeconfig for one context (the current context when none is given)."""
    data = load(text)
    names = context_names(data)
    chosen = context or data.get("current-context") or (names[0] if len(names) == 1 else "")
    if not chosen:
        raise KubeconfigError(
            "The kubeconfig has several contexts and no current-context: choose one of "
            f"{', '.join(names)}."
        )
    entry = _named(data, "contexts", chosen)
    if entry is None:
        raise KubeconfigError(
            f"Unknown context '{chosen}': the kubeconfig has {', '.join(names) or 'none'}."
        )
    ctx = entry.get("context") or {}
    cluster = _named(data, "clusters", ctx.get("cluster", ""))
    if cluster is None or not (cluster.get("cluster") or {}).get("server"):
        raise KubeconfigError(f"Context {chosen!r} names no cluster with a server address.")
    user = _named(data, "users", ctx.get("user", "")) or {"user": {}}
    for section, body in (
        ("cluster", cluster.get("cluster") or {}),
        ("user", user.get("user") or {}),
    ):
        for key in FILE_REFERENCES[section]:
            if body.get(key):
                raise KubeconfigError(
                    f"The {section} of context {chosen!r} refers to the file {body[key]!r} "
                    f"({key}); embed it instead ({key}-data, e.g. `kubectl config view "
                    "--raw --flatten --minify`)."
                )
    if (user.get("user") or {}).get("exec") or (user.get("user") or {}).get("auth-provider"):
        raise KubeconfigError(
            f"The user of context {chosen!r} authenticates with a plugin the panel cannot run; "
            "use a token or client certificate (for AKS, the admin credentials)."
        )
    return Kubeconfig(data=data, context=chosen)


def in_cluster() -> Kubeconfig:
    """The cluster the panel runs in, as its ServiceAccount reaches it: the API server from the
    pod's service environment, the token and CA from the files Kubernetes mounts (paths in
    IN_CLUSTER_TOKEN_PATH / IN_CLUSTER_CA_PATH). Read at each call: projected tokens rotate."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise KubeconfigError(
            "KUBERNETES_SERVICE_HOST is not set: the panel is not running in a Kubernetes pod."
        )
    try:
        token = settings.IN_CLUSTER_TOKEN_PATH.read_text().strip()
        ca = settings.IN_CLUSTER_CA_PATH.read_bytes()
    except OSError as exc:
        raise KubeconfigError(
            f"The ServiceAccount's {exc.filename} cannot be read ({exc.strerror}): mount the "
            "token (automountServiceAccountToken) or set IN_CLUSTER_TOKEN_PATH / IN_CLUSTER_CA_PATH."
        ) from None
    if ":" in host:  # an IPv6 service address
        host = f"[{host}]"
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "in-cluster", "cluster": {
            "server": f"https://{host}:{port}",
            "certificate-authority-data": base64.b64encode(ca).decode(),
        }}],
        "users": [{"name": "service-account", "user": {"token": token}}],
        "contexts": [{"name": "in-cluster",
                      "context": {"cluster": "in-cluster", "user": "service-account"}}],
        "current-context": "in-cluster",
    }  # fmt: skip
    return Kubeconfig(data=data, context="in-cluster")


def _temp_dir() -> str:
    # Embedded certificates are written to files by the client; keep them private.
    path = Path(settings.DATA_DIR) / "tmp" / "kube"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return str(path)


# Never an API server: link-local addresses and the cloud metadata services behind them, where
# a request made with the panel's network position could read the machine's own credentials.
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
)


def check_server_address(server: str) -> None:
    """Refuse an API server on a link-local or metadata address, or outside the networks an
    admin allows (CLUSTER_ALLOWED_NETWORKS, every address when empty). Every address the name
    resolves to is checked; a name that does not resolve is left to the connection's error."""
    parts = urlsplit(server)
    if not parts.hostname:
        raise KubeconfigError(f"The server address {server!r} names no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        return
    allowed = networks("CLUSTER_ALLOWED_NETWORKS", tuple(settings.CLUSTER_ALLOWED_NETWORKS))
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if address_in(address, REFUSED_NETWORKS):
            raise KubeconfigError(
                f"The server {parts.hostname} is at {address}, a link-local or cloud metadata "
                "address: the panel never connects there."
            )
        if allowed and not address_in(address, allowed):
            raise KubeconfigError(
                f"The server {parts.hostname} is at {address}, outside the networks clusters may "
                f"be reached on (CLUSTER_ALLOWED_NETWORKS: {', '.join(map(str, allowed))})."
            )


def api_client(kubeconfig: Kubeconfig) -> k8s.ApiClient:
    """A fresh API client for this kubeconfig; fails fast rather than retrying for minutes.
    Every client the panel builds comes from here, so the address check applies to all."""
    check_server_address(kubeconfig.server)
    configuration = type.__call__(k8s.Configuration)
    configuration.retries = 1
    try:
        return new_client_from_config_dict(
            kubeconfig.data,
            context=kubeconfig.context,
            persist_config=False,
            temp_file_path=_temp_dir(),
            client_configuration=configuration,
        )
    except (ConfigException, ValueError, TypeError) as exc:
        raise KubeconfigError(f"The kubeconfig cannot be loaded: {exc}") from exc
