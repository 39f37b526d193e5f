"""Fixtures for workload tests: presets, the local cluster, and a helper to wait for a run."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for
from tests.factories import LocalClusterFactory


@pytest.fixture
def presets(db):
    from workloads.bootstrap import bootstrap_demo

    bootstrap_demo()


@pytest.fixture
def local_cluster(db):
    return LocalClusterFactory()


def wait_for_run(
    api, run_id: int, states=("succeeded", "failed", "cancelled", "lost"), timeout: float = 120
):
    """Poll the run through the API until it reaches one of `states`; returns its detail."""

    def finished():
        body = api.get(f"/api/runs/{run_id}/").json()
        return body if body["state"] in states else None

    return wait_for(finished, timeout=timeout, interval=0.2)


def all_log_lines(api, run_id: int) -> list[dict]:
    lines, since = [], 0
    while True:
        page = api.get(f"/api/runs/{run_id}/logs/?since={since}&limit=200").json()
        lines += page["lines"]
        if not page["lines"]:
            return lines
        since = page["next_cursor"]
