"""What the explorer shows of an object: Secret values, kubeconfig-like fields and secret-looking
environment values replaced, managed fields set apart (folded on the page)."""

from __future__ import annotations

import copy
import re

import yaml

REDACTED = "<redacted>"
# Keys whose string value is a credential wherever they appear (kubeconfig users, auth blocks).
SECRET_KEYS = {
    "token", "id-token", "refresh-token", "password", "client-key-data", "client-secret",
    "client-certificate-data", "secret", "access-token", "apikey", "api-key",
}  # fmt: skip
# An environment variable or parameter whose name says it holds a secret.
SECRET_NAME = re.compile(r"pass(word)?|secret|token|credential|private|api_?key|access_?key", re.I)
# A kubeconfig (or a piece of one) pasted into a ConfigMap value or an annotation.
KUBECONFIG_LIKE = re.compile(
    r"client-key-data|client-certificate-data|\btoken:\s*\S|kind:\s*Config"
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _scrub(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if isinstance(value, str) and str(key).lower() in SECRET_KEYS:
                out[key] = REDACTED
            else:
                out[key] = _scrub(value)
        # An env entry: {"name": "DB_PASSWORD", "value": "..."}.
        if isinstance(out.get("name"), str) and isinstance(out.get("value"), str):
            if SECRET_NAME.search(out["name"]) and out["value"]:
                out["value"] = REDACTED
        return out
    if isinstance(node, list):
        return [_scrub(item) for item in node]
    if isinstance(node, str) and KUBECONFIG_LIKE.search(node):
        return "<redacted: looks like a kubeconfig>"
    return node


def redact(obj: dict, kind: str = "") -> tuple[dict, list]:
    """The object safe to show, and its managedFields (apart, to be folded)."""
    shown = copy.deepcopy(obj)
    kind = kind or shown.get("kind", "")
    meta = shown.setdefault("metadata", {})
    managed = meta.pop("managedFields", None) or []
    if kind == "Secret":
        for field in ("data", "stringData"):
            if isinstance(shown.get(field), dict):
                shown[field] = dict.fromkeys(shown[field], REDACTED)
        # kubectl apply keeps the whole Secret, values included, in this annotation.
        annotations = meta.get("annotations") or {}
        if LAST_APPLIED in annotations:
            annotations[LAST_APPLIED] = REDACTED
    return _scrub(shown), managed


def as_yaml(obj: dict) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True)
