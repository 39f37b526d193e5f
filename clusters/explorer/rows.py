"""One table row per object: the few fields an operator reads first, from the raw JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from clusters.runtimes.manifests import LABEL_MANAGED_BY, LABEL_RUN_ID, MANAGED_BY


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(text: str | None, now: datetime | None = None) -> str:
    """`kubectl get`'s age: 45s, 12m, 3h, 5d."""
    when = parse_time(text)
    if when is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def run_id_of(meta: dict) -> int | None:
    """The panel's run that created the object, from its labels; None for anyone else's."""
    labels = meta.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
        return None
    value = labels.get(LABEL_RUN_ID, "")
    return int(value) if value.isdecimal() else None


def _base(obj: dict) -> dict:
    meta = obj.get("metadata") or {}
    return {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "created": meta.get("creationTimestamp", ""),
        "age": age(meta.get("creationTimestamp")),
        "labels": meta.get("labels") or {},
        "run_id": run_id_of(meta),
    }


def _pod(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    reason = status.get("reason", "")
    for container in (status.get("initContainerStatuses") or []) + containers:
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
            break
        if terminated and terminated.get("reason") and not reason:
            reason = terminated["reason"]
    if not reason and status.get("phase") == "Pending":
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reason = condition.get("reason") or "Unschedulable"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return {
        "phase": status.get("phase", "Unknown"),
        "ready": f"{ready}/{len(spec.get('containers') or [])}",
        "restarts": sum(c.get("restartCount", 0) for c in containers),
        "node": spec.get("nodeName", ""),
        "reason": reason,
        "containers": [c.get("name", "") for c in spec.get("containers") or []],
    }


def _deployment(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "ready": f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        "replicas": spec.get("replicas", 0),
        "up_to_date": status.get("updatedReplicas", 0),
        "available": status.get("availableReplicas", 0),
    }


def _statefulset(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "ready": f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        "replicas": spec.get("replicas", 0),
    }


def _daemonset(obj: dict) -> dict:
    status = obj.get("status") or {}
    return {
        "desired": status.get("desiredNumberScheduled", 0),
        "current": status.get("currentNumberScheduled", 0),
        "ready": status.get("numberReady", 0),
    }


def job_state(obj: dict) -> str:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return condition["type"]
    return "Running"


def _job(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "completions": f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}",
        "state": job_state(obj),
        "active": status.get("active", 0),
        "failed": status.get("failed", 0),
    }


def _cronjob(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "schedule": spec.get("schedule", ""),
        "suspend": bool(spec.get("suspend")),
        "active": len(status.get("active") or []),
        "last_schedule": age(status.get("lastScheduleTime")),
    }


def _service(obj: dict) -> dict:
    spec = obj.get("spec") or {}
    ports = [
        f"{p.get('port')}{'/' + p['protocol'] if p.get('protocol', 'TCP') != 'TCP' else ''}"
        for p in spec.get("ports") or []
    ]
    return {"type": spec.get("type", ""), "cluster_ip": spec.get("clusterIP", ""), "ports": ports}


def _pvc(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "status": status.get("phase", ""),
        "volume": spec.get("volumeName", ""),
        "capacity": (status.get("capacity") or {}).get("storage", ""),
        "access_modes": spec.get("accessModes") or [],
        "storage_class": spec.get("storageClassName") or "",
    }


def _pv(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    return {
        "status": status.get("phase", ""),
        "claim": f"{claim['namespace']}/{claim['name']}" if claim.get("name") else "",
        "capacity": (spec.get("capacity") or {}).get("storage", ""),
        "access_modes": spec.get("accessModes") or [],
        "reclaim_policy": spec.get("persistentVolumeReclaimPolicy", ""),
    }


def _configmap(obj: dict) -> dict:
    return {"keys": sorted([*(obj.get("data") or {}), *(obj.get("binaryData") or {})])}


def _secret(obj: dict) -> dict:
    # Names of the keys only: the values never leave this function.
    return {"type": obj.get("type", ""), "keys": sorted(obj.get("data") or {})}


def _event(obj: dict) -> dict:
    involved = obj.get("involvedObject") or {}
    last = (
        obj.get("lastTimestamp")
        or obj.get("eventTime")
        or (obj.get("metadata") or {}).get("creationTimestamp")
    )
    return {
        "type": obj.get("type", ""),
        "reason": obj.get("reason", ""),
        "message": obj.get("message", ""),
        "count": obj.get("count") or 1,
        "object_kind": involved.get("kind", ""),
        # Where the object's own page is, when the explorer shows its kind.
        "object_slug": OBJECT_SLUGS.get(involved.get("kind", ""), ""),
        "object_name": involved.get("name", ""),
        "source": (obj.get("source") or {}).get("component", "")
        or obj.get("reportingComponent", ""),
        "last_seen": age(last),
    }


OBJECT_SLUGS = {
    "Pod": "pods", "Deployment": "deployments", "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets", "Job": "jobs", "CronJob": "cronjobs", "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims", "ConfigMap": "configmaps",
}  # fmt: skip

SUMMARIES = {
    "pods": _pod,
    "deployments": _deployment,
    "statefulsets": _statefulset,
    "daemonsets": _daemonset,
    "jobs": _job,
    "cronjobs": _cronjob,
    "services": _service,
    "persistentvolumeclaims": _pvc,
    "persistentvolumes": _pv,
    "configmaps": _configmap,
    "secrets": _secret,
    "events": _event,
}


def row(slug: str, obj: dict) -> dict:
    """The table row of one object of the kind `slug`."""
    return {**_base(obj), **SUMMARIES[slug](obj)}
