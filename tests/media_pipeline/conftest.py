"""Fixtures for the media-pipeline tests: run the real command and parse its events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


@dataclass
class Run:
    returncode: int
    events: list[dict]
    stderr: str

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]


def run_pipeline(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> Run:
    """`python -m media_pipeline ARGS` exactly as the workload image runs it."""
    completed = subprocess.run(
        [sys.executable, "-m", "media_pipeline", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    # Every stdout line must be one JSON object: that is the contract with the panel.
    events = [json.loads(line) for line in completed.stdout.splitlines()]
    return Run(completed.returncode, events, completed.stderr)


@pytest.fixture
def pipeline():
    return run_pipeline


@pytest.fixture
def data_dir() -> Path:
    return DATA
