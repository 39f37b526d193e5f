"""The face-recognition back-end as the panel sees it: a real `faces-serve` process on a free port
with the real models, answering over HTTP; every answer compared with a bare face_recognition call
on the same image."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from media_pipeline import samples
from media_pipeline.events import EventWriter

from .conftest import ROOT
from .test_stream_server import free_port

pytestmark = [pytest.mark.faces, pytest.mark.slow]

MAX_BYTES = 600_000  # above every sample photo used here, far below the 20 MB default
KNOWN, UNKNOWN = samples.KNOWN_FACES, samples.UNKNOWN_FACES
LOG_EVERY = 0.5
SUMMARY_LINE = re.compile(r"^faces-serve: last \d+s: \d+ ")
SUMMARY_PART = re.compile(r"(\d+) (GET|POST|PUT|DELETE) (/\S*|other) (\d{3}) \(median [\d.]+s")
REQUEST_LINE = re.compile(r"^faces-serve: (GET|POST|PUT|DELETE) (/\S*) (\d{3}) (\d+\.\d{3})s$")


@dataclass
class Server:
    base: str
    port: int
    process: subprocess.Popen
    volume: Path
    outside: Path
    stdout: Path
    stderr: Path
    first_health: int  # status of the first /healthz, asked right after the `start` event
    first_detect: tuple[int, dict]

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def detect_json(self, payload: object) -> tuple[int, dict]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, _, data = self.request(
            "POST", "/detect", body, {"Content-Type": "application/json"}
        )
        return status, json.loads(data)

    def detect_bytes(
        self, data: bytes, query: str = "", content_type: str = "image/jpeg"
    ) -> tuple[int, dict]:
        status, _, body = self.request(
            "POST", f"/detect{query}", data, {"Content-Type": content_type}
        )
        return status, json.loads(body)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        status, headers, body = self.request("GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }


def wait_for_event(path: Path, process: subprocess.Popen, kind: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            event = json.loads(line)  # stdout holds events only: the contract with the panel
            if event["event"] == kind:
                return event
        assert process.poll() is None, f"faces-serve exited {process.returncode}"
        time.sleep(0.02)
    raise AssertionError(f"no {kind} event within {timeout}s")


def make_volume(root: Path) -> tuple[Path, Path]:
    """A volume with photos, things that are not photos, and ways out of it."""
    volume, outside = root / "volume", root / "outside"
    (volume / "people").mkdir(parents=True)
    outside.mkdir()
    for name in ("obama_small.jpg", "two_people.jpg", "lin-manuel-miranda.png"):
        shutil.copy(UNKNOWN / name, volume / "people" / name)
    for name in ("hannibal_1.jpg", "alex_lacamoire_1.png"):
        shutil.copy(KNOWN / name, volume / name)
    shutil.copy(UNKNOWN / "obama_small.jpg", outside / "secret.jpg")
    (volume / "notes.txt").write_text("not a photo\n")
    (volume / "empty.jpg").write_bytes(b"")
    # Headers without scan data: undecodable even though face_recognition lets PIL load truncated
    # images (which it does: a JPEG cut short later decodes, grey at the bottom, as a bare call).
    (volume / "truncated.jpg").write_bytes((UNKNOWN / "obama_small.jpg").read_bytes()[:600])
    (volume / "huge.jpg").write_bytes(b"\xff\xd8" + b"\0" * MAX_BYTES)
    (volume / "escape.jpg").symlink_to(outside / "secret.jpg")
    (volume / "escape-dir").symlink_to(outside)
    (volume / "alias.jpg").symlink_to(volume / "people" / "obama_small.jpg")  # stays inside
    os.mkfifo(volume / "pipe.jpg")
    (volume / "loop.jpg").symlink_to(volume / "loop.jpg")  # a link to itself
    return volume, outside


def start_server(root: Path, *extra: str) -> tuple[subprocess.Popen, int, Path, Path]:
    port = free_port()
    stdout, stderr = root / "stdout.log", root / "stderr.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "media_pipeline", "faces-serve", "--host", "127.0.0.1",
             "--port", str(port), *extra],
            cwd=ROOT, stdout=out, stderr=err,
        )  # fmt: skip
    return process, port, stdout, stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    root = tmp_path_factory.mktemp("faces-serve")
    volume, outside = make_volume(root)
    process, port, stdout, stderr = start_server(
        root, "--volume", f"photos={volume}", "--volume", f"other={outside}",
        "--max-bytes", str(MAX_BYTES), "--log-every", str(LOG_EVERY),
    )  # fmt: skip
    try:
        start = wait_for_event(stdout, process, "start")
        assert start["port"] == port and start["volumes"] == ["other", "photos"]
        served = Server(f"http://127.0.0.1:{port}", port, process, volume, outside, stdout,
                        stderr, 0, (0, {}))  # fmt: skip
        served.first_health = served.request("GET", "/healthz")[0]
        served.first_detect = served.detect_json({"volume": "photos", "path": "alias.jpg"})
        deadline = time.monotonic() + 120
        while served.request("GET", "/healthz")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.05)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


# -- the reference: a bare face_recognition call --------------------------------------------


def bare(path: Path, margin: float = 0.0) -> dict:
    """What face_recognition itself answers (library defaults), mapped back from the margin."""
    import face_recognition

    rgb = face_recognition.load_image_file(str(path))
    height, width = rgb.shape[:2]
    pad = int(margin * max(height, width))
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    boxes = face_recognition.face_locations(padded)
    encodings = face_recognition.face_encodings(padded, boxes)
    faces = [
        {
            "box": [max(t - pad, 0), min(r - pad, width), min(b - pad, height), max(le - pad, 0)],
            "encoding": e.tolist(),
        }
        for (t, r, b, le), e in zip(boxes, encodings, strict=True)
    ]
    return {"faces": faces, "width": width, "height": height}


def without_time(answer: dict) -> dict:
    assert answer["seconds"] > 0
    return {key: value for key, value in answer.items() if key != "seconds"}


# -- health and the loading window -----------------------------------------------------------


def test_health_is_503_while_the_models_load_and_ok_after(server):
    """Health checks see 503 until the models are loaded; a detect meanwhile is transient."""
    assert server.first_health == 503
    status, body = server.first_detect
    assert (status, body["permanent"]) == (503, False)
    status, headers, body = server.request("GET", "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Content-Type"] == "application/json"


# -- detect: the same answers as face_recognition ---------------------------------------------


@pytest.mark.parametrize(
    "relative, source, faces",
    [
        ("people/obama_small.jpg", UNKNOWN / "obama_small.jpg", 1),
        ("people/two_people.jpg", UNKNOWN / "two_people.jpg", 2),
        ("alex_lacamoire_1.png", KNOWN / "alex_lacamoire_1.png", 1),  # RGBA PNG
        ("alias.jpg", UNKNOWN / "obama_small.jpg", 1),  # a symlink that stays inside
    ],
)
def test_detect_by_volume_path_equals_a_bare_call(server, relative, source, faces):
    """Boxes and encodings read from a volume are exactly face_recognition's."""
    status, answer = server.detect_json({"volume": "photos", "path": relative})

    assert status == 200, answer
    assert len(answer["faces"]) == faces
    assert all(len(face["encoding"]) == 128 for face in answer["faces"])
    assert without_time(answer) == bare(source)


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/octet-stream"])
def test_detect_by_bytes_equals_a_bare_call(server, content_type):
    """Image bytes in the body give the same answer, also for requests in flight together."""
    data = (UNKNOWN / "obama_small.jpg").read_bytes()
    expected = bare(UNKNOWN / "obama_small.jpg")

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: server.detect_bytes(data, "", content_type), range(3)))

    assert [status for status, _ in answers] == [200, 200, 200]
    assert all(without_time(answer) == expected for _, answer in answers)


