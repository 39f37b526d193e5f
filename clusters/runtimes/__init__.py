"""How to run things on a cluster: one interface, a local and a Kubernetes implementation."""

from __future__ import annotations

from clusters.runtimes.base import Runtime


def runtime_for(cluster) -> Runtime:
    """The runtime of a cluster record: local processes, or its Kubernetes API."""
    if cluster.is_local:
        from clusters.runtimes.local import LocalRuntime

        return LocalRuntime(cluster)
    from clusters.runtimes.kubernetes import KubernetesRuntime

    return KubernetesRuntime(cluster)
