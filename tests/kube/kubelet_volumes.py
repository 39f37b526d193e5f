"""Map a pod's volumes to local directories, since the stand-in kubelet has no container runtime.

Layout, under the kubelet's volumes root (each test namespace gets its own subtree):

    <root>/<namespace>/pvc/<claimName>/           persistentVolumeClaim (by claim name)
    <root>/<namespace>/hostpath/<path>/            hostPath (per namespace, so tests stay apart)
    <root>/<namespace>/azurefile/<shareName>/      inline azureFile volumes
    <root>/<namespace>/pods/<pod>-<uid8>/<volume>/ emptyDir, and secret / configMap files
    <root>/<namespace>/pods/<pod>-<uid8>/workdir/  the working directory when none is set

A container's mountPath (plus subPath) then stands for that directory: command, args, env values
and workingDir that start with a mountPath (also after `--flag=` or `NAME=`) are rewritten to the
local path.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from kubernetes import client as k8s


class VolumeMapper:
    def __init__(self, root: Path, core: k8s.CoreV1Api) -> None:
        self.root = Path(root)
        self.core = core

    def namespace_dir(self, namespace: str) -> Path:
        return self.root / namespace

    def pod_dir(self, pod: k8s.V1Pod) -> Path:
        meta = pod.metadata
        return self.namespace_dir(meta.namespace) / "pods" / f"{meta.name}-{meta.uid[:8]}"

    def prepare(self, pod: k8s.V1Pod) -> dict[str, Path]:
        """Create (and fill, for secrets and config maps) each volume's directory, by name."""
        dirs: dict[str, Path] = {}
        base = self.namespace_dir(pod.metadata.namespace)
        for volume in pod.spec.volumes or []:
            if volume.persistent_volume_claim:
                path = base / "pvc" / volume.persistent_volume_claim.claim_name
            elif volume.host_path:
                path = base / "hostpath" / volume.host_path.path.lstrip("/")
            elif volume.azure_file:
                path = base / "azurefile" / volume.azure_file.share_name
            else:  # emptyDir, secret, configMap, projected, anything else: private to the pod
                path = self.pod_dir(pod) / volume.name
            path.mkdir(parents=True, exist_ok=True)
            if volume.secret:
                secret = self.core.read_namespaced_secret(
                    volume.secret.secret_name, pod.metadata.namespace
                )
                data = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
                _write_items(path, data, volume.secret.items)
            elif volume.config_map:
                config_map = self.core.read_namespaced_config_map(
                    volume.config_map.name, pod.metadata.namespace
                )
                data = {k: v.encode() for k, v in (config_map.data or {}).items()}
                _write_items(path, data, volume.config_map.items)
            dirs[volume.name] = path
        return dirs

    def mounts(self, container: k8s.V1Container, volume_dirs: dict[str, Path]) -> list[Mount]:
        """The container's mounts, longest mountPath first so nested mounts win."""
        found = []
        for mount in container.volume_mounts or []:
            local = volume_dirs.get(mount.name)
            if local is None:
                continue
            if mount.sub_path:
                local = local / mount.sub_path
                local.mkdir(parents=True, exist_ok=True)
            found.append(Mount(mount.mount_path.rstrip("/") or "/", local))
        return sorted(found, key=lambda m: len(m.path), reverse=True)


class Mount:
    def __init__(self, path: str, local: Path) -> None:
        self.path = path
        self.local = local

    def __repr__(self) -> str:
        return f"Mount({self.path!r} -> {str(self.local)!r})"


ASSIGNMENT = re.compile(r"^(-{1,2}[\w.-]+|[\w.-]+)=")


def rewrite_path(value: str, mounts: list[Mount]) -> str:
    """Replace a leading mountPath with its local directory; also in `--flag=/mount/...` and
    `NAME=/mount/...` form (`faces-serve --volume photos=/volumes/photos`)."""
    for mount in mounts:
        if value == mount.path or value.startswith(mount.path + "/"):
            return str(mount.local) + value[len(mount.path) :]
    assignment = ASSIGNMENT.match(value)
    if assignment:
        key, rest = assignment.group(1), value[assignment.end() :]
        rewritten = rewrite_path(rest, mounts)
        if rewritten != rest:
            return f"{key}={rewritten}"
    return value


def _write_items(path: Path, data: dict[str, bytes], items: list | None) -> None:
    # Like the kubelet: all keys as files, or only the listed keys at their given paths.
    selected = {item.key: item.path for item in items} if items else {key: key for key in data}
    for key, relative in selected.items():
        if key in data:
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[key])