def test_a_photo_without_a_face_has_an_empty_list(server):
    status, answer = server.detect_json(
        {"volume": "photos", "path": "people/lin-manuel-miranda.png"}
    )
    assert status == 200 and without_time(answer) == bare(UNKNOWN / "lin-manuel-miranda.png")


def test_margin_boxes_are_in_the_original_images_coordinates(server):
    """A tight reference photo padded by 20%: the face is found where a bare call on the padded
    image finds it, reported in the photo's own coordinates, inside the photo."""
    photo = KNOWN / "hannibal_1.jpg"
    expected = bare(photo, margin=0.2)
    assert expected["faces"] and expected != bare(photo)  # the margin matters for this photo

    by_path = server.detect_json({"volume": "photos", "path": "hannibal_1.jpg", "margin": 0.2})
    by_bytes = server.detect_bytes(photo.read_bytes(), "?margin=0.2")

    for status, answer in (by_path, by_bytes):
        assert status == 200, answer
        assert without_time(answer) == expected
        assert (answer["width"], answer["height"]) == (600, 300)
        for face in answer["faces"]:
            top, right, bottom, left = face["box"]
            assert 0 <= top < bottom <= 300 and 0 <= left < right <= 600


def test_a_thumbnail_is_the_image_scaled_to_320_px(server):
    """The panel shows images it cannot read itself (on a Kubernetes volume) from this."""
    import base64

    import cv2
    import numpy as np

    photo = UNKNOWN / "two_people.jpg"
    original = cv2.imread(str(photo))
    for status, answer in (
        server.detect_json(
            {"volume": "photos", "path": "people/two_people.jpg", "thumbnail": True}
        ),
        server.detect_bytes(photo.read_bytes(), "?thumbnail=1"),
    ):
        assert status == 200, answer
        thumb = cv2.imdecode(np.frombuffer(base64.b64decode(answer["thumbnail"]), np.uint8), 1)
        height, width = thumb.shape[:2]
        assert max(height, width) == 320
        assert abs(width / height - answer["width"] / answer["height"]) < 0.02
        shrunk = cv2.resize(original, (width, height), interpolation=cv2.INTER_AREA)
        assert np.abs(shrunk.astype(int) - thumb.astype(int)).mean() < 6  # the same picture
        assert len(answer["faces"]) == 2
    status, answer = server.detect_json({"volume": "photos", "path": "people/two_people.jpg"})
    assert status == 200 and "thumbnail" not in answer


