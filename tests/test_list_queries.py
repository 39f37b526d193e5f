"""Every list of the API and the pages costs the same number of queries whatever the number of
rows (no N+1).

The lists are found in the URL map (every route whose GET is a viewset's `list`), so a new
endpoint is checked without being named here; the rows come from `tests.tools.seed`, which must
learn about a new model for its list to be filled (the test says so when a list is empty).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.tools.seed import seed

# Lists reached through one object: its children, paged (the run's log and events, a
# registry's pull secrets).
NESTED_LISTS = {"run-events": "run-list", "run-logs": "run-list",
                "registry-pull-secrets": "registry-list"}  # fmt: skip


def _api_routes() -> dict[str, tuple[str, type]]:
    """{url name: (the GET action, viewset class)} of every viewset route under /api/."""
    found: dict[str, tuple[str, type]] = {}

    def walk(patterns, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace == "api" and pattern.name:
                actions = getattr(pattern.callback, "actions", None) or {}
                if "get" in actions:
                    found[pattern.name] = (actions["get"], pattern.callback.cls)

    walk(get_resolver().url_patterns, "")
    return found


ROUTES = _api_routes()
LISTS = sorted(name for name, (action, _cls) in ROUTES.items() if action == "list")
DETAILS = sorted(name for name, (action, _cls) in ROUTES.items() if action == "retrieve")


def _newest(api, list_name: str) -> dict:
    """The newest row of a list (the seed gives the newest of each call the most children)."""
    rows = api.get(reverse(f"api:{list_name}"), {"ordering": "-created_at"}).json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert rows, f"{list_name} is empty: teach tests/tools/seed.py to make its rows"
    return rows[0]


def _url(api, name: str) -> str:
    if name in LISTS:
        return reverse(f"api:{name}")
    list_name = NESTED_LISTS.get(name) or name.removesuffix("-detail") + "-list"
    lookup = ROUTES[name][1].lookup_field
    row = _newest(api, list_name)
    return reverse(f"api:{name}", args=[row["id" if lookup == "pk" else lookup]])


def _count(response) -> int:
    body = response.json()
    if isinstance(body, dict):
        return len(body.get("results", body.get("lines", [])))
    return len(body)


# The panel's pages that list rows, and pages of one object with its children.
PAGES = ["home", "run-list", "template-list", "cluster-list", "cluster-health-table",
         "credential-list", "camera-list", "token-list", "user-list", "audit-list", "aks-list",
         "storage-list", "registry-list", "face-list", "face-rows", "person-list"]  # fmt: skip
OBJECT_PAGES = {"run-detail": "run-list", "registry-detail": "registry-list",
                "face-detail": "faceimage-list", "person-detail": "person-list"}  # fmt: skip


def _page_url(api, name: str) -> str:
    if name in OBJECT_PAGES:
        return reverse(name, args=[_newest(api, OBJECT_PAGES[name])["id"]])
    return reverse(name)


def test_the_route_map_has_the_lists_this_test_is_about():
    """A change to how routes are declared must not silently leave nothing checked."""
    assert {"run-list", "template-list", "cluster-list", "credential-list", "auditevent-list",
            "apitoken-list", "user-list", "person-list", "faceimage-list"} <= set(LISTS)  # fmt: skip
    assert set(NESTED_LISTS) <= set(ROUTES)


@pytest.mark.slow
@pytest.mark.django_db
def test_no_list_queries_more_with_ten_times_the_rows(
    admin_api, admin_client, django_assert_max_num_queries
):
    """Each list of the API and of the pages (and each object with its children) is read with
    as many queries for 30 rows as for 3: rows are joined or prefetched, never fetched one by
    one."""
    # (client, url name, how to find its url, how many rows it lists or None)
    endpoints = [(admin_api, name, _url, _count) for name in [*LISTS, *NESTED_LISTS]]
    endpoints += [(admin_api, name, _url, None) for name in DETAILS]
    endpoints += [(admin_client, name, _page_url, None) for name in [*PAGES, *OBJECT_PAGES]]
    seed(runs=3, rows=3, children=3, log_lines=3)
    small: dict[tuple, int] = {}
    for client, name, url_of, rows_in in endpoints:
        url = url_of(admin_api, name)
        client.get(url)  # once first: the token's last-used time is written on the first call
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        if rows_in:
            assert rows_in(response) >= 3, f"{url} lists {rows_in(response)} rows: seed its model"
        small[client, name] = len(queries)

    seed(runs=27, rows=27, children=30, log_lines=30)
    grew = []
    for client, name, url_of, rows_in in endpoints:
        url = url_of(admin_api, name)
        try:
            with django_assert_max_num_queries(small[client, name]):
                response = client.get(url)
        except pytest.fail.Exception as exc:
            grew.append(f"{url}: {exc}")
            continue
        assert response.status_code == 200
        if rows_in:
            assert rows_in(response) >= 27, f"{url} lists {rows_in(response)} rows"
    assert not grew, "\n\n".join(grew)
