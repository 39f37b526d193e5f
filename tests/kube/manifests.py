"""Check manifests against a current Kubernetes version's schemas, not only the 1.20 test bed.

The test bed's API server is 1.20: it accepts what 1.20 knows. Manifests the panel renders must
also be valid for the clusters users actually run (AKS is far newer), so tests validate them
with `kubernetes-validate` (offline JSON schemas, strict: unknown fields are errors).
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

CURRENT_VERSION = kubernetes_validate.latest_version()


def assert_valid_manifest(manifest: dict[str, Any], version: str = CURRENT_VERSION) -> None:
    """Fail with the schema's message when `manifest` is invalid for Kubernetes `version`."""
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        kind = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
        where = ".".join(str(part) for part in exc.path)
        raise AssertionError(
            f"{kind} invalid for Kubernetes {version} at {where}: {exc.message}"
        ) from exc
