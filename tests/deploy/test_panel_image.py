"""The panel's image and compose file (no Docker engine runs here: parse them, run the commands)."""

import fnmatch
import subprocess
import sys
from pathlib import Path

import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]


def test_the_panel_image_runs_daphne_as_a_non_root_user():
    parser = DockerfileParser(path=str(ROOT / "docker" / "panel.Dockerfile"))
    assert parser.baseimage.startswith("python:3.11")
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    assert ("USER", "panel") in instructions
    cmd = [v for k, v in instructions if k == "CMD"][-1]
    assert "daphne" in cmd and "controlpanel.asgi:application" in cmd
    for name in ("requirements.txt", "requirements-nodeps.txt"):
        assert (ROOT / name).exists()


def test_the_compose_services_run_commands_that_exist():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    assert {"web", "worker", "beat", "redis", "postgres", "migrate"} <= set(compose["services"])
    for service in ("worker", "beat"):
        command = compose["services"][service]["command"]
        assert command[:3] == ["celery", "-A", "controlpanel"]
    # The management commands the migrate service calls are real ones.
    out = subprocess.run(
        [sys.executable, "manage.py", "help", "bootstrap_demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "admin account" in out


def _worker_queues(command: list[str]) -> tuple[set[str], str]:
    """The queues a `celery worker` command line serves, and its pool."""
    queues = set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else {"*"}
    pool = command[command.index("--pool") + 1] if "--pool" in command else "prefork"
    return queues, pool


def test_run_monitors_never_take_the_slots_provisioning_and_submissions_need():
    """Monitors last as long as their runs (camera streams: for ever). `make run` and compose
    both start a thread-pool worker for them and keep them off the main worker's queue."""
    import shlex

    from controlpanel.celery import app

    route = app.amqp.router.route({}, "workloads.tasks.run_monitor_task")
    submit = app.amqp.router.route({}, "workloads.tasks.run_submit_task")
    assert (route["queue"].name, submit["queue"].name) == ("monitors", "celery")

    procfile = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(": ")
        words = shlex.split(command)
        if "worker" in words and "celery" in words[1]:
            procfile[name] = _worker_queues(words)
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    composed = {name: _worker_queues(service["command"]) for name, service in compose.items()
                if service.get("command", [])[:4] == ["celery", "-A", "controlpanel", "worker"]}  # fmt: skip
    for workers in (procfile, composed):
        assert workers == {
            "worker": ({"celery"}, "prefork"),
            "monitor": ({"monitors"}, "threads"),
            "faces": ({"faces"}, "prefork"),
        }
    # Face images wait on a queue of their own, however long the backlog.
    process = app.amqp.router.route({}, "faces.tasks.image_process_task")
    assert process["queue"].name == "faces"
    # The local cluster's runs are the worker's child processes; the monitor checks them by pid.
    assert compose["monitor"]["pid"] == "service:worker"


def test_every_long_running_service_is_started_again_when_it_dies():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    restarts = {name: service.get("restart", "no") for name, service in compose.items()}
    assert restarts.pop("migrate") == "no"  # a one-off
    assert set(restarts.values()) == {"unless-stopped"}, restarts


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `path` out of the build context: a pattern matching the path
    or one of its folders excludes it (`**/` matches any depth, the root included)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        variants = {pattern, pattern[3:]} if pattern.startswith("**/") else {pattern}
        if any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants):
            return True
    return False


def test_the_build_context_leaves_out_local_secrets_and_state():
    """`COPY . .` after a `make run` must not put the secret key, the encryption keys, the SQLite
    database or the virtualenv into an image that is pushed to a registry."""
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    for private in ("var/secret_key", "var/encryption.keys", "var/db.sqlite3", ".env",
                    ".venv/bin/python", ".git/config", "media/faces/a.jpg",
                    "controlpanel/__pycache__/settings.cpython-311.pyc", "db.sqlite3-journal"):  # fmt: skip
        assert _ignored(private, patterns), private
    for needed in ("manage.py", "controlpanel/settings.py", "requirements.txt",
                   "media_pipeline/samples/README.md", "static/live/logs.js",
                   "templates/base.html", "docker/kubernetes/base/kustomization.yaml"):  # fmt: skip
        assert not _ignored(needed, patterns), needed
        assert (ROOT / needed).exists(), needed
