"""The command-line contract: JSON events on stdout, errors per input, exit codes, no Django."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from media_pipeline import samples

from .conftest import ROOT


@pytest.mark.smoke
def test_package_imports_without_django():
    # A fresh interpreter: the test process itself has Django loaded by pytest-django.
    code = (
        "import sys, media_pipeline.cli, media_pipeline.lanes, media_pipeline.faces, "
        "media_pipeline.sources, media_pipeline.stream_server, media_pipeline.lane_command, "
        "media_pipeline.face_command, media_pipeline.face_server, media_pipeline.face_http\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.smoke
def test_bad_inputs_are_reported_and_the_rest_processed(pipeline, data_dir, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    garbage_video = tmp_path / "garbage.mp4"
    garbage_video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    notes = tmp_path / "notes.txt"
    notes.write_text("not media")
    image = data_dir / "lanes" / "solidYellowLeft.jpg"
    run = pipeline(
        "lanes", str(broken), str(garbage_video), str(tmp_path / "missing.mp4"), str(notes), str(image),
        "--output", str(tmp_path / "out"),
    )  # fmt: skip

    assert run.returncode == 1
    errors = {e["file"]: e["reason"] for e in run.of("error")}
    assert set(errors) == {
        str(broken),
        str(garbage_video),
        str(tmp_path / "missing.mp4"),
        str(notes),
    }
    assert all(errors.values())
    results = run.of("result")
    assert [r["image"] for r in results] == [str(image)]
    assert run.events[0]["event"] == "start" and run.events[-1]["event"] == "done"
    assert run.events[-1]["errors"] == 4 and run.events[-1]["images"] == 1
    assert "broken.jpg" in run.stderr  # human text goes to stderr


def test_every_event_names_its_type_and_command(pipeline, data_dir, tmp_path):
    run = pipeline("lanes", str(data_dir / "lanes"), "--output", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert {e["event"] for e in run.events} == {"start", "result", "output", "progress", "done"}
    assert all(e["command"] == "lanes" and isinstance(e["time"], float) for e in run.events)


def test_samples_command_points_at_bundled_files(pipeline):
    done = subprocess.run(
        [sys.executable, "-m", "media_pipeline", "samples"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    paths = json.loads(done.stdout)
    assert paths["development_clip"] == str(samples.DEVELOPMENT_CLIP)
    assert samples.path("lanes", "videos", "solidWhiteRight.mp4").stat().st_size > 1_000_000
    assert len(list(samples.path("faces", "known").iterdir())) == 7
    with pytest.raises(FileNotFoundError):
        samples.path("nothing-here")


def test_usage_errors_exit_2(pipeline):
    assert pipeline("nonsense").returncode == 2


def test_shards_split_the_expanded_inputs_between_pods(pipeline, tmp_path):
    # As a Kubernetes Indexed Job runs it: same arguments, a different completion index per pod.
    seen = []
    for index in range(3):
        run = pipeline(
            "lanes", str(samples.LANE_IMAGES), "--output", str(tmp_path / str(index)),
            "--shard-count", "3", env={"JOB_COMPLETION_INDEX": str(index)},
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert run.events[0]["shard"] == [index, 3]
        seen.append([r["image"] for r in run.of("result")])
    assert all(len(share) == 2 for share in seen)
    assert sorted(sum(seen, [])) == sorted(str(p) for p in samples.LANE_IMAGES.glob("*.jpg"))
    assert pipeline("lanes", "--shard-index", "3", "--shard-count", "3").returncode == 2
