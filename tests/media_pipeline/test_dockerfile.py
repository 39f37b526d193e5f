"""The media-pipeline image, checked without a Docker engine: parse the Dockerfile, then run
its entrypoint commands the way the container would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from .conftest import ROOT

DOCKERFILE = ROOT / "docker" / "media-pipeline.Dockerfile"


def instructions() -> list[dict]:
    parser = DockerfileParser(path=str(DOCKERFILE))
    return parser.structure


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            found[name.split("[")[0].lower()] = version
    return found


@pytest.mark.smoke
def test_slim_base_non_root_user_and_entrypoint():
    parsed = instructions()
    (base,) = [i["value"] for i in parsed if i["instruction"] == "FROM"]
    assert base.startswith("python:3.11-slim")
    users = [i["value"] for i in parsed if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (entrypoint,) = [i["value"] for i in parsed if i["instruction"] == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["python", "-m", "media_pipeline"]
    # Every COPY source exists in the build context (the repository root).
    for copy in (i["value"].split() for i in parsed if i["instruction"] == "COPY"):
        assert (ROOT / copy[0]).exists(), copy[0]
    run = " ".join(i["value"] for i in parsed if i["instruction"] == "RUN")
    assert "--no-deps face-recognition==" in run


def test_image_requirements_match_the_project_pins():
    image = pins(ROOT / "media_pipeline" / "requirements.txt")
    project = pins(ROOT / "requirements.txt") | pins(ROOT / "requirements-nodeps.txt")
    assert image and all(project[name] == version for name, version in image.items())
    assert "dlib" not in image  # the source build this image avoids
    run = " ".join(i["value"] for i in instructions() if i["instruction"] == "RUN")
    assert f"face-recognition=={project['face-recognition']}" in run


def container_env(tmp_path: Path) -> dict[str, str]:
    """The image's ENV, with its install path mapped onto this checkout and a writable home."""
    env = {**os.environ, **DockerfileParser(path=str(DOCKERFILE)).envs}
    env["PYTHONPATH"] = str(ROOT)
    env["MEDIA_PIPELINE_CACHE_DIR"] = str(tmp_path / "cache")
    env["HOME"] = str(tmp_path)
    return env


@pytest.mark.slow
def test_entrypoint_commands_run_with_the_bundled_samples(tmp_path):
    env = container_env(tmp_path)
    parsed = instructions()
    entrypoint = json.loads(next(i["value"] for i in parsed if i["instruction"] == "ENTRYPOINT"))
    cmd = json.loads(next(i["value"] for i in parsed if i["instruction"] == "CMD"))
    python = [sys.executable, *entrypoint[1:]]  # `python` of the image = this interpreter
    helped = subprocess.run([*python, *cmd], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert helped.returncode == 0 and "lanes" in helped.stdout

    # The panel's presets: no parameters, the sample footage baked into the image.
    lanes = subprocess.run(
        [*python, "lanes", "--no-video"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert lanes.returncode == 0, lanes.stderr
    done = json.loads(lanes.stdout.splitlines()[-1])
    assert done["event"] == "done" and (done["images"], done["videos"]) == (6, 1)
    assert (
        tmp_path / "media-pipeline-output" / "lanes" / "solidWhiteRight_lanes.mp4.json"
    ).exists()
