"""Raw-manifest templates: YAML in, validated Kubernetes objects out (or a field error)."""

from __future__ import annotations

import yaml
from django.core.exceptions import ValidationError

from clusters.runtimes.manifests import ManifestInvalid, validate
from workloads.params import is_dns1123_label

MAX_OBJECTS = 20
# Kinds the panel can follow to an end state or tear down; cluster-scoped kinds are refused
# because the panel's identity is namespace-scoped by design.
ALLOWED_KINDS = {"Job", "Pod", "Deployment", "Service", "ConfigMap", "StatefulSet", "DaemonSet"}


def parse_manifests(text: str) -> list[dict]:
    """Every YAML document must be a namespaced Kubernetes object that passes its schema."""
    if not text.strip():
        raise ValidationError({"manifest": "Paste at least one Kubernetes object."})
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise ValidationError({"manifest": f"Not valid YAML: {exc}"}) from None
    if not documents or len(documents) > MAX_OBJECTS:
        raise ValidationError({"manifest": f"Expected 1 to {MAX_OBJECTS} objects."})
    for number, doc in enumerate(documents, start=1):
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise ValidationError(
                {"manifest": f"Document {number} is not a Kubernetes object (apiVersion and kind)."}
            )
        if doc["kind"] not in ALLOWED_KINDS:
            raise ValidationError(
                {"manifest": f"Document {number}: kind {doc['kind']!r} is not supported "
                 f"(use one of {', '.join(sorted(ALLOWED_KINDS))})."}
            )  # fmt: skip
        name = (doc.get("metadata") or {}).get("name", "")
        if not isinstance(name, str) or not is_dns1123_label(name):
            raise ValidationError(
                {"manifest": f"Document {number}: metadata.name {name!r} is not a DNS-1123 label."}
            )
        try:
            validate(doc)
        except ManifestInvalid as exc:
            raise ValidationError({"manifest": f"Document {number}: {exc}"}) from None
    return documents