# -- what cannot succeed: 422, permanent -----------------------------------------------------


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"volume": "nope", "path": "people/obama_small.jpg"}, "unknown volume 'nope'"),
        ({"volume": "photos", "path": "people/missing.jpg"}, "no such file"),
        ({"volume": "photos", "path": "people"}, "not a file"),
        ({"volume": "photos", "path": "pipe.jpg"}, "not a regular file"),
        ({"volume": "photos", "path": "notes.txt"}, "not an image"),
        ({"volume": "photos", "path": "truncated.jpg"}, "not a decodable image"),
        ({"volume": "photos", "path": "empty.jpg"}, "is empty"),
        ({"volume": "photos", "path": "huge.jpg"}, "more than the 600,000"),
        ({"volume": "photos", "path": ""}, "path must be"),
        ({"volume": "photos"}, "path is required"),
        ({"path": "x.jpg"}, "volume is required"),
        ({"volume": 3, "path": "x.jpg"}, "volume must be"),
        ({"volume": "photos", "path": "hannibal_1.jpg", "margin": 1.5}, "margin must be between"),
        ({"volume": "photos", "path": "hannibal_1.jpg", "margin": -0.1}, "margin must be between"),
        ({"volume": "photos", "path": "hannibal_1.jpg", "margin": "wide"}, "margin must be"),
        ({"volume": "photos", "path": "hannibal_1.jpg", "margin": True}, "margin must be"),
        ({"volume": "photos", "path": "hannibal_1.jpg", "size": 2}, "unknown field(s) 'size'"),
        (b'{"volume": "photos", "path": "hannibal_1.jpg", "margin": NaN}', "margin must be"),
        (b'{"volume": "photos", ', "not valid JSON"),
        (b'["photos", "hannibal_1.jpg"]', "must be a JSON object"),
        (b"", "the body is empty"),
        # Were 500s (not permanent): the panel retried them and counted them against the
        # circuit, so five such paths stopped every caller's images.
        ({"volume": "photos", "path": "a" * 256}, "cannot be opened: File name too long"),
        ({"volume": "photos", "path": "loop.jpg"}, "Too many levels of symbolic links"),
        ({"volume": "photos", "path": "loop.jpg/x.jpg"}, "Too many levels of symbolic links"),
        (b"[" * 60_000, "nested too deeply"),
    ],
)
def test_requests_that_cannot_succeed_are_422_and_permanent(server, payload, message):
    status, answer = server.detect_json(payload)
    assert (status, answer["permanent"]) == (422, True), answer
    assert message in answer["error"]
    assert str(server.volume) not in answer["error"]  # the server's own paths stay private


