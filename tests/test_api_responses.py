"""Every API answer a user reads, checked against the OpenAPI schema on a database that holds
one of everything (the fuzz runs on an empty one, where lists are empty and detail pages 404)."""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis

from core.services import SYSTEM, token_create

pytestmark = [pytest.mark.slow]

# Answers that are files, or come from a cluster's API server or from Azure: not the database's.
NOT_FROM_THE_DATABASE = ("snapshot", "thumbnail", "download", "files", "versions", "akri",
                         "nodes", "objects")  # fmt: skip


def _operations(schema: dict) -> list[tuple[str, str]]:
    """(path, operationId) of every GET whose only path parameter is the object's key."""
    found = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get is None or any(part in path for part in NOT_FROM_THE_DATABASE):
            continue
        found.append((path, get["operationId"]))
    return found


def test_every_read_answers_as_its_schema_says_with_rows_in_every_list(daphne_server, admin_user):
    """Lists with rows and the detail of their first row (a run whose author was deleted
    among them), each validated against the operation's response schema; and a cluster's PATCH
    answer, which the fuzz never saw succeed."""
    from clusters.models import Cluster
    from tests.tools.seed import seed
    from workloads.models import Run

    seed(runs=14, rows=3, children=2, log_lines=5)
    assert Run.objects.filter(created_by=None).exists()
    _row, token = token_create(actor=SYSTEM, user=admin_user, name="responses")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    raw = session.get(f"{daphne_server}/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)

    def check(path: str, url: str, method: str = "GET", **kwargs) -> dict:
        response = session.request(method, daphne_server + url, timeout=30, **kwargs)
        assert response.status_code < 300, (url, response.status_code, response.text[:500])
        schema[path][method].validate_response(response)
        return response.json()

    firsts: dict[str, dict] = {}
    checked = 0
    for path, _op in _operations(raw):
        if "{" not in path:
            body = check(path, path)
            rows = body.get("results") if isinstance(body, dict) else None
            if rows is not None:
                assert rows, f"{path}: the seeded database should list rows here"
                firsts[path] = rows[0]
            checked += 1
    for path, _op in _operations(raw):
        if "{" not in path:
            continue
        parent = path.split("{")[0]
        key = path[path.index("{") + 1 : path.index("}")]
        row = firsts.get(parent)
        if row is None or path.count("{") > 1:
            continue
        check(path, path.replace(f"{{{key}}}", str(row.get(key, row.get("id")))))
        checked += 1
    assert checked >= 30, checked

    orphan = Run.objects.filter(created_by=None).first()
    detail = check("/api/runs/{id}/", f"/api/runs/{orphan.pk}/")
    assert detail["created_by"] is None
    cluster = Cluster.objects.exclude(kind="local").first()
    changed = check("/api/clusters/{id}/", f"/api/clusters/{cluster.pk}/", method="PATCH",
                    data=json.dumps({"description": "edge site"}),
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert changed["description"] == "edge site"
