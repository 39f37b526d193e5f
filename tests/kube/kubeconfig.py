"""Kubeconfig text for the test bed, self-contained like the ones the panel accepts from users."""

from __future__ import annotations

import base64

import yaml


def render_kubeconfig(
    server: str, ca_pem: str, token: str, user: str, name: str = "testbed"
) -> str:
    """A kubeconfig with the CA embedded (certificate-authority-data) and a bearer token."""
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }
    return yaml.safe_dump(data, sort_keys=False)