@pytest.mark.parametrize(
    "data, query, content_type, message",
    [
        (b"", "", "image/jpeg", "the body is empty"),
        (b"GIF89a not really", "", "image/gif", "not an image"),
        (b"%PDF-1.4", "", "application/octet-stream", "not an image"),
        (b"\xff\xd8\xff", "?margin=2", "image/jpeg", "margin must be between"),
        (b"\xff\xd8\xff", "?margin=x", "image/jpeg", "margin must be"),
        (b"\xff\xd8\xff", "?scale=2", "image/jpeg", "unknown query parameter(s) 'scale'"),
        (b"\xff\xd8\xff", "?thumbnail=yes", "image/jpeg", "thumbnail must be true or false"),
        (b"\xff\xd8\xff", "", "text/plain", "Content-Type 'text/plain'"),
        (b"\xff\xd8\xff", "", "", "Content-Type 'none'"),
    ],
)
def test_bad_bytes_are_422_and_permanent(server, data, query, content_type, message):
    status, answer = server.detect_bytes(data, query, content_type)
    assert (status, answer["permanent"]) == (422, True), answer
    assert message in answer["error"]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a huge canvas in a few bytes (a decompression bomb's opening)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_a_canvas_too_large_to_decode_is_refused_before_decoding(server):
    status, answer = server.detect_bytes(png_header(10_000, 6_000), "", "image/png")
    assert (status, answer["permanent"]) == (422, True)
    assert "10000x6000 pixels" in answer["error"]


def test_a_margin_that_would_grow_a_thin_strip_into_gigapixels_is_refused(server):
    """The margin is a fraction of the longer side: 8 megapixels of strip (within the limit)
    with margin 1 would be scanned as 2.4 gigapixels (7 GB of border before any detection).
    A margin on an ordinary photo is still taken."""
    import numpy as np

    ok, strip = cv2.imencode(".png", np.zeros((400, 20_000, 3), dtype=np.uint8))
    assert ok and len(strip) < MAX_BYTES
    status, answer = server.detect_bytes(strip.tobytes(), "?margin=1", "image/png")
    assert (status, answer["permanent"]) == (422, True), answer
    assert "scanned as 60000x40400 pixels" in answer["error"]
    photo = (KNOWN / "hannibal_1.jpg").read_bytes()
    assert server.detect_bytes(photo, "?margin=1")[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.jpg",
        "people/../../outside/secret.jpg",
        "escape.jpg",  # a symlink to a file outside
        "escape-dir/secret.jpg",  # through a symlinked folder
        "ABSOLUTE",  # an absolute path, here to the outside file
        "ABSOLUTE-INSIDE",  # absolute, even when it points into the volume
    ],
)
def test_paths_leaving_the_volume_are_refused(server, path):
    if path == "ABSOLUTE":
        path = str(server.outside / "secret.jpg")
    elif path == "ABSOLUTE-INSIDE":
        path = str(server.volume / "people" / "obama_small.jpg")
    status, answer = server.detect_json({"volume": "photos", "path": path})
    assert (status, answer["permanent"]) == (422, True), answer
    assert "outside volume 'photos'" in answer["error"] or "must be relative" in answer["error"]
    assert "faces" not in answer


