"""The Kubernetes test bed's fixtures for the tests in this folder.

Imported rather than listed in `pytest_plugins` (pytest allows that only in the root conftest).
Once tests/conftest.py has `pytest_plugins = [..., "tests.kube.plugin"]`, this file can go; the
plugin keeps one control plane per session even if both are present.
"""

from tests.kube.plugin import (  # noqa: F401
    kube_admin_api,
    kube_admin_kubeconfig,
    kube_api,
    kube_kubeconfig,
    kube_namespace,
    kube_testbed,
    pytest_collection_modifyitems,
    pytest_terminal_summary,
)
