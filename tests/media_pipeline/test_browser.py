"""The annotated video plays in Chromium, the panel's inline player."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


@pytest.mark.browser
@pytest.mark.slow
def test_annotated_video_plays_in_chromium(pipeline, data_dir, tmp_path, page):
    run = pipeline(
        "lanes", str(data_dir / "lanes" / "solidWhiteRight_first30.mp4"), "--output", str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
    (tmp_path / "index.html").write_text(
        '<!doctype html><video id="v" src="solidWhiteRight_first30_lanes.mp4" muted preload="auto"></video>'
    )
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")
        state = page.evaluate(
            """() => new Promise((resolve) => {
                const v = document.getElementById('v');
                const report = () => resolve({duration: v.duration, width: v.videoWidth,
                    height: v.videoHeight, error: v.error && v.error.code});
                if (v.readyState >= 1) report();
                v.addEventListener('loadedmetadata', report);
                v.addEventListener('error', report);
                setTimeout(report, 15000);
            })"""
        )
        played = page.evaluate(
            """() => new Promise((resolve) => {
                const v = document.getElementById('v');
                v.play().then(() => setTimeout(() => resolve(v.currentTime), 500),
                              (e) => resolve(-1));
            })"""
        )
    finally:
        httpd.shutdown()
    assert state["error"] is None
    assert state["duration"] == pytest.approx(1.2, abs=0.1)  # 30 frames at 25 fps
    assert (state["width"], state["height"]) == (960, 540)
    assert played > 0  # it really decodes and advances