def test_the_other_volume_serves_its_own_files(server):
    """`secret.jpg` is refused through `photos` but is a plain file of volume `other`."""
    status, answer = server.detect_json({"volume": "other", "path": "secret.jpg"})
    assert status == 200 and len(answer["faces"]) == 1


def test_a_body_over_max_bytes_is_413_and_is_not_read(server):
    """The limit is checked on Content-Length: the server answers without reading the body,
    closes that connection, and keeps serving."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("POST", "/detect")
    connection.putheader("Content-Type", "image/jpeg")
    connection.putheader("Content-Length", str(MAX_BYTES + 1))
    connection.endheaders()
    connection.send(b"\xff\xd8" + b"\0" * 1000)  # far less than announced: never waited for
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()

    assert response.status == 413 and body["permanent"] is True
    assert response.getheader("Connection") == "close"
    assert server.request("GET", "/healthz")[0] == 200


def test_a_chunked_body_over_max_bytes_is_413(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    chunks = (b"\0" * 100_000 for _ in range(10))  # 1 MB without a Content-Length
    connection.request("POST", "/detect", body=chunks, headers={"Content-Type": "image/jpeg"},
                       encode_chunked=True)  # fmt: skip
    response = connection.getresponse()
    status, body = response.status, json.loads(response.read())
    connection.close()
    assert (status, body["permanent"]) == (413, True)


def test_a_chunked_image_is_detected(server):
    data = (UNKNOWN / "obama_small.jpg").read_bytes()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    parts = (data[i : i + 4096] for i in range(0, len(data), 4096))
    connection.request("POST", "/detect", body=parts, headers={"Content-Type": "image/jpeg"},
                       encode_chunked=True)  # fmt: skip
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 200 and without_time(answer) == bare(UNKNOWN / "obama_small.jpg")


def test_unknown_endpoints_and_methods(server):
    status, _, body = server.request("GET", "/nothing")
    assert status == 404 and json.loads(body)["permanent"] is True
    status, headers, _ = server.request("GET", "/detect")
    assert status == 405 and headers["Allow"] == "POST"
    status, headers, _ = server.request(
        "POST", "/healthz", b"{}", {"Content-Type": "application/json"}
    )
    assert status == 405 and headers["Allow"] == "GET"


# -- metrics and logs ------------------------------------------------------------------------


def test_metrics_count_requests_detections_and_faces(server):
    before = server.metrics()
    assert server.detect_json({"volume": "photos", "path": "people/obama_small.jpg"})[0] == 200
    assert server.detect_json({"volume": "photos", "path": "notes.txt"})[0] == 422
    after = server.metrics()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("faces_serve_requests_total", endpoint="/detect", outcome="ok") == 1
    assert delta("faces_serve_requests_total", endpoint="/detect", outcome="invalid") == 1
    assert delta("faces_serve_detect_seconds_count") == 1
    assert delta("faces_serve_detect_seconds_sum") > 0
    assert delta("faces_serve_faces_total") == 1
    assert delta("faces_serve_images_total") == 1
    assert after[("faces_serve_ready", ())] == 1
    assert after[("faces_serve_requests_total", (("endpoint", "/healthz"), ("outcome", "ok")))] >= 1


def test_failures_are_a_line_each_and_answers_a_summary_without_image_data(server):
    """stderr: a failed request is one line at once (method, path, status, seconds); answered
    ones are summed up every --log-every seconds. Nothing of the image, not the query string."""
    server.detect_bytes((KNOWN / "hannibal_1.jpg").read_bytes(), "?margin=0.2")
    server.detect_bytes((KNOWN / "hannibal_1.jpg").read_bytes(), "?margin=0.2")
    assert server.detect_json({"volume": "photos", "path": "notes.txt"})[0] == 422

    def log_lines() -> list[str]:
        text = server.stderr.read_text(errors="replace")
        return [
            line for line in text.splitlines()
            if line.startswith("faces-serve: ") and not line.startswith("faces-serve: models")
        ]  # fmt: skip

    def summed(line: str) -> dict[tuple[str, str, str], int]:
        return {(m[2], m[3], m[4]): int(m[1]) for m in SUMMARY_PART.finditer(line)}

    deadline = time.monotonic() + 10
    while not any(summed(line).get(("POST", "/detect", "200")) for line in log_lines()):
        assert time.monotonic() < deadline, log_lines()[-3:]
        time.sleep(0.05)
    lines = log_lines()
    summaries = [line for line in lines if SUMMARY_LINE.match(line)]
    singles = [REQUEST_LINE.match(line) for line in lines if not SUMMARY_LINE.match(line)]
    assert all(singles), lines
    assert ("POST", "/detect", "422") in {m.groups()[:3] for m in singles}
    assert not [m for m in singles if m[3] == "200"]  # answers are only in summaries
    # Both answered detections in summaries (one window or two), none of the 422s.
    detected = sum(summed(line).get(("POST", "/detect", "200"), 0) for line in summaries)
    assert detected >= 2 and all(("POST", "/detect", "422") not in summed(x) for x in summaries)
    assert "\ufffd" not in server.stderr.read_text(errors="replace")  # no binary in the log
    assert "margin" not in "\n".join(lines) and "hannibal" not in "\n".join(lines)


def test_the_request_log_sums_up_a_window_or_writes_a_line_per_request():
    from media_pipeline.face_server import RequestLog

    err = io.StringIO()
    summary = RequestLog(EventWriter("faces-serve", io.StringIO(), err), every=60)
    for seconds in (0.5, 0.1, 0.3):
        summary.request("POST", "/detect", "/detect", 200, seconds)
    summary.request("GET", "/healthz?x", "/healthz", 200, 0.001)
    summary.request("POST", "/detect", "/detect", 503, 0.002)
    summary.flush()
    summary.flush()  # an empty window writes nothing
    lines = err.getvalue().splitlines()
    assert lines[0] == "faces-serve: POST /detect 503 0.002s"
    assert SUMMARY_LINE.match(lines[1]) and len(lines) == 2
    assert lines[1].endswith(
        ": 1 GET /healthz 200 (median 0.001s, slowest 0.001s), "
        "3 POST /detect 200 (median 0.300s, slowest 0.500s)"
    )
    err = io.StringIO()
    each = RequestLog(EventWriter("faces-serve", io.StringIO(), err), every=0)
    each.request("POST", "/detect", "/detect", 200, 0.25)
    assert err.getvalue() == "faces-serve: POST /detect 200 0.250s\n"


# -- the process --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--volume", "photos"], ["--volume", "=/tmp"], ["--volume", "a=/x", "--volume", "a=/y"],
     ["--max-bytes", "0"], ["--log-every", "-1"], ["--log-every", "nan"]],
)  # fmt: skip
def test_bad_options_are_usage_errors(args, capsys):
    from media_pipeline.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["faces-serve", *args])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and args[0] in captured.err


def test_sigterm_stops_the_server_with_a_done_event(server):
    """Last in this module: it stops the shared server the way Kubernetes stops a pod."""
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0, server.stderr.read_text()[-2000:]
    done = wait_for_event(server.stdout, server.process, "done", timeout=1)
    # Every detection this module made, and no error event on the way.
    assert done["images"] > 10 and done["faces"] >= done["images"] - 3 and done["errors"] == 0
