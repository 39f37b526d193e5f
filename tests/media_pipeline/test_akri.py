"""Akri brokers: `akri-broker` serves Akri's camera.proto, `stream --source akri://` reads it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import pytest

from media_pipeline.akri import AkriBrokerSource
from media_pipeline.sources import SourceError, open_source

from .conftest import DATA, ROOT
from .test_stream_server import free_port, get, stream_server

PROTO_DIR = ROOT / "media_pipeline" / "akri_proto"
# sha256 of samples/brokers/udev-video-broker/proto/camera.proto at Akri commit 22e71f7b.
AKRI_PROTO_SHA256 = "14858d978b32707d9913d4e1be4952f4b5caccd5d799df3d2e210f185764abb4"


@contextmanager
def akri_broker(*args: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "media_pipeline", "akri-broker", "--host", "127.0.0.1",
         "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        start = json.loads(process.stdout.readline())
        assert start["event"] == "start" and start["port"] == port, start
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_committed_stubs_are_what_grpcio_tools_generates_from_akris_proto(tmp_path):
    """camera.proto is Akri's, byte for byte; the stubs come from it with the pinned tools."""
    from grpc_tools import protoc

    proto = (PROTO_DIR / "camera.proto").read_bytes()
    assert hashlib.sha256(proto).hexdigest() == AKRI_PROTO_SHA256
    target = tmp_path / "media_pipeline" / "akri_proto"
    target.mkdir(parents=True)
    shutil.copy(PROTO_DIR / "camera.proto", target)
    code = protoc.main([
        "protoc", f"-I{tmp_path}", f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}",
        str(target / "camera.proto"),
    ])  # fmt: skip
    assert code == 0
    for name in ("camera_pb2.py", "camera_pb2_grpc.py"):
        assert (target / name).read_text() == (PROTO_DIR / name).read_text(), name


@pytest.mark.live
def test_a_broker_serves_new_frames_of_its_source_over_camera_proto():
    """Each GetFrame is a 1280x720 JPEG named after the camera; a caller polling as fast as the
    broker answers gets the source's rate, not the same frame over and over."""
    with akri_broker("--source", "test:ball?width=1280&height=720", "--fps", "20",
                     "--camera", "bay-1") as address:  # fmt: skip
        source = open_source(f"akri://{address}")
        try:
            assert isinstance(source, AkriBrokerSource)
            started = time.monotonic()
            jpegs = [source.read_jpeg() for _ in range(10)]
            took = time.monotonic() - started
            frame = source.read()
        finally:
            source.close()
    assert all(j[:2] == b"\xff\xd8" and j[-2:] == b"\xff\xd9" for j in jpegs)
    assert len(set(jpegs)) == 10  # the ball moves: ten different frames
    assert 0.3 < took < 2.0  # about 20 fps
    assert frame.shape == (720, 1280, 3) and source.camera == "bay-1"


@pytest.mark.live
def test_a_stream_reads_an_akri_broker_with_and_without_overlays():
    """Without processing the broker's JPEGs pass through untouched; with lanes the overlay is
    drawn on the broker's frames like on any other source."""
    clip = DATA / "lanes" / "solidWhiteRight_first30.mp4"
    with akri_broker("--source", f"file:{clip}", "--fps", "30") as address:
        with stream_server("--source", f"akri://{address}", "--fps", "0") as (plain, _):
            status, kind, body = get(plain + "/snapshot.jpg")
            assert status == 200 and kind == "image/jpeg"
            assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (
                540,
                960,
                3,
            )
        with stream_server(
            "--source", f"akri://{address}", "--process", "lanes", "--width", "640"
        ) as (lanes, _):
            time.sleep(0.5)
            snapshot = cv2.imdecode(
                np.frombuffer(get(lanes + "/snapshot.jpg")[2], np.uint8), cv2.IMREAD_COLOR
            )
    assert snapshot.shape == (360, 640, 3)
    b, g, r = cv2.split(snapshot.astype(int))
    assert np.count_nonzero((r > 180) & (g < 80) & (b < 80)) > 500  # the red lane overlay


def test_bad_akri_sources_are_refused_with_the_reason(pipeline):
    for bad in ("akri://no-port", "akri://host:99999", "akri://:80"):
        with pytest.raises(SourceError, match="akri://HOST:PORT"):
            open_source(bad)
    with pytest.raises(SourceError, match="no Akri broker answers"):
        AkriBrokerSource(f"127.0.0.1:{free_port()}", timeout=0.5)
    run = pipeline("akri-broker", "--source", "test:nothing", "--port", "0")
    assert run.returncode == 1 and run.of("error")[0]["file"] == "test:nothing"
