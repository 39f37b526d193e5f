"""Face identification as a user checks it: the right names, strangers unknown, cached encodings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from media_pipeline import samples
from media_pipeline.face_cache import EncodingCache, content_key, default_cache_dir
from media_pipeline.faces import FaceMatcher, person_label

# Expected identities of the development photos (from the data set's README).
EXPECTED = {
    "obama2.jpg": ["obama"],
    "obama_small.jpg": ["obama"],
    "biden2.jpg": ["biden"],
    "two_people.jpg": ["biden", "obama"],
    "alex_lacamoire_img1.jpg": ["alex_lacamoire"],
    "kit_harington_john2.jpeg": ["kit_harington"],
    "rose_leslie_img2.jpg": ["rose_leslie"],
    "lin-manuel-miranda.png": [None],
    "hannibal_2.jpg": ["hannibal"],
}


def people(result: dict) -> list[str | None]:
    return sorted((f["person"] for f in result["faces"]), key=lambda p: (p is None, p or ""))


@pytest.mark.slow
def test_every_development_photo_identified_at_tolerance_0_6(pipeline, tmp_path):
    run = pipeline(
        "faces", "--known", str(samples.KNOWN_FACES), "--images", str(samples.UNKNOWN_FACES),
        "--tolerance", "0.6", "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    found = {Path(r["image"]).name: people(r) for r in run.of("result")}
    assert found == EXPECTED
    for result in run.of("result"):
        for face in result["faces"]:
            top, right, bottom, left = face["box"]
            assert bottom > top and right > left
            assert (face["distance"] <= 0.6) == (face["person"] is not None)
    done = run.of("done")[0]
    assert (done["images"], done["faces"], done["identified"], done["unknown"]) == (9, 10, 9, 1)


def test_cache_encodes_only_new_or_changed_images(pipeline, data_dir, tmp_path):
    known = tmp_path / "known"
    shutil.copytree(data_dir / "faces" / "known", known)
    cache = tmp_path / "cache"
    query = data_dir / "faces" / "known" / "hannibal_1.jpg"
    args = ["faces", "--known", str(known), "--images", str(query)]

    first = pipeline(*args, env={"MEDIA_PIPELINE_CACHE_DIR": str(cache)})
    assert first.returncode == 0, first.stderr
    assert [f["person"] for f in first.of("result")[0]["faces"]] == ["hannibal"]
    summary = [p for p in first.of("progress") if "cache_misses" in p][0]
    assert (summary["cache_hits"], summary["cache_misses"]) == (0, 2)
    assert list(cache.glob("*.npz"))  # the env var chose the cache location

    # Renamed (content unchanged) and one new person: only the new photo is encoded.
    (known / "hannibal_1.jpg").rename(known / "hannibal_7.jpg")
    shutil.copy(data_dir / "faces" / "unknown" / "obama_small.jpg", known / "obama_1.jpg")
    second = pipeline(*args, "--cache-dir", str(cache))
    summary = [p for p in second.of("progress") if "cache_misses" in p][0]
    assert (summary["cache_hits"], summary["cache_misses"]) == (2, 1)
    assert summary["people"] == ["gergely", "hannibal", "obama"]


def test_stranger_no_face_and_unreadable_images(pipeline, data_dir, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    road = data_dir / "lanes" / "solidYellowLeft.jpg"
    stranger = data_dir / "faces" / "unknown" / "obama_small.jpg"
    run = pipeline(
        "faces", "--known", str(data_dir / "faces" / "known"),
        "--images", str(stranger), str(road), str(broken), "--no-cache",
    )  # fmt: skip
    assert run.returncode == 1
    results = {r["image"]: r for r in run.of("result")}
    (face,) = results[str(stranger)]["faces"]
    assert face["person"] is None and face["distance"] > 0.6
    assert results[str(road)]["faces"] == [] and results[str(road)]["message"] == "no face found"
    assert [e["file"] for e in run.of("error")] == [str(broken)]


def test_sub_folder_per_person_layout(tmp_path, data_dir):
    (tmp_path / "Hannibal Smith").mkdir()
    photo = tmp_path / "Hannibal Smith" / "any-name.jpg"
    shutil.copy(data_dir / "faces" / "known" / "hannibal_1.jpg", photo)
    assert person_label(photo, tmp_path) == "Hannibal Smith"
    assert person_label(tmp_path / "hannibal_1.jpg", tmp_path) == "hannibal"
    assert person_label(tmp_path / "gergely_01.jpg", tmp_path) == "gergely"
    assert person_label(tmp_path / "alex_lacamoire_1.png", tmp_path) == "alex_lacamoire"
    assert person_label(tmp_path / "madonna.jpg", tmp_path) == "madonna"


@pytest.mark.smoke
def test_vectorised_matcher_agrees_with_face_recognition():
    import face_recognition

    rng = np.random.default_rng(7)
    known = rng.normal(0, 0.1, size=(5000, 128))
    queries = np.vstack([known[42] + rng.normal(0, 0.01, 128), rng.normal(0, 0.1, (3, 128))])
    matcher = FaceMatcher(known, [f"p{i}" for i in range(len(known))])
    for query, (index, distance) in zip(queries, matcher.nearest(queries), strict=True):
        reference = face_recognition.face_distance(known, query)
        assert index == int(np.argmin(reference))
        assert distance == pytest.approx(float(reference.min()), abs=1e-9)
    assert matcher.identify(queries[:1], tolerance=0.6)[0][0] == "p42"
    assert FaceMatcher(np.empty((0, 128)), []).identify(queries[:1]) == [(None, None)]


def test_cache_file_round_trip_and_default_location(tmp_path, monkeypatch, data_dir):
    cache = EncodingCache(tmp_path)
    key = content_key(data_dir / "faces" / "known" / "gergely_01.jpg")
    cache.put(key, np.arange(128.0))
    cache.put("0" * 64, np.empty((0, 128)))  # "no face in this image" is remembered too
    cache.save()
    again = EncodingCache(tmp_path)
    assert len(again) == 2 and again.get(key)[0][5] == 5.0 and len(again.get("0" * 64)) == 0
    monkeypatch.setenv("MEDIA_PIPELINE_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("MEDIA_PIPELINE_CACHE_DIR")
    # A home that cannot hold folders (a file; chmod would not stop root) falls back to /tmp.
    not_a_folder = tmp_path / "home-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("HOME", str(not_a_folder))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert str(default_cache_dir()).startswith("/tmp")


def test_loading_the_face_library_prints_no_warning_on_stderr():
    """The stored log equals the pod's log without the models package's pkg_resources warning
    (warnings shown as Python shows them by default, in a fresh interpreter)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "from media_pipeline.faces import _face_recognition; _face_recognition()"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "pkg_resources" not in done.stderr
    assert done.stderr == ""
