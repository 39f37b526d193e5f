"""The import rules of docs/ARCHITECTURE.md hold, and breaking one fails with the import named."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("controlpanel", "faces", "cameras", "workloads", "clusters", "core", "media_pipeline")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.smoke


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_every_app_imports_only_the_layers_below_it():
    """The contracts in .importlinter are kept by the code as it is."""
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_an_upward_import_or_django_in_the_pipeline_fails_naming_the_import(tmp_path):
    """A copy of the code with core importing workloads, and the media pipeline importing
    Django, breaks both contracts, each message naming the module and the import."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / ".importlinter", tmp_path)
    (tmp_path / "core" / "probe.py").write_text("from workloads import models  # noqa\n")
    (tmp_path / "media_pipeline" / "probe.py").write_text("import django  # noqa\n")

    done = lint_imports(tmp_path)

    assert done.returncode != 0
    assert "core is not allowed to import workloads" in done.stdout
    assert "core.probe -> workloads.models" in done.stdout
    assert "media_pipeline.probe -> django" in done.stdout
