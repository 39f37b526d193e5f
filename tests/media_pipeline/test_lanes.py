"""Lane detection as a user checks it: lanes found, on the paint, in playable outputs."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from media_pipeline import samples
from media_pipeline.lanes import FrameLanes, LaneDetector, draw

from .lane_checks import on_paint, paint_mask

DEV_IMAGES = sorted(samples.LANE_IMAGES.glob("*.jpg"))


def assert_lanes_on_paint(bgr: np.ndarray, lanes: dict, min_on_paint: float = 0.4) -> None:
    height, width = bgr.shape[:2]
    mask = paint_mask(bgr)
    left, right = lanes["left"], lanes["right"]
    assert left is not None and right is not None
    # Image coordinates: bottom ends at the bottom row, left lane on the left half and leaning
    # right towards the horizon, right lane the mirror image.
    assert left[0][1] == right[0][1] == height - 1
    assert left[0][0] < width / 2 < right[0][0]
    assert left[1][0] > left[0][0] and right[1][0] < right[0][0]
    for line in (left, right):
        assert on_paint(mask, line) >= min_on_paint, line
        # The same line moved sideways by 60 px leaves the paint: the check is discriminating.
        assert on_paint(mask, line, shift=60) < 0.3


@pytest.mark.smoke
@pytest.mark.parametrize("image", DEV_IMAGES, ids=lambda p: p.stem)
def test_both_lanes_on_the_paint_in_every_development_image(image: Path):
    bgr = cv2.imread(str(image))
    lanes = LaneDetector(bgr.shape[1], bgr.shape[0]).detect(bgr)
    assert_lanes_on_paint(bgr, lanes.as_dict())


@pytest.mark.parametrize("image", DEV_IMAGES[::2], ids=lambda p: p.stem)
def test_darker_exposure_still_finds_the_lanes(image: Path):
    bgr = cv2.imread(str(image))
    dark = cv2.convertScaleAbs(bgr, alpha=0.6)  # dusk or an under-exposed camera
    lanes = LaneDetector(bgr.shape[1], bgr.shape[0]).detect(dark)
    assert_lanes_on_paint(bgr, lanes.as_dict())  # same geometry: check against the original


def test_detector_handles_other_resolutions_and_empty_roads():
    bgr = cv2.imread(str(DEV_IMAGES[0]))
    big = cv2.resize(bgr, (1280, 720))
    lanes = LaneDetector(1280, 720).detect(big)
    assert_lanes_on_paint(big, lanes.as_dict())
    # A blank road: no paint, no lanes, and no crash.
    blank = np.full((540, 960, 3), 90, np.uint8)
    assert LaneDetector(960, 540).detect(blank).as_dict() == {"left": None, "right": None}
    with pytest.raises(ValueError):
        LaneDetector(960, 540).detect(big)
    for width, height in [(1, 1), (3, 3), (17, 31)]:  # thumbnails: no lanes, no crash
        tiny = np.full((height, width, 3), 255, np.uint8)
        assert LaneDetector(width, height).detect(tiny).as_dict() == {"left": None, "right": None}


def test_odd_sized_video_is_written_with_the_last_row_and_column_dropped(pipeline, tmp_path):
    clip = tmp_path / "odd.mp4"
    frames = [cv2.resize(cv2.imread(str(p)), (481, 271)) for p in DEV_IMAGES[:3]]
    with av.open(str(clip), "w") as container:  # odd sizes need a codec without 4:2:0 limits
        stream = container.add_stream("libx264rgb", rate=10)
        stream.width, stream.height, stream.pix_fmt = 481, 271, "bgr24"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    run = pipeline("lanes", str(clip), "--output", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    with av.open(str(tmp_path / "out" / "odd_lanes.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (480, 270)
        assert sum(1 for _ in container.decode(stream)) == 3


def test_video_smoothing_holds_a_briefly_lost_lane():
    bgr = cv2.imread(str(DEV_IMAGES[0]))
    detector = LaneDetector(960, 540, video=True)
    first = detector.detect(bgr)
    blank = np.full_like(bgr, 90)
    held = detector.detect(blank)
    assert not held.both and held.left == first.left  # lost for one frame: position kept
    for _ in range(10):
        gone = detector.detect(blank)
    assert gone.left is None and gone.right is None


def test_image_run_reports_lanes_in_pixels_and_writes_outputs(pipeline, data_dir, tmp_path):
    image = data_dir / "lanes" / "solidYellowLeft.jpg"
    run = pipeline("lanes", str(image), "--output", str(tmp_path))
    assert run.returncode == 0, run.stderr
    (result,) = run.of("result")
    assert result["image"] == str(image)
    assert_lanes_on_paint(cv2.imread(str(image)), result["lanes"])
    outputs = {Path(e["path"]).name: e for e in run.of("output")}
    assert set(outputs) == {"solidYellowLeft_lanes.jpg", "solidYellowLeft_lanes.jpg.json"}
    annotated = cv2.imread(str(tmp_path / "solidYellowLeft_lanes.jpg"))
    # The overlay is drawn in red along the reported left lane.
    (x1, y1), (x2, y2) = result["lanes"]["left"]
    b, g, r = annotated[(y1 + y2) // 2, (x1 + x2) // 2].astype(int)
    assert r > 180 and g < 90 and b < 90
    summary = json.loads((tmp_path / "solidYellowLeft_lanes.jpg.json").read_text())
    assert summary["frames"] == 1 and summary["frames_with_both_lanes"] == 1


def test_video_run_writes_h264_mp4_and_summary(pipeline, data_dir, tmp_path):
    clip = data_dir / "lanes" / "solidWhiteRight_first30.mp4"
    run = pipeline("lanes", str(clip), "--output", str(tmp_path))
    assert run.returncode == 0, run.stderr
    video = tmp_path / "solidWhiteRight_first30_lanes.mp4"
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (960, 540)
        assert sum(1 for _ in container.decode(stream)) == 30
    summary = json.loads((tmp_path / "solidWhiteRight_first30_lanes.mp4.json").read_text())
    assert summary["frames"] == 30 and summary["frames_with_both_lanes"] >= 29
    assert summary["source_fps"] == 25.0 and summary["fps"] > 0
    progress = run.of("progress")
    assert progress and progress[-1]["frame"] == 29 and progress[-1]["frames"] == 30
    assert all({"file", "frame", "frames", "fps", "lanes"} <= set(p) for p in progress)
    assert run.of("done")[0]["frames_with_both_lanes"] == summary["frames_with_both_lanes"]


def test_draw_leaves_frames_without_lanes_untouched():
    frame = np.zeros((540, 960, 3), np.uint8)
    draw(frame, FrameLanes(left=None, right=None))
    assert not frame.any()


@pytest.mark.slow
def test_development_clip_both_lanes_in_95_percent_of_frames_on_the_paint(pipeline, tmp_path):
    run = pipeline("lanes", str(samples.DEVELOPMENT_CLIP), "--output", str(tmp_path), "--no-video")
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "solidWhiteRight_lanes.mp4.json").read_text())
    assert summary["frames"] == 221
    assert summary["frames_with_both_lanes"] >= 0.95 * 221
    # The lanes the progress events report sit on the paint of the frames they name.
    sampled = {p["frame"]: p["lanes"] for p in run.of("progress")}
    capture = cv2.VideoCapture(str(samples.DEVELOPMENT_CLIP))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index in sampled:
            assert_lanes_on_paint(frame, sampled[index], min_on_paint=0.3)
        index += 1
    assert index == 221
