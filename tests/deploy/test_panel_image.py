"""The panel's image and compose file (no Docker engine runs here: parse them, run the commands)."""

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
