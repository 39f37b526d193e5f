"""The API clients of the load benchmark, for locust (`python -m bench.load` runs it).

Each client signs in with a personal API token of its own (core's token model) and waits
`LOAD_WAIT` seconds (a range) between calls, as a script polling the panel does:

- `OperatorClient`: lists runs (plain, filtered, searched, a deep page), reads runs with their
  log and events, creates runs, and lists templates, clusters and the other operator lists.
- `AdminClient`: the same, plus the admin lists (users, the audit log, everyone's tokens).
- `ListReader`: every list of the API in turn (the lists come from the OpenAPI schema), to
  measure each one at 10,000 runs without the rest of the load.

Everything it needs comes in the JSON file `LOAD_CONFIG` names; the HTTP status of every answer
is counted per call and written to `LOAD_STATUS` when locust stops.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter
from pathlib import Path

from locust import FastHttpUser, between, events, task

CONFIG = json.loads(Path(os.environ["LOAD_CONFIG"]).read_text())
WAIT = [float(x) for x in os.environ.get("LOAD_WAIT", "0.5,1.5").split(",")]
STATUS: Counter = Counter()
_tokens = {role: itertools.cycle(CONFIG["tokens"][role]) for role in CONFIG["tokens"]}


@events.request.add_listener
def _count_status(request_type, name, response=None, exception=None, **_kwargs) -> None:
    code = getattr(response, "status_code", None) or type(exception).__name__
    STATUS[f"{request_type} {name} {code}"] += 1


@events.quitting.add_listener
def _write_status(**_kwargs) -> None:
    Path(os.environ["LOAD_STATUS"]).write_text(json.dumps(STATUS))


class _Client(FastHttpUser):
    abstract = True
    role = "operator"
    wait_time = between(*WAIT)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Token {next(_tokens[self.role])}"}
        self.created: list[int] = []

    def get(self, url: str, name: str, **params) -> None:
        self.client.get(url, headers=self.headers, params=params or None, name=name)

    def a_run(self) -> int:
        """A run to read: mostly one of the seeded ones, sometimes one this client made."""
        if self.created and random.random() < 0.3:
            return random.choice(self.created)
        return random.randint(*CONFIG["run_ids"])


class OperatorClient(_Client):
    weight = 4

    @task(10)
    def list_runs(self) -> None:
        self.get("/api/runs/", "GET /api/runs/")

    @task(3)
    def list_runs_filtered(self) -> None:
        state = random.choice(["succeeded", "failed", "running", "pending"])
        self.get("/api/runs/", "GET /api/runs/?state=&template=", state=state,
                 template=random.choice(CONFIG["templates"]))  # fmt: skip

    @task(2)
    def search_runs(self) -> None:
        self.get(
            "/api/runs/", "GET /api/runs/?search=", search=random.choice(["exit", "lane", "k1"])
        )

    @task(1)
    def deep_page(self) -> None:
        self.get("/api/runs/", "GET /api/runs/?page=", page=random.randint(2, CONFIG["run_pages"]))

    @task(10)
    def read_run(self) -> None:
        self.get(f"/api/runs/{self.a_run()}/", "GET /api/runs/{id}/")

    @task(3)
    def read_log(self) -> None:
        self.get(f"/api/runs/{self.a_run()}/logs/", "GET /api/runs/{id}/logs/", limit=200)

    @task(1)
    def read_events(self) -> None:
        self.get(f"/api/runs/{self.a_run()}/events/", "GET /api/runs/{id}/events/")

    @task(2)
    def create_run(self) -> None:
        body = {"template": "lane-detection", "cluster": CONFIG["cluster"]}
        with self.client.post("/api/runs/", json=body, headers=self.headers, name="POST /api/runs/",
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            self.created.append(response.json()["id"])

    @task(2)
    def list_templates(self) -> None:
        self.get("/api/templates/", "GET /api/templates/")

    @task(2)
    def list_clusters(self) -> None:
        self.get("/api/clusters/", "GET /api/clusters/")

    @task(1)
    def list_credentials(self) -> None:
        self.get("/api/credentials/", "GET /api/credentials/")

    @task(1)
    def list_operations(self) -> None:
        self.get("/api/azure-operations/", "GET /api/azure-operations/")

    @task(1)
    def list_own_tokens(self) -> None:
        self.get("/api/tokens/", "GET /api/tokens/")

    @task(1)
    def me(self) -> None:
        self.get("/api/me/", "GET /api/me/")


class AdminClient(OperatorClient):
    role = "admin"
    weight = 1

    @task(2)
    def list_audit(self) -> None:
        self.get("/api/audit/", "GET /api/audit/")

    @task(1)
    def list_users(self) -> None:
        self.get("/api/users/", "GET /api/users/")


class ListReader(_Client):
    """Every list of the API, one after the other (each client starts at another one)."""

    role = "admin"

    def on_start(self) -> None:
        super().on_start()
        lists = CONFIG["lists"]
        self.lists = itertools.islice(itertools.cycle(lists), random.randrange(len(lists)), None)

    @task
    def next_list(self) -> None:
        name, url = next(self.lists)
        self.get(url, f"GET {name}")
